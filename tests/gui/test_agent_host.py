"""The agent inside the app: started at sign-in when this machine is paired, following pairing and revoking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from shiboken6 import Shiboken
from tnm_desktop import keystore
from tnm_desktop.agent import pairing
from tnm_desktop.composition.services import app_agents
from tnm_desktop.domain import AgentState
from tnm_desktop.gui.pages.agent import AgentView
from tnm_desktop.gui.shell.session import GuiSession
from tnm_desktop.gui.widgets.bridge import MessageBridge
from tnm_desktop.services import Services
from tnm_desktop.terminal.simulator.process import simulator_alive

from tests.gui.conftest import closed_within, local_adapter, local_profile
from tests.pg import Db, User
from tests.waiting import eventually


@pytest_asyncio.fixture
async def session(db: Db, user: User, tmp_path: Path, gui_settings: QSettings, crashes: list[str],
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[GuiSession]:
    """A signed-in window session whose simulator lives in a data folder of the test's own."""
    monkeypatch.setenv("TNM_DATA_DIR", str(tmp_path / "data"))
    data = local_adapter(db, f"session:{user.email}")
    await data.sign_in(user.email, user.password)
    bridge = MessageBridge()
    bridge.crashed.connect(crashes.append)
    # Owned by a QObject, as the app's controller owns its sessions: Python's cyclic GC may run on
    # the agent's thread, and must not be what destroys the session's Qt objects there.
    owner = QObject()
    services = Services(local_profile(tmp_path / "workspace"), data, agents=app_agents(None))
    opened = GuiSession(services, bridge, gui_settings, owner)
    await opened.start_live()
    yield opened
    if not opened.closed:
        await closed_within(opened.close(), 40)
    Shiboken.delete(owner)  # on the GUI thread, now
    assert not crashes, "\n".join(crashes)


def answer(box: QMessageBox | None, text: str) -> None:
    assert box is not None and box.isVisible()
    next(b for b in box.buttons() if b.text().replace("&", "") == text).click()


def agent_status(db: Db) -> object:
    row = db.admin.execute("select status from mt5_agents").fetchone()
    return None if row is None else row["status"]


def state(session: GuiSession) -> AgentState | None:
    control = session.ctx.agent.control
    return None if control is None else control.state


async def test_not_paired_nothing_runs_then_pairing_starts_it_and_revoking_stops_it(
        session: GuiSession, db: Db, tmp_path: Path, qtbot: QtBot) -> None:
    await session.start_agent()
    assert session.ctx.agent.control is None  # nothing paired on this machine

    view = AgentView(session.ctx)
    qtbot.addWidget(view)
    await eventually(lambda: not view.pairing.pair_button.isHidden(), what="the pair button")
    view.pairing.name_edit.setText("This PC")
    view.pairing.pair_button.click()
    await eventually(lambda: state(session) is AgentState.RUNNING, within=30, what="the agent running in the app")
    simulator = tmp_path / "data" / "simulator" / "state.json"
    assert simulator_alive(simulator)  # off Windows, a new agent trades on the simulator
    await eventually(lambda: view.state_label.text() == "● Running", what="the view showing it")
    await eventually(lambda: agent_status(db) == "running", what="its heartbeat in the database")

    view.pairing.revoke_button.click()
    answer(view.pairing.confirmation, "Revoke")
    await eventually(lambda: session.ctx.agent.control is None, within=30, what="the agent stopped")
    assert db.admin.execute("select revoked_at is not null as revoked from mt5_agents").fetchone() == {"revoked": True}

    await closed_within(session.close(), 40)
    assert not simulator_alive(simulator)  # the app started it, the app stopped it


async def test_a_machine_paired_before_runs_its_agent_at_sign_in_and_stops_it_on_close(
        session: GuiSession, db: Db, user: User, qtbot: QtBot) -> None:
    agent = db.create_agent(user)
    keystore.set_secret(pairing.secret_name(agent.id), agent.key)
    other = db.create_agent(user, "laptop")  # paired on another machine: its key is not here
    await session.start_agent()
    await eventually(lambda: state(session) is AgentState.RUNNING, within=30, what="the agent running")
    assert session.agent_host.agent_thread is not None
    assert session.agent_host.agent_thread.agent_id == agent.id != other.id
    thread = session.agent_host.agent_thread
    # The Agent page, built after the agent started, still shows what it said while starting.
    view = AgentView(session.ctx)
    qtbot.addWidget(view)
    lines = [view.log.index(row, 0).data() for row in range(view.log.rowCount())]
    assert any("terminal" in str(line).lower() for line in lines), lines
    await closed_within(session.close(), 40)
    assert thread.join(0) and thread.state is AgentState.STOPPED
