"""A fake Supabase Realtime: the websocket side of ``postgres_changes``, fed by the test database.

It speaks the Phoenix channel protocol (serializer 1.0.0, JSON objects) the installed ``realtime``
client speaks: ``phx_join`` with the ``postgres_changes`` bindings and the access token, answered
by ``phx_reply`` with a server id per binding and a ``system`` "Subscribed" message; heartbeats;
``access_token`` updates; ``phx_leave`` answered by ``phx_close``. Changes come from the schema's
own NOTIFY triggers: each joined channel LISTENs on its user's channel (``tnm_<uid>``) and re-reads
the row as that user (role ``authenticated`` with the token's claims), so RLS decides, as in
Realtime. A token that expires ends the channel (``system`` error, then ``phx_close``), as in
Realtime; the client must keep it current.

For the reconnect tests the server can drop every socket at once and refuse new ones for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg import sql
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.fakes.pgrst_syntax import RequestError, condition_sql, parse_condition
from tests.fakes.tokens import Signer, TokenRejected
from tests.pg import Db


@dataclass
class _Binding:
    id: int
    spec: dict[str, Any]  # as the client sent it (echoed back verbatim)
    table: str
    event: str
    filters: list[Any]


@dataclass(eq=False)
class _Channel:
    topic: str
    join_ref: str | None
    token: str
    claims: dict[str, Any]
    bindings: list[_Binding]
    listener: asyncio.Task[None] | None = None


@dataclass(eq=False)
class _Socket:
    connection: ServerConnection
    channels: dict[str, _Channel] = field(default_factory=dict)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, event: str, topic: str, payload: dict[str, Any], ref: str | None = None,
                   join_ref: str | None = None) -> None:
        message = {"event": event, "topic": topic, "payload": payload, "ref": ref, "join_ref": join_ref}
        async with self.send_lock:
            with contextlib.suppress(ConnectionClosed):
                await self.connection.send(json.dumps(message))


class FakeRealtime:
    """Realtime's websocket endpoint on 127.0.0.1, over one test database.

    Args:
        db: The test database.
        signer: Verifies the access tokens.
    """

    def __init__(self, db: Db, signer: Signer) -> None:
        self._listen_url = db.url
        self._read_url = db.cluster.conninfo(user="authenticator", dbname=db.name)
        self._signer = signer
        self._server: Server | None = None
        self._sockets: set[_Socket] = set()
        self._columns: dict[str, dict[str, str]] = {}
        self.accepting = True
        self.received: list[dict[str, Any]] = []
        self.port = 0

    @property
    def url(self) -> str:
        """The project URL to give the adapter (the client derives ``ws://…/realtime/v1``)."""
        return f"http://127.0.0.1:{self.port}"

    def messages(self, event: str) -> list[dict[str, Any]]:
        """The client messages of one event received so far."""
        return [m for m in self.received if m.get("event") == event]

    async def start(self) -> None:
        """Listen on a free port."""
        async with await psycopg.AsyncConnection.connect(self._read_url, autocommit=True) as conn:
            rows = await (await conn.execute(
                "select a.attrelid::regclass::text, a.attname, t.typname from pg_attribute a "
                "join pg_type t on t.oid = a.atttypid join pg_publication_tables p "
                "on p.pubname = 'supabase_realtime' and p.schemaname = 'public' "
                "and format('public.%I', p.tablename)::regclass = a.attrelid "
                "where a.attnum > 0 and not a.attisdropped order by a.attrelid, a.attnum")).fetchall()
        for table, column, kind in rows:
            self._columns.setdefault(table, {})[column] = kind
        self._server = await serve(self._serve, "127.0.0.1", 0, process_request=self._check_request)
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        """Close every socket and stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for socket in list(self._sockets):
            await self._end_socket(socket)

    async def drop_all(self) -> None:
        """Cut every socket without a close frame, as a network drop does."""
        for socket in list(self._sockets):
            transport = socket.connection.transport
            transport.abort()

    def refuse(self) -> None:
        """Answer new connections with 503 until :meth:`accept`."""
        self.accepting = False

    def accept(self) -> None:
        """Take new connections again."""
        self.accepting = True

    # The socket ---------------------------------------------------------------------------------

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if not self.accepting:
            return connection.respond(503, "Service Unavailable\n")
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        if url.path != "/realtime/v1/websocket":
            return connection.respond(404, "Not Found\n")
        if query.get("vsn") != ["1.0.0"]:
            return connection.respond(400, "Unsupported serializer version\n")
        if self._signer.api_key_role((query.get("apikey") or [""])[0]) is None:
            return connection.respond(401, "Invalid API key\n")
        return None

    async def _serve(self, connection: ServerConnection) -> None:
        socket = _Socket(connection)
        self._sockets.add(socket)
        try:
            async for raw in connection:
                message = json.loads(raw)
                self.received.append(message)
                await self._dispatch(socket, message)
        except ConnectionClosed:
            pass
        finally:
            await self._end_socket(socket)

    async def _end_socket(self, socket: _Socket) -> None:
        self._sockets.discard(socket)
        for channel in list(socket.channels.values()):
            await self._end_channel(socket, channel)

    async def _dispatch(self, socket: _Socket, message: dict[str, Any]) -> None:
        event, topic, ref = message.get("event"), str(message.get("topic")), message.get("ref")
        payload = message.get("payload") or {}
        if event == "heartbeat" and topic == "phoenix":
            await socket.send("phx_reply", "phoenix", {"status": "ok", "response": {}}, ref)
        elif event == "phx_join":
            await self._join(socket, topic, payload, ref, message.get("join_ref"))
        elif event == "access_token":
            await self._new_token(socket, topic, str(payload.get("access_token") or ""))
        elif event == "phx_leave":
            channel = socket.channels.get(topic)
            await socket.send("phx_reply", topic, {"status": "ok", "response": {}}, ref,
                              channel.join_ref if channel else None)
            if channel is not None:
                await self._end_channel(socket, channel, close=True)

    async def _join(self, socket: _Socket, topic: str, payload: dict[str, Any], ref: Any, join_ref: Any) -> None:
        token = str(payload.get("access_token") or self._signer.anon_key)
        try:
            claims = self._signer.verify(token)
        except TokenRejected as exc:
            reason = "Token has expired" if exc.expired else "Invalid JWT Token"
            await socket.send("phx_reply", topic, {"status": "error", "response": {"reason": reason}}, ref, join_ref)
            return
        config = payload.get("config") or {}
        bindings = []
        try:
            for spec in config.get("postgres_changes") or []:
                bindings.append(self._binding(spec))
        except (RequestError, ValueError) as exc:
            await socket.send("phx_reply", topic, {"status": "error", "response": {
                "reason": f"Invalid postgres_changes binding: {exc}"}}, ref, join_ref)
            return
        old = socket.channels.get(topic)
        if old is not None:
            await self._end_channel(socket, old)
        channel = _Channel(topic, join_ref, token, claims, bindings)
        socket.channels[topic] = channel
        await socket.send("phx_reply", topic, {"status": "ok", "response": {
            "postgres_changes": [{**b.spec, "id": b.id} for b in bindings]}}, ref, join_ref)
        if bindings:
            # As Realtime: "Subscribed to PostgreSQL" follows once changes can actually flow.
            channel.listener = asyncio.get_running_loop().create_task(self._listen(socket, channel))

    def _binding(self, spec: dict[str, Any]) -> _Binding:
        table, event = str(spec.get("table")), str(spec.get("event"))
        if spec.get("schema") != "public" or table not in self._columns:
            raise ValueError(f"{spec.get('schema')}.{table} is not in the supabase_realtime publication")
        if event not in ("*", "INSERT", "UPDATE", "DELETE"):
            raise ValueError(f"unknown event {event}")
        filters = []
        for part in filter(None, str(spec.get("filter") or "").split(",")):
            column, eq, expression = part.partition("=")
            if not eq:
                raise ValueError(f"cannot parse filter {part!r}")
            filters.append(parse_condition(column, expression))
        return _Binding(random.randrange(1, 2**26), spec, table, event, filters)

    async def _new_token(self, socket: _Socket, topic: str, token: str) -> None:
        channel = socket.channels.get(topic)
        if channel is None:
            return
        try:
            channel.claims = self._signer.verify(token)
        except TokenRejected as exc:
            await self._refuse_token(socket, channel, str(exc))
            return
        channel.token = token

    async def _refuse_token(self, socket: _Socket, channel: _Channel, why: str) -> None:
        await socket.send("system", channel.topic, {"channel": channel.topic.removeprefix("realtime:"),
                                                    "extension": "system", "status": "error",
                                                    "message": f"Token has expired or is invalid: {why}"})
        await self._end_channel(socket, channel, close=True)

    async def _end_channel(self, socket: _Socket, channel: _Channel, *, close: bool = False) -> None:
        if socket.channels.get(channel.topic) is channel:
            del socket.channels[channel.topic]
        if close:
            await socket.send("phx_close", channel.topic, {}, channel.join_ref, channel.join_ref)
        task, channel.listener = channel.listener, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # Changes ------------------------------------------------------------------------------------

    async def _listen(self, socket: _Socket, channel: _Channel) -> None:
        # Anonymous subscribers see no rows under this schema's RLS: they listen to nothing.
        name = "tnm_" + str(channel.claims.get("sub", "anonymous")).replace("-", "")
        async with await psycopg.AsyncConnection.connect(self._listen_url, autocommit=True) as conn:
            await conn.execute(sql.SQL("listen {}").format(sql.Identifier(name)))
            await socket.send("system", channel.topic, {"channel": channel.topic.removeprefix("realtime:"),
                                                        "extension": "postgres_changes", "status": "ok",
                                                        "message": "Subscribed to PostgreSQL"})
            async for note in conn.notifies():
                change = json.loads(note.payload)
                await self._deliver(socket, channel, str(change["table"]), str(change["op"]).upper(),
                                    str(change["id"]))

    async def _deliver(self, socket: _Socket, channel: _Channel, table: str, op: str, row_id: str) -> None:
        wanted = [b for b in channel.bindings if b.table == table and b.event in ("*", op)]
        if not wanted:
            return
        try:
            self._signer.verify(channel.token)
        except TokenRejected as exc:  # Realtime checks the token it was last given, and ends the channel
            await self._refuse_token(socket, channel, str(exc))
            return
        matched, record = [], None
        for binding in wanted:
            found = await self._read(channel.claims, table, row_id, binding.filters)
            if found is not None:
                matched.append(binding.id)
                record = found
        if not matched:
            return
        data = {"schema": "public", "table": table, "type": op, "errors": None,
                "commit_timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "columns": [{"name": n, "type": t} for n, t in self._columns[table].items()], "record": record}
        if op == "UPDATE":
            data["old_record"] = {"id": row_id}
        await socket.send("postgres_changes", channel.topic, {"data": data, "ids": matched})

    async def _read(self, claims: dict[str, Any], table: str, row_id: str, filters: list[Any]) -> Any:
        params: list[Any] = [row_id]
        conditions = [sql.SQL("_t.id = %s")] + [condition_sql(table, self._columns[table], f, "_t", params)
                                                 for f in filters]
        query = sql.SQL("select to_jsonb(_t)::text from public.{} as _t where {}").format(
            sql.Identifier(table), sql.SQL(" and ").join(conditions))
        role = str(claims.get("role"))
        async with await psycopg.AsyncConnection.connect(self._read_url, autocommit=True) as conn, conn.transaction():
            await conn.execute("set transaction read only")
            await conn.execute("select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                               (role, json.dumps(claims)))
            row = await (await conn.execute(query, params)).fetchone()
        return json.loads(row[0]) if row else None
