"""The Strategies view over the real database: create, copy the URL, rotate, enable, delete, test."""

from __future__ import annotations

import json

from aiohttp import web
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from tnm_desktop.gui.pages.strategies import StrategiesView
from tnm_desktop.gui.pages.strategies_model import TODAY
from tnm_desktop.gui.pages.strategy_dialog import StrategyDialog

from tests.data.helpers import insert_signal
from tests.gui.conftest import WEBHOOK_BASE, MakeContext
from tests.gui.seed import seed_broker, seed_strategy
from tests.pg import Db, User
from tests.waiting import eventually


def secret_of(db: Db, strategy_id: str) -> str:
    row = db.admin.execute("select webhook_secret from tv_strategies where id = %s", (strategy_id,)).fetchone()
    assert row is not None
    return str(row["webhook_secret"])


def confirm(parent: QWidget, button_text: str) -> None:
    """Click ``button_text`` in the confirmation box ``parent`` opened."""
    box = open_confirmation(parent)
    next(b for b in box.buttons() if b.text() == button_text).click()


def open_confirmation(parent: QWidget) -> QMessageBox:
    """The confirmation box ``parent`` shows now (closed ones wait for deletion)."""
    boxes = [b for b in parent.findChildren(QMessageBox, "confirmation") if b.isVisible()]
    assert len(boxes) == 1
    return boxes[0]


async def open_view(qtbot: QtBot, ctx_for: MakeContext, user: User,
                    webhook_base_url: str = WEBHOOK_BASE) -> StrategiesView:
    view = StrategiesView(await ctx_for(user, webhook_base_url=webhook_base_url))
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    await eventually(lambda: not view.busy.busy, what="strategies loaded")
    return view


async def test_create_a_strategy_and_copy_its_webhook_url(qtbot: QtBot, qtmodeltester: ModelTester, ctx_for: MakeContext,
                                                          db: Db, user: User) -> None:
    seed_broker(db, user, "IC Markets Demo")
    view = await open_view(qtbot, ctx_for, user)
    assert view.model.rowCount() == 0 and not view.webhook.copy_url.isEnabled()

    view.new_button.click()
    dialog = view.findChild(StrategyDialog)
    assert dialog is not None
    dialog.buttons.accepted.emit()  # Save with an empty name
    assert dialog.message.text() == "Give the strategy a name."
    dialog.name.setText("London breakout")
    dialog.override_risk.setChecked(True)
    dialog.risk.setValue(0.5)
    dialog.only_pairs.setChecked(True)
    dialog.pair_input.setText("EUR USD")
    dialog.pair_input.returnPressed.emit()
    assert "is not a symbol" in dialog.message.text()
    for pair in ("FX:eurusd", "GBPUSD", "EURUSD"):
        dialog.pair_input.setText(pair)
        dialog.pair_input.returnPressed.emit()
    dialog.buttons.accepted.emit()
    await eventually(lambda: view.model.rowCount() == 1, what="the new strategy")

    qtmodeltester.check(view.model)
    row = [view.model.data(view.model.index(0, c)) for c in range(7)]
    assert row == ["London breakout", "IC Markets Demo", "Enabled", "0.5 %", "EURUSD, GBPUSD", "Never", "0"]
    strategy = view.selected()
    assert strategy is not None
    secret = secret_of(db, strategy.id)
    assert secret not in view.webhook.url.text() and view.webhook.url.text().startswith(f"{WEBHOOK_BASE}/tv/")
    view.webhook.copy_url.click()
    assert QGuiApplication.clipboard().text() == f"{WEBHOOK_BASE}/tv/{secret}"
    view.webhook.reveal.click()
    assert view.webhook.url.text() == f"{WEBHOOK_BASE}/tv/{secret}"
    view.webhook.copy_message.click()
    message = QGuiApplication.clipboard().text()
    assert '"action": "{{strategy.order.action}}"' in message and '"symbol": "{{ticker}}"' in message
    assert '"position": "{{strategy.market_position}}"' in message


async def test_what_an_opposite_signal_does_is_chosen_and_said_next_to_the_message(
        qtbot: QtBot, ctx_for: MakeContext, db: Db, user: User) -> None:
    strategy_id = seed_strategy(db, user, "Trend", seed_broker(db, user))
    view = await open_view(qtbot, ctx_for, user)
    panel = view.webhook
    await eventually(lambda: panel.strategy is not None, what="the strategy shown")
    # The default is the safe one, and the page says what it does.
    assert panel.opposite.currentText() == "Close only (safe)"
    assert panel.opposite_note.text().startswith("A signal against this strategy's open position closes it and "
                                                 "opens nothing")
    panel.opposite.setCurrentIndex(panel.opposite.findData("reverse"))
    panel.opposite.activated.emit(panel.opposite.currentIndex())
    await eventually(lambda: "Saved" in panel.answer.text(), what="saved")
    assert panel.answer.text() == "Saved: “Close and reverse” applies to the next alert. The message stays the same."
    assert panel.opposite_note.text().startswith("A signal against this strategy's open position closes it, then "
                                                 "opens the new one")
    assert db.admin.execute("select opposite_signal from tv_strategies where id = %s",
                            (strategy_id,)).fetchone() == {"opposite_signal": "reverse"}
    # The strategy dialog offers the same choice.
    dialog = view.open_dialog(view.selected())
    assert dialog.opposite.currentData() == "reverse" and "then opens the new one" in dialog.opposite_note.text()
    dialog.opposite.setCurrentIndex(dialog.opposite.findData("hedge"))
    assert "beside it" in dialog.opposite_note.text()
    dialog.buttons.accepted.emit()
    await eventually(lambda: db.admin.execute("select opposite_signal from tv_strategies where id = %s",
                                              (strategy_id,)).fetchone() == {"opposite_signal": "hedge"},
                     what="saved from the dialog")


async def test_a_duplicate_name_is_refused_in_the_dialog(qtbot: QtBot, ctx_for: MakeContext, db: Db,
                                                         user: User) -> None:
    seed_strategy(db, user, "Trend", seed_broker(db, user))
    view = await open_view(qtbot, ctx_for, user)
    dialog = view.open_dialog(None)
    dialog.name.setText("Trend")
    dialog.buttons.accepted.emit()
    await eventually(lambda: dialog.message.text() != "", what="the refusal")
    assert dialog.message.text() == "You already have a strategy with that name."
    assert dialog.isVisible() and view.model.rowCount() == 1


async def test_rotating_the_secret_changes_the_url_after_confirmation(qtbot: QtBot, ctx_for: MakeContext,
                                                                      db: Db, user: User) -> None:
    strategy_id = seed_strategy(db, user, "Trend", seed_broker(db, user))
    old = secret_of(db, strategy_id)
    view = await open_view(qtbot, ctx_for, user)
    view.webhook.reveal.click()
    assert view.webhook.url.text().endswith(old)

    view.webhook.rotate.click()
    assert "stops working immediately" in open_confirmation(view.webhook).informativeText()
    confirm(view.webhook, "Cancel")
    assert secret_of(db, strategy_id) == old

    view.webhook.rotate.click()
    confirm(view.webhook, "Rotate secret")
    await eventually(lambda: not view.webhook.url.text().endswith(old), what="the new URL")
    new = secret_of(db, strategy_id)
    assert new != old and view.webhook.url.text() == f"{WEBHOOK_BASE}/tv/{new}"
    assert "old one no longer works" in view.webhook.answer.text()


async def test_enable_disable_delete_and_a_refused_delete(qtbot: QtBot, ctx_for: MakeContext, db: Db,
                                                          user: User) -> None:
    broker = seed_broker(db, user)
    gone_id = seed_strategy(db, user, "Already gone", broker)
    trend_id = seed_strategy(db, user, "Trend", broker)
    view = await open_view(qtbot, ctx_for, user)
    view.select_row(view.model.row_of(trend_id) or 0)
    view.enable_button.click()
    await eventually(lambda: view.enable_button.text() == "Enable", what="disabled")
    row = db.admin.execute("select is_enabled from tv_strategies where id = %s", (trend_id,)).fetchone()
    assert row == {"is_enabled": False}
    assert "logged as discarded" in view.message.text()

    # Deleted elsewhere (another window, another machine) since this view loaded it.
    db.admin.execute("delete from tv_strategies where id = %s", (gone_id,))
    view.select_row(view.model.row_of(gone_id) or 0)
    view.delete_button.click()
    confirm(view, "Delete")
    await eventually(lambda: view.message.text() != "" and not view.busy.busy, what="the refusal")
    assert view.message.text() == "Could not delete the strategy: Strategy not found."

    view.select_row(view.model.row_of(trend_id) or 0)
    view.delete_button.click()
    confirm(view, "Delete")
    await eventually(lambda: view.model.row_of(trend_id) is None, what="the deletion")
    assert db.admin.execute("select count(*) as n from tv_strategies where id = %s", (trend_id,)).fetchone() == {"n": 0}


async def test_signals_today_follows_new_signals_live(qtbot: QtBot, ctx_for: MakeContext, db: Db, user: User) -> None:
    strategy_id = seed_strategy(db, user, "Trend", seed_broker(db, user))
    view = await open_view(qtbot, ctx_for, user)
    insert_signal(db, user, strategy_id)
    insert_signal(db, user, strategy_id)
    await eventually(lambda: view.model.data(view.model.index(0, TODAY)) == "2", what="two signals today")
    assert view.model.data(view.model.index(0, 5)) != "Never"


async def test_send_test_signal_posts_a_sample_alert_to_the_webhook(qtbot: QtBot, ctx_for: MakeContext, db: Db,
                                                                    user: User) -> None:
    received: list[tuple[str, dict[str, object]]] = []

    async def receiver(request: web.Request) -> web.Response:  # stands in for the webhook receiver
        received.append((request.path, json.loads(await request.text())))
        return web.json_response({"status": "logged"})

    app = web.Application()
    app.router.add_post("/tv/{secret}", receiver)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        strategy_id = seed_strategy(db, user, "Trend", seed_broker(db, user))
        view = await open_view(qtbot, ctx_for, user, webhook_base_url=f"http://127.0.0.1:{port}")
        view.webhook.test.click()
        await eventually(lambda: view.webhook.answer.text() != "", what="the receiver's answer")
        # A loopback URL: the answer says TradingView cannot use it (a tunnel's would be named instead).
        assert view.webhook.answer.text().startswith(
            "Sent to the receiver on this computer (TradingView cannot use this address). "
            'The receiver answered 200 OK: {"status": "logged"}')
        path, body = received[0]
        assert path == f"/tv/{secret_of(db, strategy_id)}"
        assert body["action"] == "buy" and body["symbol"] == "EURUSD"
    finally:
        await runner.cleanup()

    view.webhook.test.click()  # nothing listens any more
    await eventually(lambda: "is the webhook receiver running" in view.webhook.answer.text(), what="the error")
    assert secret_of(db, strategy_id) not in view.webhook.answer.text()
