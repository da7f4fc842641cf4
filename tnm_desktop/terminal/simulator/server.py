"""The simulator as a process of its own: a loopback TCP server in front of one engine.

It outlives its clients the way a terminal outlives the scripts that drive it: state lives in
the state file, each change committed to disk before its caller hears of it, so killing a
client or the server (even with SIGKILL) loses nothing, and restarting the server on the same
file resumes the same account, positions and history. Only named methods are dispatched — the
MT5 functions and the control API — never arbitrary code, and every request must carry the
token recorded in the state file (owner-only).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import signal
import socketserver
import threading
from pathlib import Path
from typing import Any

from tnm_desktop.errors import OperationalError
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator import wire
from tnm_desktop.terminal.simulator.api import SimulatedMt5
from tnm_desktop.terminal.simulator.book_store import BookStore
from tnm_desktop.terminal.simulator.catalog import AccountSpec
from tnm_desktop.terminal.simulator.control import CONTROL_METHODS, LocalControl
from tnm_desktop.terminal.simulator.engine import Engine, wall_ms
from tnm_desktop.terminal.simulator.model import SimState, new_state
from tnm_desktop.terminal.simulator.store import HOST, Endpoint, StateFile

log = logging.getLogger(__name__)

MT5_METHODS = frozenset(mt5.FUNCTIONS) - {"last_error"}
_CONTROL = frozenset(CONTROL_METHODS)


class _Handler(socketserver.StreamRequestHandler):
    """One client connection: its own MT5 session over the shared engine."""

    server: _Server
    # Replies go out at once: with Nagle's algorithm a reply written right after another waits for
    # the client's delayed acknowledgement (~40 ms) when a client asks for several at once.
    disable_nagle_algorithm = True

    def handle(self) -> None:
        session = SimulatedMt5(self.server.engine)
        while True:
            line = self.rfile.readline(wire.MAX_LINE + 1)
            if not line or len(line) > wire.MAX_LINE:
                return
            reply, keep_going = self.server.dispatch(session, line)
            try:
                self.wfile.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
                self.wfile.flush()
            except OSError:
                return  # the client went away; whatever it asked for is already on disk
            if not keep_going:
                return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = os.name == "posix"  # on Windows it would let a second server steal the port

    def __init__(self, port: int, engine: Engine, token: str) -> None:
        super().__init__((HOST, port), _Handler)
        self.engine = engine
        self.control = LocalControl(engine)
        self.token = token

    def dispatch(self, session: SimulatedMt5, line: bytes) -> tuple[dict[str, Any], bool]:
        """Answer one request line; the flag says whether to keep the connection."""
        try:
            request = json.loads(line)
            ident = request.get("id")
            token = request.get("token")
        except (ValueError, AttributeError):
            return {"id": None, "fail": {"type": "ValueError", "message": "malformed request"}}, False
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self.token.encode()):
            return {"id": ident, "fail": {"type": "PermissionError", "message": "wrong access token"}}, False
        target, method = request.get("target"), request.get("method")
        allowed = MT5_METHODS if target == "mt5" else _CONTROL if target == "control" else frozenset()
        if method not in allowed:
            return {"id": ident, "fail": {"type": "AttributeError", "message": f"no such method: {method!r}"}}, True
        try:
            args = [wire.decode(a) for a in request.get("args", [])]
            kwargs = {str(k): wire.decode(v) for k, v in request.get("kwargs", {}).items()}
            handler = getattr(session if target == "mt5" else self.control, method)
            value = handler(*args, **kwargs)
            reply: dict[str, Any] = {"id": ident, "value": wire.encode(value)}
        except (TypeError, ValueError, KeyError) as exc:
            return {"id": ident, "fail": {"type": type(exc).__name__, "message": str(exc)}}, True
        if target == "mt5":
            reply["last_error"] = list(session.last_error())
        return reply, True


class SimulatorServer:
    """A simulator serving one state file on 127.0.0.1.

    Args:
        state_file: Where the books live; created with a fresh demo account if missing.
        port: TCP port on 127.0.0.1 (0: any free port).
        manual_clock: For a new file: freeze the clock (it moves only by ``advance_time``).
        seed: For a new file: the price feed's seed.
        server_offset_s: For a new file: the trade server's offset from UTC in seconds.
    """

    def __init__(self, state_file: Path | str, *, port: int = 0, manual_clock: bool = False, seed: int | None = None,
                 server_offset_s: int | None = None) -> None:
        self.file = StateFile(state_file)
        self._port = port
        self._manual_clock = manual_clock
        self._seed = seed
        self._server_offset_s = server_offset_s
        self._server: _Server | None = None
        self._store: BookStore | None = None
        self._thread: threading.Thread | None = None

    def _fresh(self) -> SimState:
        account = AccountSpec() if self._server_offset_s is None else AccountSpec(server_offset_s=self._server_offset_s)
        fresh = new_state(now_ms=wall_ms(), account=account, manual_clock=self._manual_clock)
        if self._seed is not None:
            fresh.seed = self._seed
        return fresh

    def start(self) -> Endpoint:
        """Load (or create) the books, listen, and record the endpoint in the state file."""
        store, state = self.file.open(self._fresh)
        token = secrets.token_urlsafe(32)
        engine = Engine(state, on_change=store.save)
        try:
            self._server = _Server(self._port, engine, token)
        except OSError as exc:
            store.close()
            raise OperationalError(f"The simulator cannot listen on {HOST}:{self._port}: {exc.strerror}.",
                                   code="simulator_port") from exc
        self._store = store
        endpoint = Endpoint(HOST, self._server.server_address[1], token, os.getpid())
        store.set_endpoint({"host": endpoint.host, "port": endpoint.port, "token": endpoint.token,
                            "pid": endpoint.pid})
        self._thread = threading.Thread(target=self._server.serve_forever, name="simulator-server", daemon=True)
        self._thread.start()
        log.info("simulator serving %s on %s:%d", self.file.path, HOST, endpoint.port)
        return endpoint

    def stop(self) -> None:
        """Stop listening and forget the endpoint in the file (no server runs any more)."""
        if self._server is None or self._store is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        store = self._store
        self._server.engine.control(lambda _b: store.set_endpoint(None))  # under the engine's lock, then saved
        store.close()
        self._server = self._store = None
        log.info("simulator stopped")


def serve(state_file: Path, *, port: int = 0, manual_clock: bool = False, seed: int | None = None,
          server_offset_s: int | None = None) -> int:
    """Serve ``state_file`` until SIGTERM or SIGINT; print ``listening=HOST:PORT`` once ready."""
    server = SimulatorServer(state_file, port=port, manual_clock=manual_clock, seed=seed,
                             server_offset_s=server_offset_s)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with server.file.serving():
        endpoint = server.start()
        try:
            print(f"listening={endpoint.host}:{endpoint.port}", flush=True)
            while not stop.wait(1.0):  # a timeout keeps signals deliverable on every platform
                pass
        finally:
            server.stop()
    return 0
