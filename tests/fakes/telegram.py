"""A local stand-in of the Telegram Bot API's ``sendMessage``, on a loopback port of its own.

It runs on its own thread and event loop, as the real service runs elsewhere: the app, an agent
process or a test reach it over HTTP at :attr:`FakeTelegram.url` (``TNM_TELEGRAM_API``). It
answers as Telegram does — ``{"ok": true, "result": {...}}``, 401 for an unknown token, 400
"chat not found" — and can be told to fail the next requests (502, or 429 with retry_after).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Sent:
    """A message the stand-in accepted."""

    token: str
    chat_id: str
    text: str


@dataclass
class FakeTelegram:
    """The Bot API for the given bots and chats."""

    tokens: set[str] = field(default_factory=lambda: {"123456:TEST-token"})
    chats: set[str] = field(default_factory=lambda: {"4242"})
    sent: list[Sent] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer with, in order
    url: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FakeTelegram:
        """Listen on a free loopback port (returns once it does)."""
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._serve())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=main, name="fake-telegram", daemon=True)
        self._thread.start()
        assert ready.wait(10), "the Telegram stand-in did not start"
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    def texts(self) -> list[str]:
        """The texts received so far."""
        with self._lock:
            return [s.text for s in self.sent]

    def wait_for(self, count: int, within: float = 20.0) -> list[str]:
        """Block until ``count`` messages arrived; return their texts."""
        deadline = time.monotonic() + within
        while len(self.texts()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} Telegram messages not received within {within} s: {self.texts()}")
            time.sleep(0.02)
        return self.texts()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", self._send_message)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _send_message(self, request: web.Request) -> web.Response:
        with self._lock:
            failure = self.fail_next.pop(0) if self.fail_next else None
        if failure == 429:
            return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3",
                                      "parameters": {"retry_after": 3}}, status=429)
        if failure is not None:
            return web.json_response({"ok": False, "error_code": failure, "description": "Bad Gateway"},
                                     status=failure)
        token = request.match_info["token"]
        if token not in self.tokens:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        body: dict[str, Any] = await request.json()
        chat = str(body.get("chat_id"))
        if chat not in self.chats:
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
                                     status=400)
        text = str(body.get("text") or "")
        if not text:
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: message text is "
                                      "empty"}, status=400)
        with self._lock:
            self.sent.append(Sent(token, chat, text))
            message_id = len(self.sent)
        return web.json_response({"ok": True, "result": {"message_id": message_id, "chat": {"id": int(chat)},
                                                         "date": int(time.time()), "text": text}})
