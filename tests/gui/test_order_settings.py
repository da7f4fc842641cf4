"""The strategy dialog's order settings and the signal detail's legs, over the real database.

Set ``TNM_SCREENSHOTS`` to keep the images rendered here (docs/screenshots/ holds the ones we looked at).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QTime
from pytestqt.qtbot import QtBot
from tnm_desktop.gui.pages.signals import SignalsView
from tnm_desktop.gui.pages.strategies import StrategiesView
from tnm_desktop.gui.pages.strategy_dialog import StrategyDialog

from tests.gui.conftest import MakeContext
from tests.gui.seed import seed_broker, seed_strategy
from tests.pg import Db, User
from tests.waiting import eventually


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = Path(os.environ.get("TNM_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


async def open_strategies(qtbot: QtBot, ctx_for: MakeContext, user: User) -> StrategiesView:
    view = StrategiesView(await ctx_for(user))
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    await eventually(lambda: not view.busy.busy, what="strategies loaded")
    return view


async def test_a_strategy_trades_on_two_accounts_with_its_alert_settings(qtbot: QtBot, ctx_for: MakeContext,
                                                                         db: Db, user: User, shots: Path) -> None:
    main = seed_broker(db, user, "IC Markets Demo")
    prop = seed_broker(db, user, "FTMO Challenge", suffix="")
    view = await open_strategies(qtbot, ctx_for, user)
    view.new_button.click()
    dialog = view.findChild(StrategyDialog)
    assert dialog is not None
    dialog.name.setText("London breakout")
    dialog.connections.check(main, False)
    dialog.buttons.accepted.emit()
    assert dialog.message.text() == "Tick at least one broker connection: the strategy trades on it."
    dialog.connections.check(main)
    dialog.connections.check(prop)
    dialog.connections._spin(1, 1).setValue(2.5)  # the prop account trades 2.5 × the volume
    dialog.connections._spin(1, 2).setValue(0.5)  # or 0.5 % when the alert sizes by risk
    alerts = dialog.alerts
    alerts.target_type.setCurrentIndex(alerts.target_type.findData("price"))
    alerts.account_filter.setCurrentIndex(alerts.account_filter.findData("equity"))
    alerts.use_window.setChecked(True)
    alerts.days[5].setChecked(False)  # Saturday stays off by default; Sunday too
    alerts.start.setTime(QTime(7, 30))
    alerts.end.setTime(QTime(16, 0))
    alerts.zone.setCurrentText("Mars/Olympus")
    dialog.buttons.accepted.emit()
    assert dialog.message.text().startswith("Unknown time zone “Mars/Olympus”")
    alerts.zone.setCurrentText("Europe/London")
    dialog.message.clear()
    dialog.tabs.setCurrentIndex(1)
    dialog.grab().save(str(shots / "strategy-alert-settings.png"))
    dialog.tabs.setCurrentIndex(0)
    dialog.grab().save(str(shots / "strategy-connections.png"))
    dialog.buttons.accepted.emit()
    await eventually(lambda: view.model.rowCount() == 1, what="the new strategy")

    row = db.admin.execute("select id::text, target_type, account_filter, trading_window from tv_strategies"
                           ).fetchone()
    assert row is not None
    assert (row["target_type"], row["account_filter"], row["trading_window"]) == (
        "price", "equity", {"days": [1, 2, 3, 4, 5], "start": "07:30", "end": "16:00", "time_zone": "Europe/London"})
    links = db.admin.execute("select broker_connection_id::text as id, volume_multiplier::float as m, "
                             "risk_pct::float as r from strategy_connections order by position").fetchall()
    assert [(link["id"], link["m"], link["r"]) for link in links] == [(main, 1.0, None), (prop, 2.5, 0.5)]
    pine = view.webhook.pine.text()
    assert "sl=, tp=, tp1…tp3= are prices" in pine and "accfilter= compares the equity" in pine
    assert "entries only Mon Tue Wed Thu Fri 07:30–16:00 Europe/London." in pine
    view.grab().save(str(shots / "webhook-pineconnector-settings.png"))

    strategy = view.selected()
    assert strategy is not None
    edit = view.open_dialog(strategy)
    await eventually(lambda: edit.buttons.isEnabled(), what="its connections loaded")
    assert edit.connections.connections()[1].volume_multiplier == 2.5
    assert edit.alerts.trading_window() == strategy.trading_window


async def test_the_signal_detail_names_each_leg_and_what_the_stops_did(qtbot: QtBot, ctx_for: MakeContext,
                                                                       db: Db, user: User, shots: Path) -> None:
    agent = db.create_agent(user, "Desk PC")
    main = seed_broker(db, user, "IC Markets Demo", agent=agent)
    strategy = seed_strategy(db, user, "Trend", main)
    prop = seed_broker(db, user, "FTMO Challenge", agent=agent)
    db.admin.execute("insert into strategy_connections (strategy_id, broker_connection_id, user_id, "
                     "volume_multiplier, position) values (%s, %s, %s, 2, 2)", (strategy, prop, user.id))
    secret = db.admin.execute("select webhook_secret from tv_strategies where id = %s", (strategy,)).fetchone()
    assert secret is not None
    body = "6012,buylimit,EURUSD,vol_lots=0.1,price=15,sl=20,betrigger=10,trailtrig=20,traildist=15"
    accepted = db.admin.execute("select signal_id::text from ingest_tv_signal(%s, %s)",
                                (secret["webhook_secret"], body)).fetchone()
    assert accepted is not None
    signal_id = accepted["signal_id"]
    first, second = (str(r["id"]) for r in db.admin.execute(
        "select id from jobs where signal_id = %s order by (payload ->> 'leg')::int", (signal_id,)))
    db.admin.execute("update jobs set status = 'completed', agent_id = %s, completed_at = now(), result = %s "
                     "where id = %s", (agent.id, json.dumps({"order": 60000123, "pending": True, "volume": 0.1,
                                                             "note": "Buy limit placed at 1.08362."}), first))
    db.admin.execute("update jobs set status = 'failed', completed_at = now(), error_message = %s where id = %s",
                     ("No money (retcode 10019)", second))
    rule = db.admin.execute("select id::text from position_rules where job_id = %s", (first,)).fetchone()
    assert rule is not None
    for seq, kind, sl, price in ((1, "breakeven", 1.08362, 1.08463), (2, "trailing", 1.08425, 1.08575)):
        db.admin.execute("insert into position_rule_events (rule_id, seq, user_id, kind, sl, price) "
                         "values (%s, %s, %s, %s, %s, %s)", (rule["id"], seq, user.id, kind, sl, price))

    view = SignalsView(await ctx_for(user))
    qtbot.addWidget(view)
    view.resize(1300, 900)
    view.show()
    await eventually(lambda: view.model.rowCount() == 1, what="the signal")
    view.table.selectRow(0)
    detail = view.detail
    await eventually(lambda: detail.signal is not None and not detail.busy.busy, what="the detail")
    assert detail.title.text() == "Buy limit EURUSD"
    assert detail.fields["Status"].text() == "Failed"
    assert detail.fields["Error"].text() == "1 of 2 accounts failed — IC Markets Demo: Buy limit placed at 1.08362; " \
                                            "FTMO Challenge: No money (retcode 10019)"
    assert detail.leg_texts() == [
        ("IC Markets Demo", "Buy limit with breakeven, trailing stop", "Completed", "Buy limit placed at 1.08362."),
        ("FTMO Challenge", "Buy limit with breakeven, trailing stop", "Failed", "No money (retcode 10019)")]
    lines = detail.events.text().splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == [
        "Stop moved to breakeven at 1.08362 (price 1.08463)", "Trailing stop moved to 1.08425 (price 1.08575)"]
    view.grab().save(str(shots / "signal-legs.png"))
