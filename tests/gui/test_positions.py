"""The Positions & History page: live positions, closing and changing them from the GUI, the figures, the chart."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from PySide6.QtCore import QDate, QPointF
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from tnm_desktop.domain.positions import OpenPosition
from tnm_desktop.gui.pages.position_dialogs import ClosePartDialog, StopsDialog
from tnm_desktop.gui.pages.positions import PositionsView
from tnm_desktop.gui.pages.positions_models import PositionsModel, TradesModel

from tests.agent.rig import TradeRig, make_rig
from tests.gui.conftest import MakeContext
from tests.gui.ea_agent_fixtures import save_screenshot
from tests.history_seed import seed_history
from tests.must import must
from tests.pg import Db
from tests.waiting import eventually
from tests.world import build_world


@pytest_asyncio.fixture
async def rig(db: Db) -> AsyncIterator[TradeRig]:
    """A real agent on a thread of its own, trading on the simulator, as the app runs it."""
    made = await make_rig(db)
    await made.start_thread()
    yield made
    await made.stop()
    await made.adapter.close()


def cell(model: PositionsModel | TradesModel, row: int, column: int) -> str:
    return str(model.index(row, column).data())


def answer(box: object, text: str) -> None:
    assert isinstance(box, QMessageBox) and box.isVisible()
    next(b for b in box.buttons() if b.text().replace("&", "") == text).click()


async def open_view(qtbot: QtBot, ctx_for: MakeContext, rig: TradeRig) -> PositionsView:
    ctx = await ctx_for(rig.user)
    view = PositionsView(ctx)
    qtbot.addWidget(view)
    view.resize(1280, 760)
    view.show()
    await eventually(lambda: view.snapshot() is not None, what="the first snapshot (the agent's first sync)")
    return view


async def test_a_trade_shows_up_live_with_its_strategy(qtbot: QtBot, ctx_for: MakeContext, rig: TradeRig) -> None:
    view = await open_view(qtbot, ctx_for, rig)
    assert view.open.positions.rowCount() == 0 and view.tabs.tabText(0) == "Open positions (0)"
    assert view.age.text().startswith("Read from the terminal")
    job_id, _ = rig.trade("buy", "EURUSD", sizing={"mode": "lots", "lots": 0.2}, sl={"pips": 30})
    job = await rig.final(job_id)
    await eventually(lambda: view.open.positions.rowCount() == 1, what="the position, live")
    model = view.open.positions
    assert [cell(model, 0, c) for c in (model.COL_SYMBOL, model.COL_SIDE, model.COL_LOTS, model.COL_STRATEGY,
                                        model.COL_TICKET)] == ["EURUSD.m", "Buy", "0.2", "Trend",
                                                               f"#{job['result']['position']}"]
    assert cell(model, 0, model.COL_SL) != "—" and cell(model, 0, model.COL_TP) == "—"
    assert view.tabs.tabText(0) == "Open positions (1)"
    assert view.money.text().startswith("Balance ") and "Floating" in view.money.text()


async def test_close_part_change_stops_then_close_from_the_gui(qtbot: QtBot, ctx_for: MakeContext,
                                                               rig: TradeRig, tmp_path: Path) -> None:
    view = await open_view(qtbot, ctx_for, rig)
    job = await rig.final(rig.trade("sell", "EURUSD", sizing={"mode": "lots", "lots": 0.3})[0])
    ticket = int(job["result"]["position"])
    await eventually(lambda: view.open.positions.rowCount() == 1, what="the position")
    panel = view.open
    panel.positions_view.selectRow(0)
    assert panel.close_button.isEnabled() and panel.close_symbol_button.text() == "Close all EURUSD.m"

    panel.close_part_button.click()
    dialog = panel.open_box
    assert isinstance(dialog, ClosePartDialog) and dialog.isVisible()
    dialog.lots.setValue(0.1)
    dialog.ok.click()
    await eventually(lambda: must(rig.sim.positions_get(ticket=ticket))[0].volume == pytest.approx(0.2), what="0.1 closed")
    await eventually(lambda: cell(panel.positions, 0, PositionsModel.COL_LOTS) == "0.2", what="the snapshot")
    await eventually(lambda: panel.request_outcomes()[0][1].startswith("Closed 0.1 lots at "), what="the outcome")
    assert panel.request_outcomes()[0][0] == f"#{ticket} EURUSD.m 0.1 {must(rig.sim.account_info()).login}"

    position = must(rig.sim.positions_get(ticket=ticket))[0]
    panel.positions_view.selectRow(0)
    panel.stops_button.click()
    stops = panel.open_box
    assert isinstance(stops, StopsDialog)
    stops.sl_on.setChecked(True)
    stops.sl.setValue(round(position.price_current - 0.0010, 5))  # a sell's stop below the price: refused here
    assert not stops.ok.isEnabled() and "must be above the price" in stops.message.text()
    stops.sl.setValue(round(position.price_current + 0.0040, 5))
    stops.tp_on.setChecked(True)
    stops.tp.setValue(round(position.price_current - 0.0060, 5))
    assert stops.ok.isEnabled()
    stops.ok.click()
    want = (round(position.price_current + 0.0040, 5), round(position.price_current - 0.0060, 5))
    await eventually(lambda: (must(rig.sim.positions_get(ticket=ticket))[0].sl, must(rig.sim.positions_get(ticket=ticket))[0].tp)
                     == want, what="the new stops at the broker")
    await eventually(lambda: view.open.positions.rows()[0].sl == want[0], what="the new stops on the page")
    await eventually(lambda: len(panel.request_outcomes()) == 2 and panel.request_outcomes()[0][1].startswith(f"#{ticket}"),
                     what="the stop change's outcome")
    await save_screenshot(view, "positions-requests.png", tmp_path)
    # Untick the take profit: it is removed at the broker, the stop loss stays.
    panel.positions_view.selectRow(0)
    panel.stops_button.click()
    stops = panel.open_box
    assert isinstance(stops, StopsDialog) and stops.tp_on.isChecked() and stops.sl.value() == want[0]
    stops.tp_on.setChecked(False)
    stops.ok.click()
    await eventually(lambda: (must(rig.sim.positions_get(ticket=ticket))[0].sl, must(rig.sim.positions_get(ticket=ticket))[0].tp)
                     == (want[0], 0.0), what="the take profit removed at the broker")
    await eventually(lambda: view.open.positions.rows()[0].tp is None, what="no take profit on the page")

    panel.positions_view.selectRow(0)
    panel.close_button.click()
    answer(panel.open_box, "Close position")
    await eventually(lambda: must(rig.sim.positions_get(ticket=ticket)) == (), what="closed at the broker")
    await eventually(lambda: panel.positions.rowCount() == 0, what="gone from the page")
    await eventually(lambda: panel.request_outcomes()[0][1].startswith("Closed 0.2 lots"), what="the outcome")
    assert panel.message.text().startswith("Closed 0.2 lots")
    # The close also synced the deals: the history has the trade at once.
    view.tabs.setCurrentWidget(view.history)
    await eventually(lambda: any(t.position_id == ticket for t in view.history.trades.rows()), what="in the history")


async def test_a_refused_close_says_why_and_leaves_the_position(qtbot: QtBot, ctx_for: MakeContext,
                                                                rig: TradeRig) -> None:
    view = await open_view(qtbot, ctx_for, rig)
    await rig.final(rig.trade("buy", "EURUSD")[0])
    await eventually(lambda: view.open.positions.rowCount() == 1, what="the position")
    position: OpenPosition = view.open.positions.rows()[0]
    assert view.open.account is not None
    # As if the page showed another account than the one the terminal is logged in to.
    view.open.account = replace(view.open.account, login=1)
    view.open.positions_view.selectRow(0)
    view.open.close_button.click()
    answer(view.open.open_box, "Close position")
    await eventually(lambda: view.open.message.text().startswith("Not done: This was asked for account 1"),
                     what="the refusal, said")
    assert "logged in to account" in view.open.request_outcomes()[0][1]
    assert must(rig.sim.positions_get(ticket=position.ticket))[0].volume == position.volume


async def test_the_figures_match_the_hand_computed_ones(qtbot: QtBot, ctx_for: MakeContext, db: Db) -> None:
    world = build_world(db, db.create_user())
    alpha, beta, _job = seed_history(db, world)
    ctx = await ctx_for(world.user)
    view = PositionsView(ctx)
    qtbot.addWidget(view)
    view.show()
    history = view.history
    await eventually(lambda: history.account_box.count() == 2, what="the filters")
    history.since_edit.setDate(QDate(2026, 11, 1))
    history.until_edit.setDate(QDate(2026, 11, 30))
    await eventually(lambda: history.trades.rowCount() == 4, what="the four closed trades")
    figures = history.figure_texts()
    assert figures == {"Trades": "4 (2 won, 2 lost)", "Win rate": "50.0 %", "Net P&L": "−6.50 USD",
                       "Gross profit": "+64.20 USD", "Gross loss": "−70.70 USD", "Average win": "+32.10 USD",
                       "Average loss": "−35.35 USD", "Profit factor": "0.91", "Average slippage": "0.5 pips worse (2 fills)"}
    per = {history.per_strategy.index(r, 0).data(): [history.per_strategy.index(r, c).data() for c in range(1, 8)]
           for r in range(history.per_strategy.rowCount())}
    assert per == {
        "No strategy": ["1", "100.0 %", "+15.00", "+15.00", "—", "no losses", "—"],
        "Alpha": ["2", "50.0 %", "−11.50", "+49.20", "−60.70", "0.81", "0.5 pips worse"],
        "Beta": ["1", "0.0 %", "−10.00", "—", "−10.00", "0.00", "—"],
    }
    trades = history.trades
    assert [cell(trades, r, TradesModel.COL_POSITION) for r in range(4)] == ["#103", "#105", "#102", "#101"]
    assert cell(trades, 3, TradesModel.COL_NET) == "+49.20 USD" and cell(trades, 3, TradesModel.COL_STRATEGY) == "Alpha"
    history.strategy_box.setCurrentIndex(history.strategy_box.findData(beta))
    await eventually(lambda: history.trades.rowCount() == 1, what="Beta only")
    assert history.figure_texts()["Net P&L"] == "−10.00 USD" and history.figure_texts()["Profit factor"] == "0.00"
    history.strategy_box.setCurrentIndex(history.strategy_box.findData(alpha))
    await eventually(lambda: history.trades.rowCount() == 2, what="Alpha only")
    days = [[history.days.index(r, c).data() for c in range(4)] for r in range(history.days.rowCount())]
    assert [d[1:] for d in days] == [["2", "1", "−11.50 USD"]]


async def test_the_chart_draws_the_balance_and_equity_recorded(qtbot: QtBot, ctx_for: MakeContext, db: Db) -> None:
    world = build_world(db, db.create_user())
    db.admin.execute("delete from account_equity")
    now = datetime.now(UTC).replace(microsecond=0)
    readings = [(now - timedelta(hours=6 - i), 10_000 + 50 * i, 10_000 + 50 * i + (-1) ** i * 30) for i in range(7)]
    for at, balance, equity in readings:
        db.admin.execute("insert into account_equity (account_id, user_id, at, balance, equity) values (%s, %s, %s, "
                         "%s, %s)", (world.ids["trading_accounts"], world.user.id, at, balance, equity))
    ctx = await ctx_for(world.user)
    view = PositionsView(ctx)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    view.tabs.setCurrentWidget(view.history)  # the chart as the trader sees it, laid out
    chart = view.history.chart
    await eventually(lambda: len(chart.points) == 7, what="the readings")
    assert [(p.balance, p.equity) for p in chart.points] == [(b, e) for _, b, e in readings]
    balance_line, equity_line = chart.polyline("balance"), chart.polyline("equity")
    plot = chart._plot_rect()
    assert balance_line[0].x() == pytest.approx(plot.left()) and balance_line[-1].x() == pytest.approx(plot.right())
    assert all(a.y() > b.y() for a, b in itertools.pairwise(balance_line))  # rising balance: up the screen
    assert [e.y() < b.y() for b, e in zip(balance_line, equity_line, strict=True)] == [i % 2 == 0 for i in range(7)]
    assert "Balance 10,300.00 · Equity 10,330.00" in chart.tooltip_at(QPointF(plot.right() - 1, plot.center().y()))
    image = chart.grab().toImage()
    colours = {image.pixelColor(int(p.x()), int(p.y())).name() for p in equity_line[1:-1]}
    assert "#2e9d5b" in colours  # the equity line is where polyline says

