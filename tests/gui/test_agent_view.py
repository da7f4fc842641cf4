"""The Agent view: pairing keeps the key out of the GUI and the database; the panels follow the agent."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
from PySide6.QtWidgets import QLabel, QLineEdit, QMessageBox
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from tnm_desktop import keystore
from tnm_desktop.agent import pairing
from tnm_desktop.agent.events import HeartbeatSent, JobFinished, JobStarted, LogLine, StateChanged, TerminalSeen
from tnm_desktop.agent.target import TargetKind, TerminalTarget
from tnm_desktop.domain import AgentState, Job, JobRequest, JobStatus, JobType
from tnm_desktop.gui.pages.agent import AgentView
from tnm_desktop.gui.widgets.job_table import JobTableModel

from tests.conftest import MemoryKeyring
from tests.gui.conftest import MakeContext
from tests.gui.ea_agent_fixtures import FakeAgent, agent_port, claim, save_screenshot, settle
from tests.pg import Db, User
from tests.waiting import eventually

LOG = [("info", "Connected to the terminal."),
       ("info", "Checked against the terminal; waiting for alerts and requests."),
       ("info", "Account synced."),
       ("warning", "Trade stopped after 412 ms; it will be tried again: the price changed (requote 10004)."),
       ("info", "Trade done in 14 ms"),
       ("info", "Close position done in 11 ms")]


def texts_of(view: AgentView) -> list[str]:
    """Every text a label or field of the view holds."""
    return [w.text() for w in view.findChildren(QLabel)] + [w.text() for w in view.findChildren(QLineEdit)]


def answer(box: QMessageBox | None, text: str) -> None:
    """Click the button labelled ``text`` of an open question."""
    assert box is not None and box.isVisible()
    button = next(b for b in box.buttons() if b.text().replace("&", "") == text)
    button.click()


async def open_view(ctx_for: MakeContext, user: User, qtbot: QtBot) -> AgentView:
    view = AgentView(await ctx_for(user))
    qtbot.addWidget(view)
    view.resize(1280, 760)
    return view


async def test_pairing_shows_the_prefix_keeps_the_key_in_the_keyring_and_only_its_hash_online(
        ctx_for: MakeContext, db: Db, user: User, qtbot: QtBot, isolated_keyring: MemoryKeyring) -> None:
    view = await open_view(ctx_for, user, qtbot)
    await eventually(lambda: not view.pairing.pair_button.isHidden(), what="the pair button")
    assert view.state_label.text() == "● Not paired"
    view.pairing.name_edit.setText("Desk PC")
    view.pairing.pair_button.click()
    await eventually(lambda: view.agent is not None, what="pairing")
    assert view.agent is not None
    agent_id = view.agent.id

    key = isolated_keyring.get_password(keystore.SERVICE, pairing.secret_name(agent_id))
    assert key is not None and re.fullmatch(r"pk_[0-9a-f]{64}", key)
    assert view.pairing.key_label.text() == f"{key[:11]}…"
    assert all(key not in text for text in texts_of(view))
    row = db.admin.execute("select name, pairing_key_hash, pairing_key_sha256, pairing_key_prefix, "
                           "row_to_json(a)::text as everything from mt5_agents a where id = %s", (agent_id,)).fetchone()
    assert row is not None and row["name"] == "Desk PC" and row["pairing_key_prefix"] == key[:11]
    assert str(row["pairing_key_hash"]).startswith("$2a$")
    assert bcrypt.checkpw(key.encode(), str(row["pairing_key_hash"]).encode())
    assert row["pairing_key_sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(row["everything"])

    # Re-pair: asked first; a new key replaces the old one everywhere.
    view.pairing.repair_button.click()
    answer(view.pairing.confirmation, "Re-pair")
    await eventually(lambda: isolated_keyring.get_password(keystore.SERVICE, pairing.secret_name(agent_id)) != key,
                     what="the new key")
    new_key = isolated_keyring.get_password(keystore.SERVICE, pairing.secret_name(agent_id))
    assert new_key is not None
    await eventually(lambda: view.pairing.key_label.text() == f"{new_key[:11]}…", what="the new prefix")
    stored = db.admin.execute("select pairing_key_hash, pairing_key_sha256 from mt5_agents where id = %s",
                              (agent_id,)).fetchone()
    assert stored is not None and not bcrypt.checkpw(key.encode(), str(stored["pairing_key_hash"]).encode())
    assert stored["pairing_key_sha256"] == hashlib.sha256(new_key.encode()).hexdigest()

    # Revoke: Cancel changes nothing; confirming revokes it and forgets the key here.
    view.pairing.revoke_button.click()
    answer(view.pairing.confirmation, "Cancel")
    assert db.admin.execute("select revoked_at from mt5_agents").fetchone() == {"revoked_at": None}
    view.pairing.revoke_button.click()
    answer(view.pairing.confirmation, "Revoke")
    await eventually(lambda: not view.pairing.pair_button.isHidden(), what="the pair button again")
    assert db.admin.execute("select revoked_at is not null as revoked from mt5_agents").fetchone() == {"revoked": True}
    assert isolated_keyring.get_password(keystore.SERVICE, pairing.secret_name(agent_id)) is None
    await settle(view.ctx)


async def test_terminal_settings_go_to_the_agent_row_and_the_password_only_to_the_keyring(
        ctx_for: MakeContext, db: Db, user: User, qtbot: QtBot, isolated_keyring: MemoryKeyring) -> None:
    agent = db.create_agent(user)
    keystore.set_secret(pairing.secret_name(agent.id), agent.key)
    view = await open_view(ctx_for, user, qtbot)
    await eventually(lambda: view.terminal.isEnabled(), what="this machine's agent")
    settings = view.terminal

    # mt5linux runs any Python it is sent: only a loopback address is accepted.
    settings.kind_box.setCurrentIndex(settings.kind_box.findData(TargetKind.MT5LINUX.value))
    settings.location_edit.setText("192.168.1.20:18812")
    settings.save_button.click()
    assert "must be on this machine" in settings.message.text()

    settings.kind_box.setCurrentIndex(settings.kind_box.findData(TargetKind.MT5.value))
    settings.location_edit.setText(r"C:\Program Files\MetaTrader 5\terminal64.exe")
    settings.login_edit.setText("51234567")
    settings.server_edit.setText("MetaQuotes-Demo")
    settings.password_edit.setText("hunter2 but longer")
    settings.save_button.click()
    await eventually(lambda: settings.message.text().startswith("Saved"), what="the settings saved")

    assert settings.password_edit.text() == ""
    assert "Stored in the keyring" in settings.password_edit.placeholderText()
    assert isolated_keyring.get_password(keystore.SERVICE, pairing.password_name(agent.id)) == "hunter2 but longer"
    row = db.admin.execute("select terminal_path, mt5_login, mt5_server, row_to_json(a)::text as everything "
                           "from mt5_agents a where id = %s", (agent.id,)).fetchone()
    assert row is not None
    assert (row["terminal_path"], row["mt5_login"], row["mt5_server"]) == \
        (r"C:\Program Files\MetaTrader 5\terminal64.exe", 51234567, "MetaQuotes-Demo")
    assert "hunter2" not in str(row["everything"])

    settings.kind_box.setCurrentIndex(settings.kind_box.findData(TargetKind.SIMULATOR.value))
    settings.save_button.click()
    await eventually(lambda: db.admin.execute("select terminal_path from mt5_agents").fetchone()
                     == {"terminal_path": "simulator:"}, what="the simulator saved")
    assert TerminalTarget.parse("simulator:").kind is TargetKind.SIMULATOR
    # Saving without typing a password keeps the stored one.
    assert isolated_keyring.get_password(keystore.SERVICE, pairing.password_name(agent.id)) == "hunter2 but longer"
    await settle(view.ctx)


async def test_state_heartbeat_jobs_and_log_follow_the_agents_events(
        ctx_for: MakeContext, db: Db, user: User, qtbot: QtBot, qtmodeltester: ModelTester, tmp_path: Path) -> None:
    agent = db.create_agent(user)
    keystore.set_secret(pairing.secret_name(agent.id), agent.key)
    db.admin.execute("update mt5_agents set terminal_path = %s, mt5_login = 5001, mt5_server = 'Demo-Server' "
                     "where id = %s", (r"C:\Program Files\MetaTrader 5\terminal64.exe", agent.id))
    ctx = await ctx_for(user)
    fake = FakeAgent()
    ctx.agent.attach(fake)
    view = AgentView(ctx)
    qtbot.addWidget(view)
    view.resize(1280, 760)
    view.show()
    await eventually(lambda: view.agent is not None and view.agent.id == agent.id, what="this machine's agent")
    # The terminal form shows what the agent's row says.
    assert view.terminal.kind is TargetKind.MT5
    assert view.terminal.location_edit.text() == r"C:\Program Files\MetaTrader 5\terminal64.exe"
    assert (view.terminal.login_edit.text(), view.terminal.server_edit.text()) == ("5001", "Demo-Server")

    assert view.start_button.isEnabled() and not view.stop_button.isEnabled()
    view.start_button.click()
    assert fake.commands == ["start"]
    await eventually(lambda: view.state_label.text() == "● Running", what="running")
    assert view.stop_button.isEnabled() and view.pause_button.text() == "Pause"
    view.pause_button.click()
    await eventually(lambda: view.pause_button.text() == "Resume", what="paused")
    assert view.detail_label.text() == "Paused by the user."
    view.pause_button.click()
    assert fake.commands == ["start", "pause", "resume"]

    fake.emit(HeartbeatSent(datetime.now(UTC) - timedelta(seconds=2)),
              TerminalSeen(connected=True, trade_allowed=False, login=5001, server="Demo-Server", balance=10_000,
                           equity=10_125.5, currency="USD"))
    await eventually(lambda: view.heartbeat_label.text().endswith("alive 2 s ago"), what="the heartbeat")
    # It keeps counting without another heartbeat.
    await eventually(lambda: (m := re.search(r"alive (\d+) s ago$", view.heartbeat_label.text())) is not None
                     and int(m.group(1)) >= 3, within=10, what="a second later")
    assert "5001 · Demo-Server" in view.terminal_label.text() and "algo trading off" in view.terminal_label.text()

    # A job the agent claims and completes, as the real agent reports it: events and the database row.
    job = await ctx.services.data.enqueue_job(JobRequest(JobType.GET_ACCOUNT, target_agent_id=agent.id))
    await eventually(lambda: view.jobs.row_of(job.id) == 0, what="the queued job")
    port, creds = await agent_port(db, agent)
    claimed = await claim(port, creds)
    fake.emit(JobStarted(job.id, "get_account", datetime.now(UTC)))
    await eventually(lambda: view.jobs.data(view.jobs.index(0, JobTableModel.COL_STATUS)) == "Running",
                     what="running job")
    await port.complete_job(creds, claimed, {"message": "Balance 10,000.00 USD"})
    fake.emit(JobFinished(job.id, "get_account", "completed", 1234, "Balance 10,000.00 USD"))
    await eventually(lambda: view.jobs.data(view.jobs.index(0, JobTableModel.COL_STATUS)) == "Done", what="done")
    # Both sources arrive, in either order: the row from the database, the duration from the agent.
    await eventually(lambda: (r := view.jobs.find(job.id)) is not None and r.job is not None
                     and r.job.status.value == "completed" and r.duration_ms == 1234, what="the completed row")
    assert view.jobs.data(view.jobs.index(0, JobTableModel.COL_DURATION)) == "1.23 s"
    assert view.jobs.data(view.jobs.index(0, JobTableModel.COL_RESULT)) == "Balance 10,000.00 USD"

    # A job that fails: its outcome and the broker's message.
    trade = await ctx.services.data.enqueue_job(JobRequest(
        JobType.TRADE, {"symbol": "GBPUSD", "action": "buy", "volume": 0.1}, target_agent_id=agent.id, max_attempts=1))
    claimed = await claim(port, creds)
    assert claimed.job.id == trade.id
    fake.emit(JobStarted(trade.id, "trade", datetime.now(UTC)))
    await port.fail_job(creds, claimed, "Market is closed (10018)", code="market_closed")
    fake.emit(JobFinished(trade.id, "trade", "failed", 87, "Market is closed (10018)"))
    await eventually(lambda: (r := view.jobs.find(trade.id)) is not None and r.job is not None
                     and r.job.status.value == "failed" and r.duration_ms == 87, what="the failed trade")
    at = view.jobs.row_of(trade.id)
    assert view.jobs.data(view.jobs.index(at, JobTableModel.COL_STATUS)) == "Failed"
    assert view.jobs.data(view.jobs.index(at, JobTableModel.COL_RESULT)) == "Market is closed (10018)"
    assert view.jobs.data(view.jobs.index(at, JobTableModel.COL_DURATION)) == "87 ms"
    assert view.jobs.data(view.jobs.index(at, JobTableModel.COL_DETAIL)) == "GBPUSD buy 0.1"
    await port.close()

    # The log: capped, following new lines until the user scrolls up.
    view.log.limit = 40
    start = datetime.now(UTC) - timedelta(minutes=10)
    lines = [LogLine(start + timedelta(seconds=10 * i), *LOG[i % len(LOG)]) for i in range(60)]
    fake.emit(*lines)
    await eventually(lambda: view.log.rowCount() == 40 and view.log.lines()[-1] == lines[-1], what="the log")
    assert view.log.lines() == lines[20:]  # the oldest twenty are gone
    bar = view.log_view.verticalScrollBar()
    await eventually(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), what="following the log")
    bar.setValue(0)
    assert not view.following_log
    fake.emit(LogLine(datetime.now(UTC), "info", "Account synced."))
    await eventually(lambda: view.log.rowCount() == 40 and view.log.lines()[0] == lines[21], what="the new line")
    assert bar.value() == 0  # the user's place is kept
    bar.setValue(bar.maximum())
    fake.emit(LogLine(datetime.now(UTC), "error", "Auto-trading is disabled in MetaTrader: stopping."))
    await eventually(lambda: bar.value() == bar.maximum() and view.log.lines()[-1].level == "error", what="following")

    fake.emit(StateChanged(AgentState.STOPPED, "Auto-trading is disabled in MetaTrader"))
    await eventually(lambda: view.state_label.text() == "● Stopped", what="stopped")
    assert view.detail_label.text() == "Auto-trading is disabled in MetaTrader"
    assert view.start_button.isEnabled() and not view.stop_button.isEnabled()

    qtmodeltester.check(view.jobs)
    qtmodeltester.check(view.log)
    await save_screenshot(view, "agent.png", tmp_path)
    await settle(ctx)


def _job(status: str, *, started: datetime | None, completed: datetime | None) -> Job:
    base = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    return Job(id="j1", job_type=JobType.TRADE, payload={"symbol": "EURUSD", "action": "sell"},
               status=JobStatus(status), result=None, error_message="Market is closed" if status == "failed" else None,
               error_code=None, agent_id="a1", target_agent_id="a1", ea_project_id=None, attempts=1,
               max_attempts=1, intent=None, created_at=base, claimed_at=started, started_at=None, sent_at=None,
               completed_at=completed, lease_expires_at=None)


def test_job_rows_merge_the_database_and_the_agents_events_in_either_order(qtmodeltester: ModelTester) -> None:
    start = datetime.now(UTC) - timedelta(seconds=2)
    running = _job("running", started=start, completed=None)
    failed = _job("failed", started=start, completed=start + timedelta(milliseconds=40))
    finished = JobFinished("j1", "trade", "failed", 87, "Market is closed")
    orders: dict[str, list[Job | JobFinished]] = {
        "agent first": [running, finished, failed],
        "database first": [running, failed, finished],
        "a late re-read of the running row": [running, finished, running, failed],
    }
    for name, steps in orders.items():
        model = JobTableModel()
        for step in steps:
            if isinstance(step, JobFinished):
                model.note_finished(step)
            else:
                model.upsert_job(step)
        row = model.find("j1")
        assert row is not None and model.rowCount() == 1, name
        assert (row.status, row.duration_ms, row.message) == ("failed", 87, "Market is closed"), name
        assert model.data(model.index(0, JobTableModel.COL_DETAIL)) == "EURUSD sell"
        qtmodeltester.check(model)
    # A retry that starts after the agent's finish is news.
    model = JobTableModel()
    model.upsert_job(running)
    model.note_finished(JobFinished("j1", "trade", "retrying", 50, "Requote"))
    model.upsert_job(_job("running", started=datetime.now(UTC) + timedelta(seconds=1), completed=None))
    assert model.data(model.index(0, JobTableModel.COL_STATUS)) == "Running"
