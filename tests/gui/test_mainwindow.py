"""The main window: navigation, status bar, offline banner, notifications, remembered layout."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot
from tnm_desktop.agent.events import TerminalSeen
from tnm_desktop.data.port import DataPort, LiveState
from tnm_desktop.domain import AgentState
from tnm_desktop.domain.trade import stale_reason
from tnm_desktop.gui.shell.mainwindow import MainWindow
from tnm_desktop.gui.shell.session import GuiSession
from tnm_desktop.gui.widgets.bridge import MessageBridge
from tnm_desktop.services import Services

from tests.data.helpers import insert_signal
from tests.gui.conftest import close_at_test_end, local_adapter, local_profile
from tests.gui.ports import FlakyPort
from tests.gui.seed import seed_broker, seed_strategy
from tests.pg import Db, User
from tests.waiting import eventually

OpenWindow = Callable[..., Awaitable[MainWindow]]


@pytest.fixture
def open_window(request: pytest.FixtureRequest, qtbot: QtBot, db: Db, tmp_path: Path, gui_settings: QSettings,
                crashes: list[str]) -> OpenWindow:
    """Open a main window signed in as a user, as the controller does after sign-in."""

    async def open_(user: User, *, wrap: Callable[[DataPort], DataPort] | None = None,
                    settings: QSettings | None = None) -> MainWindow:
        data = local_adapter(db, f"session:{user.email}")
        await data.sign_in(user.email, user.password)
        bridge = MessageBridge()
        bridge.crashed.connect(crashes.append)
        session = GuiSession(Services(local_profile(tmp_path / "ws"), wrap(data) if wrap else data), bridge,
                             settings or gui_settings)
        close_at_test_end(request.node, session.close)
        await session.start_live()
        window = MainWindow(session)
        qtbot.addWidget(window)
        window.show()
        await eventually(lambda: session.ctx.live.state is LiveState.LIVE, what="live updates")
        await eventually(lambda: not window.building, what="every page built")
        return window

    return open_


async def test_pages_and_the_status_bar(open_window: OpenWindow, db: Db, user: User) -> None:
    agent = db.create_agent(user, "Desk PC")
    db.admin.execute("insert into trading_accounts (user_id, login, server, balance, currency, last_sync_at) "
                     "values (%s, 5001, 'Demo-Server', 10000, 'USD', now())", (user.id,))
    window = await open_window(user)
    titles = [window.nav.item(i).text() for i in range(window.nav.count())]
    assert titles == ["Strategies", "Signals", "Positions & History", "EA Studio", "Accounts & Sync", "Agent", "Settings"]
    assert window.stack.currentWidget() is window.views["strategies"]
    assert window.show_page("signals") is window.stack.currentWidget()

    status = window.status
    assert "Live" in status.connection.text()
    await eventually(lambda: status.account.text() == "5001 · Demo-Server · 10,000.00 USD", what="the account")
    await eventually(lambda: "Agent: no heartbeat yet" in status.heartbeat.text(), what="a paired, silent agent")
    # A heartbeat written by the agent (2 s ago) arrives live, and the age keeps counting.
    db.admin.execute("update mt5_agents set status = 'running', last_heartbeat_at = now() - interval '2 seconds' "
                     "where id = %s", (agent.id,))
    # A loaded machine may show the first age late or skip a tick of the label's clock: read the age shown,
    # then see it grow.
    await eventually(lambda: _age(status.heartbeat.text()) is not None, what="the heartbeat")
    first = _age(status.heartbeat.text())
    assert first is not None and first >= 2, status.heartbeat.text()
    await eventually(lambda: (_age(status.heartbeat.text()) or 0) > first, what="a second later")


def _age(text: str) -> int | None:
    """The heartbeat's age in seconds as the status bar shows it ("Agent: alive 3 s ago"), if shown."""
    found = re.search(r"Agent: alive (\d+) s ago", text)
    return int(found.group(1)) if found else None


async def test_the_offline_banner_comes_and_goes_with_the_backend(open_window: OpenWindow, user: User) -> None:
    flaky: list[FlakyPort] = []

    def wrap(port: DataPort) -> DataPort:
        flaky.append(FlakyPort(port))
        return flaky[0]

    window = await open_window(user, wrap=wrap)
    assert window.offline_banner.isHidden()
    flaky[0].down = True
    window.views["strategies"].reload()  # type: ignore[attr-defined]
    await eventually(lambda: window.offline_banner.isVisible(), what="the offline banner")
    assert window.offline_banner.label.text().startswith("Offline — The local database cannot be reached.")
    assert "Offline" in window.status.connection.text()
    assert window.message_banner.isHidden(), window.message_banner.label.text()  # said once, in the banner, not per failed call

    flaky[0].down = False  # the database is back: the re-check finds it
    await eventually(lambda: window.offline_banner.isHidden(), what="the banner gone")
    assert "Live" in window.status.connection.text()


async def test_the_tray_tells_each_recorded_event_once(open_window: OpenWindow, db: Db, user: User) -> None:
    agent = db.create_agent(user, "Desk PC")
    strategy = seed_strategy(db, user, "Trend", seed_broker(db, user))
    account = db.admin.execute("insert into trading_accounts (user_id, login, server) values (%s, 5001, 'Demo') "
                               "returning id", (user.id,)).fetchone()
    assert account is not None
    window = await open_window(user)
    told: list[tuple[str, str]] = []
    window.notifier.notify.connect(lambda title, text: told.append((title, text)))

    signal_id = insert_signal(db, user, strategy, symbol="EURUSD", action="buy")
    db.admin.execute("update tv_signals set status = 'failed', error_message = 'Market closed' where id = %s",
                     (signal_id,))
    await eventually(lambda: ("Signal failed", "BUY EURUSD (Trend): Market closed") in told, what="the failed signal")

    for _ in range(3):
        db.call_as(user, "select record_sync(%s, %s, 'scheduled', 'failed', now(), 5, "
                         "'{\"login\": 5001, \"server\": \"Demo\"}', '[]', 'Terminal not connected')",
                   (agent.id, agent.key))
    await eventually(lambda: any(t == "Sync keeps failing" for t, _ in told), what="the sync alarm")
    assert any("last 3 syncs" in text and "Terminal not connected" in text for _, text in told)

    db.call_as(user, "select agent_heartbeat(%s, %s, 'running')", (agent.id, agent.key))
    db.call_as(user, "select agent_heartbeat(%s, %s, 'stopped', 'Terminal closed')", (agent.id, agent.key))
    await eventually(lambda: any(t == "Agent stopped" for t, _ in told), what="the stop")
    assert ("Agent stopped", "Desk PC stopped: Terminal closed. Nothing is traded until it is started again.") in told
    assert [t for t, _ in told].count("Signal failed") == 1


async def test_a_run_of_alerts_refused_for_their_age_is_one_notification(open_window: OpenWindow, db: Db,
                                                                         user: User) -> None:
    strategy = seed_strategy(db, user, "Trend", seed_broker(db, user))
    window = await open_window(user)
    told: list[tuple[str, str]] = []
    window.notifier.notify.connect(lambda title, text: told.append((title, text)))
    ids = [insert_signal(db, user, strategy, symbol="EURUSD", action="buy") for _ in range(30)]
    other = insert_signal(db, user, strategy, symbol="GBPUSD", action="sell")
    for age, signal_id in enumerate(ids, start=121):  # refused one after the other, in arrival order
        db.admin.execute("update tv_signals set status = 'failed', error_message = %s, resolved_at = now() "
                         "where id = %s", (stale_reason(age, 120), signal_id))
    db.admin.execute("update tv_signals set status = 'failed', error_message = 'Market closed', resolved_at = now() "
                     "where id = %s", (other,))
    await eventually(lambda: any(t == "Signal failed" for t, _ in told), what="the last failure told")
    assert told == [("Alerts not executed", "Alerts were too old when their turn came, so they were not executed: "
                     "they came faster than the terminal could take them, or while the agent was not running. "
                     "The signal log lists each one."),
                    ("Signal failed", "SELL GBPUSD (Trend): Market closed")]


async def test_window_layout_and_column_widths_are_remembered(open_window: OpenWindow, user: User,
                                                              tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    first = await open_window(user, settings=settings)
    first.resize(1000, 650)
    first.show_page("signals")
    first.views["signals"].table.setColumnWidth(1, 260)  # type: ignore[attr-defined]
    first.close()

    second = await open_window(user, settings=settings)
    # The offscreen screen is 800 px wide: the restored width is clamped to fit, the height is exact.
    assert second.height() == 650 and second.width() < 1280  # not the first-run default size
    assert second.stack.currentWidget() is second.views["signals"]
    assert second.views["signals"].table.columnWidth(1) == 260  # type: ignore[attr-defined]


async def test_the_embedded_agents_events_reach_the_status_bar(open_window: OpenWindow, db: Db, user: User) -> None:
    paired = db.create_agent(user, "Desk PC")
    window = await open_window(user)
    agent = window.session.ctx.agent
    await eventually(lambda: "Agent: no heartbeat yet" in window.status.heartbeat.text(), what="a silent agent")

    class Control:  # what the app's own agent looks like to the bridge
        agent_id = paired.id
        state = AgentState.RUNNING

        def add_listener(self, _listener: object) -> None:
            pass

    agent.attach(Control())  # type: ignore[arg-type]
    db.admin.execute("update mt5_agents set status = 'running' where id = %s", (paired.id,))
    agent.heartbeat.emit(datetime.now(UTC) - timedelta(seconds=5))  # as emitted from the agent's thread
    agent.terminal_seen.emit(TerminalSeen(connected=True, trade_allowed=True, login=7001, server="Live-3",
                                          balance=1234.5, currency="EUR"))
    await eventually(lambda: "Agent: alive 5 s ago" in window.status.heartbeat.text(), what="the heartbeat")
    assert window.status.account.text() == "7001 · Live-3 · 1,234.50 EUR"
