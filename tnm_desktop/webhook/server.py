"""Starting and stopping the receiver: on the current event loop, or on a thread of its own.

The desktop app and the demo use :class:`WebhookReceiver`, which serves on its own thread with
its own event loop, so HTTP never runs on the GUI thread. ``tnm-desktop webhook serve`` uses
:func:`serve_until_stopped`. Either runs on a selector loop (the database pool is psycopg's): the
composition root chooses it, and :class:`WebhookReceiver` makes one by default.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from tnm_desktop.domain.handover import Handover
from tnm_desktop.errors import OperationalError
from tnm_desktop.loops import LoopFactory, selector_loop, stop_on_signals
from tnm_desktop.webhook.app import create_app
from tnm_desktop.webhook.config import ReceiverConfig
from tnm_desktop.webhook.ingest import Ingestor
from tnm_desktop.webhook.logs import ACCESS_LOGGER, RedactingAccessLogger, ServerErrorLog

log = logging.getLogger("tnm_desktop.webhook")


@dataclass(frozen=True, slots=True)
class RunningReceiver:
    """A receiver serving on the event loop that started it."""

    base_url: str
    _runner: web.AppRunner
    _ingestor: Ingestor

    async def close(self) -> None:
        """Stop listening, finish the requests in flight, close the database pool."""
        await self._runner.cleanup()
        await self._ingestor.close()


async def start_receiver(config: ReceiverConfig, handover: Handover | None = None) -> RunningReceiver:
    """Start serving on the running loop; return once the port is bound.

    The database may still be down: requests are then answered 503 until it is reachable.
    ``handover``: where the app's own agent lets alerts claim for it (:mod:`tnm_desktop.domain.handover`).

    Raises:
        OperationalError: The address cannot be bound (for example, the port is in use).
    """
    ingestor = Ingestor(config.database_url, pool_size=config.pool_size, pool_timeout=config.pool_timeout,
                        statement_timeout_ms=config.statement_timeout_ms, direct=config.direct, handover=handover)
    runner = web.AppRunner(create_app(config, ingestor), handle_signals=False,
                           access_log_class=RedactingAccessLogger,
                           access_log=logging.getLogger(ACCESS_LOGGER),
                           # aiohttp's own reports quote raw request lines: one safe line instead.
                           logger=ServerErrorLog(),
                           # Also closes a connection that never sends a request (aiohttp >= 3.14.5).
                           keepalive_timeout=config.idle_timeout,
                           # Requests in flight get this long to finish on stop.
                           shutdown_timeout=5.0,
                           # Drain the rest of an oversized body briefly, then drop the connection.
                           lingering_time=2.0)
    try:
        await runner.setup()
        await web.TCPSite(runner, config.host, config.port).start()
    except BaseException as exc:
        await runner.cleanup()
        await ingestor.close()
        if isinstance(exc, OSError):
            why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
            raise OperationalError(f"The webhook receiver cannot listen: {config.host} port {config.port} {why}.",
                                   code="receiver_port") from exc
        raise
    # Connecting starts once the port is ours: a receiver that cannot listen says only that.
    await ingestor.open()
    host, port = runner.addresses[0][:2]
    shown = f"[{host}]" if ":" in str(host) else str(host)
    running = RunningReceiver(f"http://{shown}:{port}", runner, ingestor)
    log.info("webhook receiver listening on %s", running.base_url)
    return running


async def serve_until_stopped(config: ReceiverConfig, on_ready: Callable[[str], None] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; call ``on_ready`` with the base URL once listening."""
    stop = asyncio.Event()
    restore = stop_on_signals(asyncio.get_running_loop(), stop.set)
    try:
        running = await start_receiver(config)
        try:
            if on_ready is not None:
                on_ready(running.base_url)
            await stop.wait()
            log.info("webhook receiver stopping")
        finally:
            await running.close()
    finally:
        restore()
    return 0


class WebhookReceiver:
    """The receiver on a thread of its own, with its own event loop.

    Example::

        receiver = WebhookReceiver(ReceiverConfig(database_url=connections.ingest, port=8787, direct=True))
        base_url = receiver.start()   # blocks until listening (call it off the GUI thread)
        ...
        receiver.stop()

    Args:
        config: Where to listen and which database to call.
        loop_factory: Makes the thread's event loop (a selector loop: psycopg needs one).
        handover: Where the app's own agent lets alerts claim for it (:mod:`tnm_desktop.domain.handover`).
    """

    def __init__(self, config: ReceiverConfig, *, loop_factory: LoopFactory = selector_loop,
                 handover: Handover | None = None) -> None:
        self._config = config
        self._handover = handover
        self._loop_factory = loop_factory
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._base_url: str | None = None

    @property
    def base_url(self) -> str | None:
        """``http://host:port`` while running, else None."""
        return self._base_url

    @property
    def running(self) -> bool:
        """Whether the receiver's thread is serving."""
        return self._thread is not None and self._thread.is_alive() and self._base_url is not None

    def start(self, timeout: float = 15.0) -> str:
        """Start serving; return the base URL once the port is bound.

        Raises:
            OperationalError: It could not start (port in use, or it took longer than ``timeout``).
        """
        if self._thread is not None:
            raise RuntimeError("the webhook receiver is already started")
        self._thread = threading.Thread(target=self._run, name="webhook-receiver", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise OperationalError("The webhook receiver did not start in time.", code="receiver_start")
        if self._error is not None:
            self._thread.join(timeout)
            self._thread = None
            if isinstance(self._error, OperationalError):
                raise self._error
            raise OperationalError(f"The webhook receiver could not start: {self._error}",
                                   code="receiver_start") from self._error
        assert self._base_url is not None
        return self._base_url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end (a no-op when not running)."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop closed between the check and the call
                pass
        thread.join(timeout)
        if thread.is_alive():
            raise OperationalError("The webhook receiver did not stop in time.", code="receiver_stop")
        self._thread = None
        self._base_url = None

    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = self._loop_factory()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            running = await start_receiver(self._config, self._handover)
        except BaseException as exc:  # reported to start()'s caller on its thread
            self._error = exc
            self._ready.set()
            return
        self._base_url = running.base_url
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await running.close()
