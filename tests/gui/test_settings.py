"""The Settings view over the real database: risk limits, broker connections, webhook base, theme."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from tnm_desktop.gui.pages.broker_dialog import BrokerDialog
from tnm_desktop.gui.pages.brokers_model import SymbolMapModel
from tnm_desktop.gui.pages.settings import SettingsView
from tnm_desktop.gui.widgets import theme
from tnm_desktop.profiles import ProfileStore

from tests.gui.conftest import MakeContext
from tests.gui.seed import seed_broker, seed_strategy
from tests.gui.test_strategies import confirm
from tests.pg import Db, User
from tests.waiting import eventually


@pytest.fixture
def light_theme_after() -> Iterator[None]:
    """The theme is application-wide: put it back for the next test."""
    yield
    theme.apply(theme.Theme.LIGHT)


async def open_view(qtbot: QtBot, ctx_for: MakeContext, user: User, store: ProfileStore | None = None) -> SettingsView:
    view = SettingsView(await ctx_for(user), store=store)
    qtbot.addWidget(view)
    view.resize(1100, 900)
    view.show()
    await eventually(lambda: not view.risk_busy.busy, what="settings loaded")
    return view


async def test_risk_settings_are_validated_and_saved(qtbot: QtBot, ctx_for: MakeContext, db: Db, user: User) -> None:
    view = await open_view(qtbot, ctx_for, user)
    risk = view.risk
    assert risk.risk_percent.value() == 1.0 and risk.max_lot_size.text() == "No limit"

    risk.default_lot_size.setValue(5)
    risk.max_lot_size.setValue(2)
    view.save_risk.click()
    assert view.risk_message.text() == "The default lot size is above the maximum lot size."

    risk.default_lot_size.setValue(0.1)
    risk.risk_percent.setValue(0.75)
    risk.default_sl_pips.setValue(15)
    risk.max_open_positions.setValue(3)
    risk.max_slippage_points.setValue(10)
    assert not risk.close_all_on_daily_loss.isEnabled()  # it belongs to the daily-loss limit
    risk.max_daily_loss_pct.setValue(2.5)
    risk.close_all_on_daily_loss.setChecked(True)
    risk.max_positions_per_symbol.setValue(2)
    risk.equity_floor.setValue(9500)
    risk.default_sl_pips_lots.setValue(40)
    view.save_risk.click()
    await eventually(lambda: "saved" in view.risk_message.text(), what="saved")
    row = db.admin.execute("select * from user_settings where user_id = %s", (user.id,)).fetchone()
    assert row is not None
    assert (float(row["risk_percent"]), float(row["max_lot_size"]), float(row["default_sl_pips"]),
            float(row["default_lot_size"]), row["max_open_positions"], float(row["max_daily_loss_pct"]),
            row["max_slippage_points"], row["trading_enabled"], row["close_all_on_daily_loss"],
            row["max_positions_per_symbol"], float(row["equity_floor"]), float(row["default_sl_pips_lots"])) == (
        0.75, 2.0, 15.0, 0.1, 3, 2.5, 10, True, True, 2, 9500.0, 40.0)


async def test_every_limit_says_what_it_does_and_saving_never_turns_trading_back_on(
        qtbot: QtBot, ctx_for: MakeContext, db: Db, user: User) -> None:
    view = await open_view(qtbot, ctx_for, user)
    risk = view.risk
    assert risk.notes["max_daily_loss_pct"].text().startswith("Loss since the broker's trading day began")
    assert risk.notes["equity_floor"].isVisible() and risk.notes["max_positions_per_symbol"].isVisible()
    assert risk.switch_state.text().startswith("On.")
    # Trading is stopped elsewhere (an alert, the toolbar) while this page shows the old state.
    db.call_as(user, "select stop_trading(false)")
    risk.risk_percent.setValue(1.5)
    view.save_risk.click()
    await eventually(lambda: "saved" in view.risk_message.text(), what="saved")
    assert db.admin.execute("select trading_enabled from user_settings where user_id = %s",
                            (user.id,)).fetchone() == {"trading_enabled": False}
    assert risk.switch_state.text().startswith("<b>Off</b>: trading was stopped with Stop trading in the app.")


async def test_add_a_broker_connection_with_symbol_mapping_and_its_agent(
        qtbot: QtBot, qtmodeltester: ModelTester, ctx_for: MakeContext, db: Db, user: User) -> None:
    agent = db.create_agent(user, "Desk PC")
    view = await open_view(qtbot, ctx_for, user)
    dialog = view.open_broker_dialog(None)
    assert isinstance(dialog, BrokerDialog)
    qtmodeltester.check(dialog.map_model)  # and it keeps checking every change below
    dialog.name.setText("IC Markets live")
    dialog.agent.setCurrentIndex(dialog.agent.findData(agent.id))
    dialog.server.setText("ICMarketsSC-Live07")
    dialog.login.setText("51234567")
    dialog.account_type.setCurrentIndex(1)
    dialog.suffix.setText(".raw")
    model = dialog.map_model
    for tv, broker in (("xauusd", "GOLD"), ("US30", "DJ30"), ("", "")):
        row = model.add_row()
        model.setData(model.index(row, 0), tv)
        model.setData(model.index(row, 1), broker)
    assert dialog.preview.text() == "Orders go out as: EURUSD → EURUSD.raw, XAUUSD → GOLD, US30 → DJ30"
    model.setData(model.index(1, 0), "XAUUSD")
    dialog.buttons.accepted.emit()
    assert dialog.message.text() == "XAUUSD is mapped twice."
    model.setData(model.index(1, 0), "US30")
    model.removeRows(2, 1)
    dialog.buttons.accepted.emit()
    await eventually(lambda: view.brokers.rowCount() == 1, what="the new connection")

    qtmodeltester.check(view.brokers)
    saved = db.admin.execute("select * from broker_connections where user_id = %s", (user.id,)).fetchone()
    assert saved is not None
    assert (saved["name"], saved["agent_id"] and str(saved["agent_id"]), saved["login"], saved["account_type"],
            saved["symbol_suffix"], saved["symbol_map"]) == (
        "IC Markets live", agent.id, 51234567, "live", ".raw", {"XAUUSD": "GOLD", "US30": "DJ30"})
    shown = [view.brokers.data(view.brokers.index(0, c)) for c in range(9)]
    assert shown[6] == "US30 → DJ30, XAUUSD → GOLD; others + “.raw”" and shown[7] == "Desk PC"


async def test_deleting_a_connection_in_use_is_refused_with_its_reason(qtbot: QtBot, ctx_for: MakeContext,
                                                                       db: Db, user: User) -> None:
    broker = seed_broker(db, user, "IC Markets Demo")
    seed_strategy(db, user, "Trend", broker)
    view = await open_view(qtbot, ctx_for, user)
    await eventually(lambda: view.brokers.rowCount() == 1, what="the connection")
    view.broker_table.selectRow(0)
    view.delete_broker.click()
    confirm(view, "Delete")
    await eventually(lambda: view.broker_message.text() != "", what="the refusal")
    assert view.broker_message.text() == ("This broker connection is still used by strategies. Move them to "
                                          "another connection or delete them first.")
    assert db.admin.execute("select count(*) as n from broker_connections").fetchone() == {"n": 1}


async def test_webhook_base_url_is_saved_to_the_profile(qtbot: QtBot, ctx_for: MakeContext, user: User,
                                                        tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles.json")
    view = await open_view(qtbot, ctx_for, user, store)
    view.webhook_base.setText("ftp://hooks.example.com")
    view.save_webhook.click()
    assert view.webhook_message.text() == "The webhook base URL must start with http:// or https://."
    view.webhook_base.setText("https://signals.example.net/")
    view.save_webhook.click()
    await eventually(lambda: "Saved" in view.webhook_message.text(), what="saved")
    saved = json.loads((tmp_path / "profiles.json").read_text())["profiles"][0]
    assert saved["webhook_base_url"] == "https://signals.example.net"
    assert view._ctx.services.webhook_base_url == "https://signals.example.net"


@pytest.mark.usefixtures("light_theme_after")
async def test_the_theme_switches_and_is_remembered(qtbot: QtBot, ctx_for: MakeContext, user: User) -> None:
    view = await open_view(qtbot, ctx_for, user)
    view.theme.setCurrentIndex(view.theme.findData("dark"))
    assert theme.is_dark()
    assert view._ctx.settings.value("ui/theme") == "dark"
    await eventually(lambda: view.palette().color(view.backgroundRole()).lightness() < 80, what="a dark window")
    text = theme.status_text_color(next(iter(theme._STATUS)))
    assert text.lightness() > 120  # status colours switch to their readable dark variants


def test_symbol_map_model_edits_upper_case_the_tradingview_symbol(qtmodeltester: ModelTester) -> None:
    model = SymbolMapModel({"EURUSD": "EURUSD.x"})
    qtmodeltester.check(model)
    assert model.setData(model.index(0, 0), " gbpusd ")
    assert model.data(model.index(0, 0), Qt.ItemDataRole.EditRole) == "GBPUSD"
    assert not model.setData(model.index(5, 0), "X")


async def test_a_connections_pip_sizes_are_checked_and_saved(qtbot: QtBot, ctx_for: MakeContext, db: Db,
                                                             user: User) -> None:
    seed_broker(db, user, "IC Markets Demo")
    view = await open_view(qtbot, ctx_for, user)
    await eventually(lambda: view.brokers.rowCount() == 1, what="the connection")
    dialog = view.open_broker_dialog(view.brokers.connection(0))
    assert dialog.pip_sizes.text() == "" and "0.10 on gold" in dialog.pip_note.text()
    dialog.pip_sizes.setText("xauusd=0.01, US30 = abc")
    dialog.buttons.accepted.emit()
    assert dialog.message.text() == "The pip size of US30 must be a positive number, like 0.01 (got “abc”)."
    dialog.pip_sizes.setText("xauusd=0.01; US30=0.1")
    dialog.buttons.accepted.emit()
    await eventually(lambda: "Saved" in view.broker_message.text(), what="saved")
    row = db.admin.execute("select pip_sizes from broker_connections where user_id = %s", (user.id,)).fetchone()
    assert row == {"pip_sizes": {"XAUUSD": 0.01, "US30": 0.1}}
    await eventually(lambda: view.brokers.connection(0).pip_sizes == {"XAUUSD": 0.01, "US30": 0.1}, what="reloaded")
    again = view.open_broker_dialog(view.brokers.connection(0))
    assert again.pip_sizes.text() == "US30=0.1, XAUUSD=0.01"


async def test_a_new_connection_is_served_by_the_paired_agent_not_by_none(qtbot: QtBot, ctx_for: MakeContext,
                                                                          db: Db, user: User) -> None:
    revoked = db.create_agent(user, "Old laptop")
    db.admin.execute("update mt5_agents set revoked_at = now() where id = %s", (revoked.id,))
    paired = db.create_agent(user, "Desk PC")
    view = await open_view(qtbot, ctx_for, user)
    await eventually(lambda: len(view._agents) == 2, what="the agents")
    dialog = view.open_broker_dialog(None)
    assert dialog.agent.currentData() == paired.id
    assert dialog.agent.itemText(0) == "None (orders wait for one)"
    dialog.reject()
