"""The Signals view over the real database: paging, live rows at the top, filters, counts, detail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QTableView
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from tnm_desktop.domain import SignalStatus
from tnm_desktop.gui.pages.signals import SignalsView
from tnm_desktop.gui.pages.signals_model import COLUMNS, ERROR, ORDER, RECEIVED, STATUS, SignalsModel
from tnm_desktop.gui.widgets.tables import setup_table

from tests.data.helpers import insert_signal
from tests.gui.conftest import MakeContext
from tests.gui.seed import seed_broker, seed_signals, seed_strategy, seed_trade_job
from tests.pg import Db, User
from tests.waiting import eventually


def ids_in_order(model: SignalsModel) -> list[str]:
    return [model.signal_id(row) for row in range(model.rowCount())]


def top_visible_id(view: SignalsView) -> str:
    index = view.table.indexAt(QPoint(5, 2))
    assert index.isValid()
    return view.model.signal_id(index.row())


async def open_view(qtbot: QtBot, ctx_for: MakeContext, user: User) -> SignalsView:
    view = SignalsView(await ctx_for(user))
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    await eventually(lambda: not view.model.loading and view.model.rowCount() > 0)
    return view


async def test_pages_load_on_scroll_newest_first_without_duplicates(qtbot: QtBot, qtmodeltester: ModelTester, ctx_for: MakeContext,
                                                                     db: Db, user: User) -> None:
    strategy = seed_strategy(db, user, "Trend", seed_broker(db, user))
    seed_signals(db, user, strategy, 700)
    view = await open_view(qtbot, ctx_for, user)
    assert view.model.rowCount() == 300  # one page; nothing more until the user scrolls
    qtmodeltester.check(view.model)
    while not view.model.exhausted:
        view.table.scrollToBottom()
        await eventually(lambda: not view.model.loading)
    ids = ids_in_order(view.model)
    assert len(ids) == 700 == len(set(ids))
    received = [str(view.model.data(view.model.index(row, RECEIVED))) for row in range(700)]
    assert received == sorted(received, reverse=True)
    qtmodeltester.check(view.model)


async def test_a_live_signal_arrives_at_the_top_keeping_the_users_place(qtbot: QtBot, qtmodeltester: ModelTester,
                                                                       ctx_for: MakeContext, db: Db, user: User) -> None:
    strategy = seed_strategy(db, user, "Trend", seed_broker(db, user))
    seed_signals(db, user, strategy, 300)
    view = await open_view(qtbot, ctx_for, user)
    view.table.scrollTo(view.model.index(120, 0))
    view.table.selectRow(125)
    selected = view.model.signal_id(125)
    looking_at = top_visible_id(view)
    assert view.table.verticalScrollBar().value() > 0

    new_id = insert_signal(db, user, strategy, symbol="USDJPY")  # another connection, as the webhook would
    await eventually(lambda: view.model.rowCount() == 301)
    assert view.model.signal_id(0) == new_id
    assert view.model.data(view.model.index(0, 2)) == "USDJPY"
    rows = view.table.selectionModel().selectedRows()
    assert [view.model.signal_id(r.row()) for r in rows] == [selected]
    assert top_visible_id(view) == looking_at  # the rows under the user's eyes did not move
    qtmodeltester.check(view.model)


async def test_at_the_top_new_signals_show_and_updates_change_the_row(qtbot: QtBot, ctx_for: MakeContext,
                                                                      db: Db, user: User) -> None:
    strategy = seed_strategy(db, user, "Trend", seed_broker(db, user))
    seed_signals(db, user, strategy, 50)
    view = await open_view(qtbot, ctx_for, user)
    first = insert_signal(db, user, strategy)
    second = insert_signal(db, user, strategy)
    await eventually(lambda: view.model.rowCount() == 52)
    assert ids_in_order(view.model)[:2] == [second, first]
    assert view.table.verticalScrollBar().value() == 0
    assert top_visible_id(view) == second

    db.admin.execute("update tv_signals set status = 'failed', error_message = 'Market closed' where id = %s",
                     (first,))
    await eventually(lambda: view.model.data(view.model.index(1, STATUS)) == "Failed")
    assert view.model.rowCount() == 52
    assert view.model.data(view.model.index(1, ERROR)) == "Market closed"


async def test_filters_and_counts(qtbot: QtBot, ctx_for: MakeContext, db: Db, user: User) -> None:
    broker = seed_broker(db, user)
    trend, scalper = seed_strategy(db, user, "Trend", broker), seed_strategy(db, user, "Scalper", broker)
    seed_signals(db, user, trend, 40)  # statuses cycle pending/executed/failed/discarded
    seed_signals(db, user, scalper, 8, newest=datetime.now(UTC) - timedelta(days=3))
    view = await open_view(qtbot, ctx_for, user)
    await eventually(lambda: "48" in view.total.text())
    assert "12" in view.counts[SignalStatus.PENDING].text()

    view.status.setCurrentIndex(view.status.findData("failed"))
    await eventually(lambda: not view.model.loading and view.model.rowCount() == 12)
    assert {view.model.data(view.model.index(r, STATUS)) for r in range(12)} == {"Failed"}

    view.status.setCurrentIndex(0)
    await eventually(lambda: view.strategy.count() == 3)
    view.strategy.setCurrentIndex(view.strategy.findData(scalper))
    await eventually(lambda: not view.model.loading and view.model.rowCount() == 8)
    assert {view.model.data(view.model.index(r, 1)) for r in range(8)} == {"Scalper"}
    await eventually(lambda: "Total <b>8</b>" in view.total.text())

    view.range.setCurrentIndex(2)  # last 24 hours: the scalper's signals are three days old
    await eventually(lambda: not view.model.loading and view.model.rowCount() == 0)
    view.strategy.setCurrentIndex(0)
    view.symbol.setText("xauusd")
    view.symbol.textEdited.emit("xauusd")
    await eventually(lambda: not view.model.loading and view.model.rowCount() == 13)  # i % 3 == 2 of 0..39
    assert {view.model.data(view.model.index(r, 2)) for r in range(13)} == {"XAUUSD"}


async def test_detail_shows_pretty_payload_job_and_stage_times(qtbot: QtBot, ctx_for: MakeContext,
                                                               db: Db, user: User) -> None:
    agent = db.create_agent(user, "Desk PC")
    strategy = seed_strategy(db, user, "Trend", seed_broker(db, user, agent=agent))
    signal_id = insert_signal(db, user, strategy, symbol="EURUSD", action="buy")
    received = db.admin.execute("select received_at from tv_signals where id = %s", (signal_id,)).fetchone()
    assert received is not None
    seed_trade_job(db, user, signal_id, agent, received=received["received_at"], steps_ms=(2, 5, 3, 40))
    raw = db.admin.execute("select raw_payload from tv_signals where id = %s", (signal_id,)).fetchone()
    assert raw is not None
    view = await open_view(qtbot, ctx_for, user)
    view.table.selectRow(0)
    detail = view.detail
    await eventually(lambda: detail.signal is not None and not detail.busy.busy)
    assert detail.payload.toPlainText() == json.dumps(raw["raw_payload"], indent=2)
    assert detail.fields["Status"].text() == "Executed"
    assert detail.fields["Fill price"].text() == "1.08512"
    assert detail.fields["Broker order id"].text() == "50012345"
    assert detail.fields["Type"].text() == "Trade"
    assert detail.fields["Attempts"].text() == "1 of 3"
    assert detail.fields["Agent"].text() == "Desk PC"
    stages = detail.stage_texts()
    assert [name for name, _, _ in stages] == ["Received", "Queued for the agent", "Picked up by the agent", "Order sent",
                                               "Agent finished", "Signal resolved"]
    assert [step for _, _, step in stages] == ["", "+2 ms", "+5 ms", "+3 ms", "+40 ms", "+0 ms"]
    total = view.findChild(type(detail.title), "stage_total")
    assert total is not None and "Total 50 ms" in total.text()


async def test_a_payload_that_was_not_json_is_shown_as_received(qtbot: QtBot, ctx_for: MakeContext,
                                                                db: Db, user: User) -> None:
    strategy = seed_strategy(db, user, "Trend", seed_broker(db, user))
    db.admin.execute(
        "insert into tv_signals (strategy_id, user_id, raw_payload, status, error_message, resolved_at) "
        "values (%s, %s, to_jsonb('buy EURUSD now'::text), 'discarded', 'The alert is not JSON', now())",
        (strategy, user.id))
    view = await open_view(qtbot, ctx_for, user)
    view.table.selectRow(0)
    await eventually(lambda: view.detail.signal is not None)
    assert view.detail.payload.toPlainText() == "buy EURUSD now"
    assert view.detail.fields["Type"].text() == "None (the signal was not executed)"
    assert view.detail.fields["Error"].text() == "The alert is not JSON"


async def test_an_update_deep_in_the_log_finds_its_row(qtbot: QtBot, ctx_for: MakeContext, db: Db, user: User) -> None:
    strategy = seed_strategy(db, user, "Trend", seed_broker(db, user))
    seed_signals(db, user, strategy, 600)
    view = await open_view(qtbot, ctx_for, user)
    while not view.model.exhausted:
        view.table.scrollToBottom()
        await eventually(lambda: not view.model.loading)
    oldest = view.model.signal_id(599)
    db.admin.execute("update tv_signals set status = 'executed', fill_price = 1.2345, broker_order_id = 'ABC-77', "
                     "error_message = null where id = %s", (oldest,))
    await eventually(lambda: view.model.data(view.model.index(599, STATUS)) == "Executed", what="the update")
    assert view.model.data(view.model.index(599, ORDER)) == "ABC-77"  # not a number: kept as text
    assert view.model.data(view.model.index(599, 6)) == "1.2345"
    assert view.model.rowCount() == 600


async def test_the_log_paints_what_qts_own_table_paints(qtbot: QtBot, ctx_for: MakeContext, db: Db,
                                                        user: User) -> None:
    # The view paints its rows itself (a whole repaint costs a third of Qt's delegate): each cell
    # must show what Qt's own table shows — the status tint, the selection, text where there is
    # text — including text elided in a narrow column.
    strategy = seed_strategy(db, user, "Trend", seed_broker(db, user))
    seed_signals(db, user, strategy, 40)
    db.admin.execute("update tv_signals set error_message = 'The broker refused the order: not enough money "
                     "in the account' where status = 'failed' and user_id = %s", (user.id,))
    view = await open_view(qtbot, ctx_for, user)
    view.resize(1600, 700)
    view.splitter.setSizes([1300, 300])  # every column in sight
    view.table.setColumnWidth(ERROR, 90)  # too narrow for the error: elided
    view.table.selectRow(2)
    plain = QTableView()
    qtbot.addWidget(plain)
    plain.setModel(view.model)
    plain.setSelectionModel(view.table.selectionModel())
    setup_table(plain, widths={c: view.table.columnWidth(c) for c in range(len(COLUMNS))})
    plain.resize(view.table.size())
    plain.show()
    await eventually(lambda: plain.isVisible())
    ours, theirs = view.table.viewport().grab().toImage(), plain.viewport().grab().toImage()
    checked = 0
    for row in range(view.table.rowAt(ours.height() - 1)):
        for column in range(len(COLUMNS)):
            cell = view.table.visualRect(view.model.index(row, column))
            assert cell == plain.visualRect(view.model.index(row, column))
            assert ours.rect().contains(cell.adjusted(0, 0, -1, 0)), (row, column)
            background = ours.pixelColor(cell.right() - 1, cell.center().y())
            assert background == theirs.pixelColor(cell.right() - 1, cell.center().y()), (row, column)

            def inked(image: QImage, area: QRect = cell, paper: QColor = background) -> bool:
                return any(image.pixelColor(x, y) != paper for x in range(area.left() + 1, area.right() - 1)
                           for y in range(area.top() + 2, area.bottom() - 1))

            assert inked(ours) == inked(theirs) == bool(view.model.data(view.model.index(row, column))), (row, column)
            checked += 1
    assert checked >= len(COLUMNS) * 10
    selected = view.table.visualRect(view.model.index(2, RECEIVED))
    assert ours.pixelColor(selected.right() - 1, selected.center().y()) == view.table.palette().color(
        QPalette.ColorRole.Highlight)
