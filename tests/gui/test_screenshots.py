"""Render the sign-in window and the Strategies, Signals and Settings pages offscreen to PNG.

Set ``TNM_SCREENSHOTS`` to a directory to keep the images (docs/screenshots/ holds the ones we
looked at); otherwise they go to the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot
from tnm_desktop.composition.local_receiver import LocalReceiver
from tnm_desktop.data.port import LiveState
from tnm_desktop.errors import OperationalError
from tnm_desktop.gui.pages.webhook_reach import PortDialog, ReachDialog
from tnm_desktop.gui.shell.mainwindow import MainWindow
from tnm_desktop.gui.shell.session import GuiSession
from tnm_desktop.gui.shell.signin import SignInWindow
from tnm_desktop.gui.widgets import theme
from tnm_desktop.gui.widgets.bridge import MessageBridge
from tnm_desktop.gui.widgets.tasks import TaskRunner
from tnm_desktop.profiles import ConnectionProfile, ProfileKind, ProfileStore
from tnm_desktop.services import Services
from tnm_desktop.workspace import Workspace

from tests.gui.conftest import close_at_test_end, local_adapter, local_profile
from tests.gui.seed import seed_broker, seed_strategy, seed_trade_job
from tests.pg import Agent, Db, User
from tests.waiting import eventually

WEBHOOK_BASE = "https://hooks.tnm-trader.net"
_SIGNALS = [  # symbol, action, price, status, error — newest first
    ("EURUSD", "buy", 1.08512, "executed", None), ("XAUUSD", "sell", 2651.35, "executed", None),
    ("GBPUSD", "buy", 1.27044, "pending", None), ("USDJPY", "sell", 151.872, "failed",
                                                  "Market is closed (10018)"),
    ("BTCUSD", "buy", 97120.5, "discarded", "BTCUSD is not an allowed pair for this strategy"),
    ("EURUSD", "sell", 1.08477, "executed", None), ("XAUUSD", "buy", 2648.9, "executed", None),
    ("GBPUSD", "sell", 1.26981, "failed", "Not enough money (10019)"),
]


@pytest.fixture(autouse=True)
def light_theme() -> None:
    """As the app starts: Fusion with the light palette."""
    theme.apply(theme.Theme.LIGHT)


def shots_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("TNM_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def save(widget: QWidget, path: Path) -> QImage:
    assert widget.grab().save(str(path))
    image = QImage(str(path))
    assert image.width() >= widget.width() and image.height() >= widget.height()
    return image


async def settle() -> None:
    """Let a page that was just shown lay itself out before it is grabbed."""
    await asyncio.sleep(0.3)


def seed_desk(db: Db, user: User, agent: Agent) -> dict[str, str]:
    """A trader's desk: a broker connection, three strategies, a day of signals, an account."""
    broker = seed_broker(db, user, "IC Markets Demo", agent=agent, symbol_map={"XAUUSD": "GOLD"})
    seed_broker(db, user, "Pepperstone Live", suffix=".a")
    ids = {
        "london": seed_strategy(db, user, "London breakout", broker, pairs=["EURUSD", "GBPUSD"], risk=0.5),
        "gold": seed_strategy(db, user, "Gold scalper", broker, pairs=["XAUUSD"]),
        "ny": seed_strategy(db, user, "NY momentum", broker),
    }
    db.admin.execute("update tv_strategies set is_enabled = false where id = %s", (ids["ny"],))
    now = datetime.now(UTC).replace(microsecond=0)
    owners = [ids["london"], ids["gold"], ids["london"], ids["ny"], ids["gold"], ids["london"], ids["gold"],
              ids["london"]]
    for n, ((symbol, action, price, status, error), strategy) in enumerate(zip(_SIGNALS * 5, owners * 5,
                                                                               strict=True)):
        received = now - timedelta(minutes=7 * n, seconds=13 * n)
        body = {"id": f"{n}-{received:%H%M%S}", "action": action, "symbol": symbol, "price": price,
                "time": f"{received:%Y-%m-%dT%H:%M:%SZ}"}
        row = db.admin.execute(
            "insert into tv_signals (strategy_id, user_id, symbol, action, price, raw_payload, status, "
            "error_message, received_at, resolved_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "case when %s <> 'pending' then %s + interval '60 milliseconds' end) returning id::text as id",
            (strategy, user.id, symbol, action, price, json.dumps(body), status, error, received, status,
             received)).fetchone()
        assert row is not None
        if status == "executed":
            seed_trade_job(db, user, row["id"], agent, received=received, steps_ms=(2, 4, 3, 38 + n),
                           fill=price + 0.00003 if price < 10 else price + 0.05, order_id=str(50_011_200 + n))
            if n == 0:
                ids["shown_signal"] = str(row["id"])
    db.admin.execute("update mt5_agents set status = 'running', last_heartbeat_at = now(), machine_name = 'TRADING-PC' "
                     "where id = %s", (agent.id,))
    db.admin.execute("insert into trading_accounts (user_id, login, server, balance, equity, currency, "
                     "last_sync_at) values (%s, 51234567, 'ICMarketsSC-Demo', 25340.18, 25412.60, 'USD', now())",
                     (user.id,))
    return ids


@pytest.mark.usefixtures("qapp")
def test_sign_in_window(tmp_path: Path) -> None:
    window = SignInWindow(TaskRunner(lambda _exc: None, lambda _exc: None), ProfileStore(tmp_path / "p.json"))
    local = ConnectionProfile.new("Trading desk", ProfileKind.LOCAL, workspace_dir="/home/ana/TNM/workspace",
                                  last_email="ana@example.com")
    cloud = ConnectionProfile.new("TNM cloud", ProfileKind.SUPABASE, supabase_url="https://abcd.supabase.co")
    window.set_profiles([local, cloud], local.id)
    window.remember.setChecked(True)
    window.resize(560, 430)
    window.show()
    save(window, shots_dir(tmp_path) / "sign-in.png")
    window.password.setText("wrong")
    window.show_error("Wrong email or password.")
    save(window, shots_dir(tmp_path) / "sign-in-error.png")
    window.close()


async def test_main_window_pages(request: pytest.FixtureRequest, qtbot: QtBot, db: Db, user: User,
                                 tmp_path: Path) -> None:
    agent = db.create_agent(user, "Trading PC")
    ids = seed_desk(db, user, agent)
    data = local_adapter(db)
    await data.sign_in(user.email, user.password)
    settings = QSettings(str(tmp_path / "shots.ini"), QSettings.Format.IniFormat)
    profile = local_profile(tmp_path / "ws", WEBHOOK_BASE)
    session = GuiSession(Services(profile, data), MessageBridge(), settings)
    close_at_test_end(request.node, session.close)
    await session.start_live()
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.resize(1366, 800)
    window.show()
    await eventually(lambda: session.ctx.live.state is LiveState.LIVE and not window.building, what="ready")
    target = shots_dir(tmp_path)

    strategies = window.show_page("strategies")
    await eventually(lambda: strategies.model.rowCount() == 3 and not strategies.busy.busy, what="strategies")  # type: ignore[attr-defined]
    strategies.select_row(strategies.model.row_of(ids["london"]))  # type: ignore[attr-defined]
    await eventually(lambda: "Agent: alive" in window.status.heartbeat.text(), what="the heartbeat")
    secret = db.admin.execute("select webhook_secret from tv_strategies where id = %s", (ids["london"],)).fetchone()
    assert secret is not None and secret["webhook_secret"] not in strategies.webhook.url.text()  # type: ignore[attr-defined]
    await settle()
    save(window, target / "strategies.png")

    signals = window.show_page("signals")
    await eventually(lambda: signals.model.rowCount() == 40 and "Total <b>40</b>" in signals.total.text(),  # type: ignore[attr-defined]
                     what="signals")
    assert signals.model.signal_id(0) == ids["shown_signal"]  # type: ignore[attr-defined]
    signals.table.selectRow(0)  # type: ignore[attr-defined]
    await eventually(lambda: signals.detail.signal is not None and not signals.detail.busy.busy, what="detail")  # type: ignore[attr-defined]
    await settle()
    save(window, target / "signals.png")
    window.set_theme(theme.Theme.DARK)  # the status colours must read in both themes
    await settle()
    save(window, target / "signals-dark.png")
    window.set_theme(theme.Theme.LIGHT)

    settings_view = window.show_page("settings")
    await eventually(lambda: settings_view.brokers.rowCount() == 2 and not settings_view.risk_busy.busy,  # type: ignore[attr-defined]
                     what="settings")
    await settle()
    save(window, target / "settings.png")


@pytest.mark.parametrize("where", ["cloud-url", "loopback-warning", "port-taken"])
async def test_strategies_page_where_alerts_go(request: pytest.FixtureRequest, qtbot: QtBot, db: Db, user: User,
                                               tmp_path: Path, where: str) -> None:
    """The Strategies page of a Supabase project (its Edge Function's URL) and of a local workspace
    while its URL is this computer's own address (the warning)."""
    agent = db.create_agent(user, "Trading PC")
    ids = seed_desk(db, user, agent)
    data = local_adapter(db)
    await data.sign_in(user.email, user.password)
    receiver = None
    if where == "cloud-url":
        profile = ConnectionProfile.new("TNM cloud", ProfileKind.SUPABASE, supabase_url="https://abcd1234.supabase.co",
                                        anon_key="")
    else:
        # The workspace's receiver on its default port, as a trader sees it; not started, so that
        # the test binds no fixed port (the URL and the warning do not depend on it listening).
        profile = local_profile(tmp_path / "ws", "")
        workspace = Workspace(tmp_path / "ws")
        if where == "port-taken":  # another program holds the pinned port
            other = socket.socket()
            request.addfinalizer(other.close)
            other.bind(("127.0.0.1", 0))
            other.listen()
            workspace.update_settings(receiver_port=other.getsockname()[1])
        receiver = LocalReceiver(workspace, db.cluster.conninfo(user="tnm_ingest", dbname=db.name))
        if where == "port-taken":
            with pytest.raises(OperationalError):
                receiver.start()
    session = GuiSession(Services(profile, data, receiver=receiver), MessageBridge(),
                         QSettings(str(tmp_path / "shots.ini"), QSettings.Format.IniFormat))
    close_at_test_end(request.node, session.close)
    await session.start_live()
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.resize(1366, 800)
    window.show()
    await eventually(lambda: session.ctx.live.state is LiveState.LIVE and not window.building, what="ready")
    strategies = window.show_page("strategies")
    await eventually(lambda: strategies.model.rowCount() == 3 and not strategies.busy.busy, what="strategies")  # type: ignore[attr-defined]
    strategies.select_row(strategies.model.row_of(ids["london"]))  # type: ignore[attr-defined]
    url = strategies.webhook.url.text()  # type: ignore[attr-defined]
    if where == "cloud-url":
        assert url == "https://abcd1234.supabase.co/functions/v1/tv/" + "•" * 16
        assert strategies.reach.isHidden()  # type: ignore[attr-defined]
        assert "Edge Function “tv” receives these alerts" in strategies.webhook.route.text()  # type: ignore[attr-defined]
    elif where == "port-taken":
        assert receiver is not None
        assert url == f"http://127.0.0.1:{receiver.port}/tv/" + "•" * 16  # never another port
        assert strategies.reach.label.text().startswith(f"Port {receiver.port} is in use by another program.")  # type: ignore[attr-defined]
    else:
        assert url == "http://127.0.0.1:8787/tv/" + "•" * 16
        assert strategies.reach.isVisible() and "TradingView cannot reach 127.0.0.1" in strategies.reach.label.text()  # type: ignore[attr-defined]
    await settle()
    save(window, shots_dir(tmp_path) / f"strategies-{where}.png")
    if where == "loopback-warning":  # and the way out it offers
        strategies.reach.button.click()  # type: ignore[attr-defined]
        dialog = strategies.findChild(ReachDialog)
        assert dialog is not None and "tailscale funnel --bg 8787" in dialog.steps.toPlainText()
        await settle()
        save(dialog, shots_dir(tmp_path) / "strategies-tunnel-steps.png")
        dialog.close()
    if where == "port-taken":
        strategies.reach.button.click()  # type: ignore[attr-defined]
        port_dialog = strategies.findChild(PortDialog)
        assert port_dialog is not None
        await settle()
        save(port_dialog, shots_dir(tmp_path) / "strategies-port-dialog.png")
        port_dialog.close()


async def test_risk_limits_and_stop_trading(request: pytest.FixtureRequest, qtbot: QtBot, db: Db, user: User,
                                            tmp_path: Path) -> None:
    agent = db.create_agent(user, "Trading PC")
    seed_desk(db, user, agent)
    db.admin.execute("update user_settings set risk_percent = 0.75, default_sl_pips = 20, max_lot_size = 2, "
                     "max_open_positions = 6, max_positions_per_symbol = 2, max_daily_loss_pct = 2, "
                     "close_all_on_daily_loss = true, equity_floor = 20000 where user_id = %s", (user.id,))
    data = local_adapter(db)
    await data.sign_in(user.email, user.password)
    session = GuiSession(Services(local_profile(tmp_path / "ws", WEBHOOK_BASE), data), MessageBridge(),
                         QSettings(str(tmp_path / "shots.ini"), QSettings.Format.IniFormat))
    close_at_test_end(request.node, session.close)
    await session.start_live()
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.resize(1366, 800)
    window.show()
    await eventually(lambda: session.ctx.live.state is LiveState.LIVE and not window.building, what="ready")
    target = shots_dir(tmp_path)

    settings_view = window.show_page("settings")
    await eventually(lambda: not settings_view.risk_busy.busy and settings_view.risk.equity_floor.value() == 20000,  # type: ignore[attr-defined]
                     what="the limits")
    await settle()
    box = settings_view.risk.parentWidget()  # type: ignore[attr-defined]
    assert box is not None
    save(box, target / "risk-limits.png")

    window.show_page("strategies")
    await eventually(lambda: window.stop_bar.stop_button.isVisible() and window.trading.enabled is True,
                     what="the control")
    await settle()
    save(window, target / "stop-trading.png")
    window.stop_bar.stop_button.click()
    await eventually(lambda: window.stop_bar.confirmation is not None and window.stop_bar.confirmation.isVisible(),
                     what="the question")
    await settle()
    question = window.stop_bar.confirmation
    assert question is not None
    shot = window.grab()
    painter = QPainter(shot)
    inner = question.grab()
    painter.fillRect(shot.rect(), QColor(0, 0, 0, 60))  # the window behind a modal question
    painter.drawPixmap((shot.width() - inner.width()) // 2, (shot.height() - inner.height()) // 3, inner)
    painter.end()
    assert shot.save(str(target / "stop-trading-confirm.png"))
