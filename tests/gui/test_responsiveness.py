"""With a backend whose every call takes seconds, the GUI thread keeps running and shows it is busy.

The limit on a stall is far above what a loaded machine's scheduling costs (up to ~150 ms seen
with both cores busy) and far below the backend's delay, which is what a call waited for on the
GUI thread would cost: a busy machine cannot fail the test, a blocked GUI cannot pass it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QTimer
from pytestqt.qtbot import QtBot
from tnm_desktop.composition.gui import choose_startup
from tnm_desktop.gui.shell.controller import AppController
from tnm_desktop.gui.shell.mainwindow import MainWindow
from tnm_desktop.gui.shell.navigation import import_views
from tnm_desktop.gui.shell.session import GuiSession
from tnm_desktop.gui.widgets.bridge import MessageBridge
from tnm_desktop.profiles import ConnectionProfile, ProfileKind, ProfileStore
from tnm_desktop.services import Services

from tests.gui.conftest import close_at_test_end, local_adapter, local_profile
from tests.gui.ports import SlowPort
from tests.gui.seed import seed_broker, seed_signals, seed_strategy
from tests.pg import Db, User
from tests.waiting import eventually

BACKEND_DELAY_S = 4.0
MAX_STALL_S = 1.5  # 10× the worst scheduling noise seen under load; under half the backend's delay


class StallMeter:
    """A timer firing every 5 ms on the GUI thread; the largest gap between firings is the worst stall."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._on_timer_timeout)
        self.largest = 0.0
        self.ticks = 0
        self._last = 0.0

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        self._on_timer_timeout()  # the gap up to now counts too: the timer must have run throughout

    def _on_timer_timeout(self) -> None:
        now = time.perf_counter()
        self.largest = max(self.largest, now - self._last)
        self._last = now
        self.ticks += 1


async def test_the_main_window_over_a_slow_backend(request: pytest.FixtureRequest, qtbot: QtBot, db: Db, user: User,
                                                   tmp_path: Path, gui_settings: QSettings,
                                                   crashes: list[str]) -> None:
    seed_signals(db, user, seed_strategy(db, user, "Trend", seed_broker(db, user)), 300)
    import_views()  # as the app does in a worker thread while the user signs in
    data = local_adapter(db)
    await data.sign_in(user.email, user.password)
    slow = SlowPort(data, delay=BACKEND_DELAY_S)
    bridge = MessageBridge()
    bridge.crashed.connect(crashes.append)
    meter = StallMeter()
    meter.start()

    session = GuiSession(Services(local_profile(tmp_path / "ws"), slow), bridge, gui_settings)
    close_at_test_end(request.node, session.close)
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.show()
    live = session.start_live()  # the subscription too waits
    # The window builds one page per event-loop turn; wait for them rather than forcing them at once.
    await eventually(lambda: {"strategies", "signals", "settings"} <= window.views.keys(), what="the pages built")
    strategies, signals, settings = window.views["strategies"], window.views["signals"], window.views["settings"]
    await eventually(lambda: len(slow.calls) >= 5, what="the first loads under way")
    # While the answers take their time, each view says it is working.
    assert strategies.busy.busy and strategies.busy.label.text() == "Loading…"  # type: ignore[attr-defined]
    assert signals.busy.busy and signals.busy.label.text() == "Loading signals…"  # type: ignore[attr-defined]
    assert settings.risk_busy.busy  # type: ignore[attr-defined]
    await live
    await eventually(lambda: strategies.model.rowCount() == 1 and signals.model.rowCount() == 300  # type: ignore[attr-defined]
                     and not strategies.busy.busy and not signals.busy.busy  # type: ignore[attr-defined]
                     and not settings.risk_busy.busy, within=60, what="everything loaded")  # type: ignore[attr-defined]

    # Scrolling to the end asks for the next page, which also takes its time.
    signals.table.scrollToBottom()  # type: ignore[attr-defined]
    await eventually(lambda: signals.busy.busy, what="the next page requested")  # type: ignore[attr-defined]
    await eventually(lambda: not signals.busy.busy, within=30, what="the next page")  # type: ignore[attr-defined]
    meter.stop()
    assert meter.ticks > 10
    assert meter.largest < MAX_STALL_S, f"the GUI thread stalled for {meter.largest * 1000:.0f} ms"


async def test_signing_in_over_a_slow_backend(request: pytest.FixtureRequest, db: Db, user: User, tmp_path: Path,
                                              gui_settings: QSettings, crashes: list[str]) -> None:
    store = ProfileStore(tmp_path / "profiles.json")
    store.upsert(ConnectionProfile.new("Far away", ProfileKind.LOCAL, workspace_dir=str(tmp_path / "ws")),
                 make_default=True)

    async def open_services(profile: ConnectionProfile) -> Services:
        return Services(profile, SlowPort(local_adapter(db, profile.session_key), delay=BACKEND_DELAY_S))

    bridge = MessageBridge()
    bridge.crashed.connect(crashes.append)
    meter = StallMeter()
    meter.start()
    controller = AppController(bridge, gui_settings, store, choose_startup, open_services)
    close_at_test_end(request.node, controller.shutdown)
    controller.start()
    window = controller.signin
    await eventually(lambda: window.busy.busy and window.busy.label.text() == "Restoring your session…",
                     what="restoring")
    await eventually(lambda: window.sign_in_button.isEnabled(), within=30, what="ready")
    window.email.setText(user.email)
    window.password.setText(user.password)
    window.sign_in_button.click()
    assert window.busy.busy and window.busy.label.text() == "Signing in…" and not window.sign_in_button.isEnabled()
    await eventually(lambda: isinstance(controller.window, MainWindow), within=60, what="the main window")
    meter.stop()
    assert controller.window is not None
    controller.window.close()
    window.close()
    assert meter.largest < MAX_STALL_S, f"the GUI thread stalled for {meter.largest * 1000:.0f} ms"
