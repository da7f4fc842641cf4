"""Helpers for the EA Studio, Accounts and Agent view tests.

An agent's writes go through a LocalAdapter of their own, as the agent thread's adapter does,
calling the real SQL (``claim_next_job``, ``complete_job``, ``record_sync``). ``FakeAgent`` is a
hand-written :class:`~tnm_desktop.agent.events.AgentControl` that records the commands it gets
and emits events from a thread of its own, the way the real agent thread does.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QWidget
from tnm_desktop.agent.events import AgentEvent, AgentListener, StateChanged
from tnm_desktop.data.port import DataPort
from tnm_desktop.domain import AccountSnapshot, AgentCredentials, AgentState, ClaimedJob, SyncReport
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.widgets import theme

from tests.gui.conftest import local_adapter
from tests.pg import Agent, Db
from tests.waiting import eventually

# Screenshots go to the test's own directory; set this to write them elsewhere (docs/screenshots).
SCREENSHOT_DIR_VARIABLE = "TNM_SCREENSHOT_DIR"


async def agent_port(db: Db, agent: Agent) -> tuple[DataPort, AgentCredentials]:
    """A data port signed in as the agent's user, and the agent's credentials."""
    port = local_adapter(db, f"session:agent:{agent.id}")
    await port.sign_in(agent.user.email, agent.user.password)
    return port, AgentCredentials(agent.id, agent.key)


async def claim(port: DataPort, creds: AgentCredentials) -> ClaimedJob:
    """Claim the next job as the agent; fail when there is none."""
    claimed = await port.claim_job(creds)
    assert claimed is not None, "the agent found no job to claim"
    return claimed


async def record_sync(port: DataPort, creds: AgentCredentials, status: str, *, duration_ms: int,
                      error: str | None = None, login: int = 5001, server: str = "Demo-Server",
                      balance: float = 10_000.0, started_at: datetime | None = None) -> str:
    """Record one account sync attempt as the agent does."""
    account = AccountSnapshot(login=login, server=server, broker_name="Demo Broker", currency="USD",
                              balance=balance, equity=balance + 125.5, leverage=100)
    report = SyncReport("scheduled", status, started_at or datetime.now(UTC), duration_ms, account,
                        error_message=error)
    return await port.record_sync(creds, report)


def rgb(colour: QColor) -> tuple[int, int, int]:
    """A colour's red, green and blue."""
    return colour.red(), colour.green(), colour.blue()


@contextmanager
def app_theme(name: theme.Theme) -> Iterator[None]:
    """Use one of the app's themes (Fusion and its palette) while rendering; put things back after."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    style, palette, previous = app.style().name(), app.palette(), theme.current()
    theme.apply(name)
    try:
        yield
    finally:
        theme.apply(previous)
        app.setStyle(style)
        app.setPalette(palette)


async def save_screenshot(widget: QWidget, name: str, tmp_path: Path) -> Path:
    """Render a widget offscreen to PNG (in ``tmp_path`` unless TNM_SCREENSHOT_DIR names a folder).

    The event loop runs briefly first, so layouts asked for by the last changes are done.
    """
    await asyncio.sleep(0.1)
    return _write_png(widget, Path(os.environ.get(SCREENSHOT_DIR_VARIABLE) or tmp_path) / name)


def _write_png(widget: QWidget, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = widget.grab().toImage()
    assert not image.isNull() and image.width() > 100 and image.height() > 100
    assert image.save(str(path)), f"could not write {path}"
    return path


async def settle(ctx: ViewContext, quiet: float = 0.3, within: float = 10.0) -> None:
    """Wait until no task runs and live changes have stopped arriving for ``quiet`` seconds.

    Tests end with this so that closing the session does not cancel a live-update read in the
    middle of a pipelined query (psycopg then finalises the abandoned pipeline after its
    connection closed, which surfaces as an unraisable-exception warning in a later test).
    """
    loop = asyncio.get_running_loop()
    last = [loop.time()]

    def seen(_change: object) -> None:
        last[0] = loop.time()

    hub = ctx.live
    signals = (hub.signal_changed, hub.job_changed, hub.sync_log_added, hub.account_changed, hub.agent_changed)
    for signal in signals:
        signal.connect(seen)
    try:
        await eventually(lambda: ctx.tasks.pending == 0 and loop.time() - last[0] >= quiet, within,
                         what="a quiet moment")
    finally:
        for signal in signals:
            signal.disconnect(seen)


class FakeAgent:
    """An AgentControl that records commands and emits events from its own thread.

    ``emit`` hands events to a background thread that calls the listeners, so they arrive off
    the GUI thread exactly as the real agent's do.
    """

    def __init__(self) -> None:
        self.commands: list[str] = []
        self._state = AgentState.STOPPED
        self._listeners: list[AgentListener] = []
        self._lock = threading.Lock()

    @property
    def state(self) -> AgentState:
        return self._state

    def add_listener(self, listener: AgentListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def _command(self, name: str, state: AgentState | None = None, detail: str = "") -> None:
        self.commands.append(name)
        if state is not None:
            self.emit(StateChanged(state, detail))

    def start(self) -> None:
        self._command("start", AgentState.RUNNING)

    def pause(self) -> None:
        self._command("pause", AgentState.PAUSED, "Paused by the user.")

    def resume(self) -> None:
        self._command("resume", AgentState.RUNNING)

    def stop(self) -> None:
        self._command("stop", AgentState.STOPPED)

    def sync_now(self) -> None:
        self._command("sync_now")

    def emit(self, *events: AgentEvent) -> None:
        """Deliver events from a background thread, in order; return once delivered."""

        def deliver() -> None:
            for event in events:
                if isinstance(event, StateChanged):
                    self._state = event.state
                with self._lock:
                    listeners = list(self._listeners)
                for listener in listeners:
                    listener(event)

        thread = threading.Thread(target=deliver, name="fake-agent")
        thread.start()
        thread.join()

