"""Accounts & Sync: a failed sync recorded by the agent shows in the table, the list and the chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from tnm_desktop.domain import SyncHealth
from tnm_desktop.gui.pages.accounts import AccountsView
from tnm_desktop.gui.pages.accounts_models import FailureTableModel, HealthTableModel
from tnm_desktop.gui.widgets.sync_chart import OUTCOME_COLOURS

from tests.gui.conftest import MakeContext
from tests.gui.ea_agent_fixtures import FakeAgent, agent_port, record_sync, rgb, save_screenshot, settle
from tests.pg import Db, User
from tests.waiting import eventually

ERROR = "Terminal did not answer: IPC timeout (-10005)"


def _colour_near(colour: QColor, expected: QColor) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(rgb(colour), rgb(expected), strict=True))


async def test_a_failed_sync_shows_in_the_row_the_failures_list_and_the_chart(
        ctx_for: MakeContext, db: Db, user: User, qtbot: QtBot, qtmodeltester: ModelTester, tmp_path: Path) -> None:
    ctx = await ctx_for(user)
    agent = db.create_agent(user)
    port, creds = await agent_port(db, agent)
    now = datetime.now(UTC)
    for minutes, ms in ((50, 420), (40, 380), (30, 610), (20, 450)):
        await record_sync(port, creds, "success", duration_ms=ms, started_at=now - timedelta(minutes=minutes))
    # Two more accounts: one healthy, one that has never synced successfully (stale).
    for minutes in (45, 25, 5):
        await record_sync(port, creds, "success", duration_ms=300 + minutes, login=7002, server="ICMarkets-Live02",
                          balance=25_340.12, started_at=now - timedelta(minutes=minutes))
    await record_sync(port, creds, "failed", duration_ms=30_000, login=8003, server="Pepperstone-Demo",
                      error="Invalid account (-6): the terminal is logged in to another account",
                      started_at=now - timedelta(minutes=35))
    view = AccountsView(ctx)
    qtbot.addWidget(view)
    view.resize(1280, 760)
    await eventually(lambda: view.health.rowCount() == 3 and len(view.chart.history) == 4, what="the accounts")
    row = next(r for r in range(3) if (h := view.health.health_at(r)) is not None and h.login == 5001)
    first: SyncHealth | None = view.health.health_at(row)
    assert first is not None and first.failed_syncs_24h == 0
    stale = next(h for h in (view.health.health_at(r) for r in range(3)) if h is not None and h.login == 8003)
    assert stale.is_stale
    assert view.health.data(view.health.index(view.health.row_of(stale.account_id), HealthTableModel.COL_STALE)) \
        == "Stale"
    assert view.health.data(view.health.index(row, HealthTableModel.COL_STALE)) == ""

    # The agent records a failure while the view is open: it arrives live.
    await record_sync(port, creds, "failed", duration_ms=2500, error=ERROR)
    await eventually(lambda: (h := view.health.health_at(row)) is not None and h.failed_syncs_24h == 1,
                     what="the failure in the health row")
    failures_cell = view.health.index(row, HealthTableModel.COL_FAILURES)
    assert view.health.data(failures_cell) == "1"
    assert view.health.data(view.health.index(row, HealthTableModel.COL_CONNECTION)) == "Error"
    assert view.health.data(view.health.index(row, HealthTableModel.COL_RATE)) == "80 %"
    assert ERROR in str(view.health.data(view.health.index(row, 0), role=3))  # the tooltip names the last error

    await eventually(lambda: view.failures.rowCount() == 2, what="the failures list")
    assert view.failures.data(view.failures.index(0, FailureTableModel.COL_ERROR)) == ERROR  # newest first
    assert view.failures.data(view.failures.index(0, FailureTableModel.COL_ACCOUNT)) == "5001 · Demo-Server"
    assert view.failures.data(view.failures.index(0, FailureTableModel.COL_OUTCOME)) == "Failed"
    assert view.summary.text() == "3 accounts · 2 failed syncs in 24 hours · 1 stale"
    assert view.failure_detail.text().endswith(f"5001 · Demo-Server: {ERROR}")

    await eventually(lambda: len(view.chart.history) == 5, what="the failure in the chart")
    image = view.chart.grab().toImage()  # lays the view out: measure the bars after it
    failed = [(rect, log) for rect, log in view.chart.bars() if log.status == "failed"]
    assert len(failed) == 1
    rect, _ = failed[0]
    centre = rect.center()
    assert _colour_near(image.pixelColor(int(centre.x()), int(centre.y())), OUTCOME_COLOURS["failed"])
    succeeded = next(r for r, log in view.chart.bars() if log.status == "success").center()
    assert _colour_near(image.pixelColor(int(succeeded.x()), int(succeeded.y())), OUTCOME_COLOURS["success"])
    assert ERROR in view.chart.tooltip_at(QPointF(centre))

    qtmodeltester.check(view.health)
    qtmodeltester.check(view.failures)
    await save_screenshot(view, "accounts.png", tmp_path)
    await port.close()
    await settle(ctx)


async def test_sync_now_asks_the_embedded_agent_or_enqueues_a_job(
        ctx_for: MakeContext, db: Db, user: User, qtbot: QtBot) -> None:
    ctx = await ctx_for(user)
    agent = db.create_agent(user)
    port, creds = await agent_port(db, agent)
    await record_sync(port, creds, "success", duration_ms=300)
    view = AccountsView(ctx)
    qtbot.addWidget(view)
    await eventually(lambda: view.health.rowCount() == 1 and view.sync_button.isEnabled(), what="the account")
    assert view.summary.text() == "1 account · 0 failed syncs in 24 hours"

    # No agent in this process: a sync_account job for the user's agents.
    view.sync_button.click()
    await eventually(lambda: db.admin.execute("select count(*) as n from jobs where job_type = 'sync_account'")
                     .fetchone() == {"n": 1}, what="the sync job")
    row = db.admin.execute("select payload, user_id::text as user_id from jobs").fetchone()
    assert row is not None and row["user_id"] == user.id
    assert row["payload"]["login"] == 5001 and row["payload"]["server"] == "Demo-Server"

    # An agent runs in this process: it is told directly, and nothing more is queued.
    fake = FakeAgent()
    ctx.agent.attach(fake)
    view.sync_button.click()
    assert fake.commands == ["sync_now"]
    assert db.admin.execute("select count(*) as n from jobs").fetchone() == {"n": 1}
    await port.close()
    await settle(ctx)
