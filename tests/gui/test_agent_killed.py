"""Issue 11's must-show: the headless demo's agent killed with SIGKILL, watched from the app.

Within two heartbeat periods the window shows the agent offline (status bar and Agent page), the tray
tells it once and the Telegram stand-in receives one message; the agent started again is told back
once. The agent is a process of its own (``tnm-desktop demo --headless``, 5 s heartbeats), which
also sends what it claims from the outbox: the app and the agent can both send, and the trader
still gets each event once.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import psycopg
import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot
from tnm_desktop.agent.pairing import secret_name
from tnm_desktop.data.local.adapter import LocalAdapter
from tnm_desktop.demo.seed import DEMO_EMAIL
from tnm_desktop.domain import Session
from tnm_desktop.domain.notifications import NotificationSettings
from tnm_desktop.gui.pages.agent import AgentView
from tnm_desktop.gui.shell.mainwindow import MainWindow
from tnm_desktop.gui.shell.session import GuiSession
from tnm_desktop.gui.widgets.bridge import MessageBridge
from tnm_desktop.keystore import SERVICE, FileKeyring
from tnm_desktop.notify.secrets import save_secret, telegram_token_name
from tnm_desktop.notify.telegram import API_ENV
from tnm_desktop.services import Services
from tnm_desktop.workspace import Workspace

from tests.conftest import reachable_tmpdir
from tests.fakes.telegram import FakeTelegram
from tests.gui.conftest import close_at_test_end, local_profile
from tests.gui.ea_agent_fixtures import save_screenshot
from tests.waiting import eventually

HEARTBEAT_S = 5.0
TOKEN = "123456:TEST-token"


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    bot = FakeTelegram().start()
    yield bot
    bot.stop()


class HeadlessDemo:
    """``tnm-desktop demo --headless`` with the Bot API stand-in in its environment."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tnm_desktop", "demo", "--headless", "--dir", str(root / "ws"), "--port", "0",
             "--heartbeat", f"{HEARTBEAT_S:g}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.info: dict[str, str] = {}
        assert self.process.stdout is not None
        deadline = time.monotonic() + 180
        while "agent_pid" not in self.info or not any(k.startswith("webhook.Gold") for k in self.info):
            assert time.monotonic() < deadline, "the demo did not start"
            line = self.process.stdout.readline()
            assert line, f"the demo exited with {self.process.wait()}"
            key, _, value = line.strip().partition("=")
            self.info[key] = value
        self.agents: list[subprocess.Popen[bytes]] = []

    def start_agent(self) -> subprocess.Popen[bytes]:
        agent = subprocess.Popen([sys.executable, "-m", "tnm_desktop", "agent", "--dir", str(self.root / "ws"),
                                  "--heartbeat", f"{HEARTBEAT_S:g}"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env=self.env, start_new_session=True)
        self.agents.append(agent)
        return agent

    def stop(self) -> None:
        for agent in self.agents:
            if agent.poll() is None:
                agent.terminate()
                agent.wait(30)
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def demo(telegram: FakeTelegram) -> Iterator[HeadlessDemo]:
    root = reachable_tmpdir("tnm-killed-")
    running = HeadlessDemo(root, {**os.environ, API_ENV: telegram.url})
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


def offline_messages(bot: FakeTelegram) -> list[str]:
    return [t for t in bot.texts() if t.startswith("TNM · Agent offline")]


@pytest.mark.slow
async def test_kill_9_offline_within_two_heartbeats_told_once_then_back_once(
        request: pytest.FixtureRequest, qtbot: QtBot, tmp_path: Path, gui_settings: QSettings,
        crashes: list[str], demo: HeadlessDemo, telegram: FakeTelegram) -> None:
    workspace = Workspace(demo.root / "ws")
    conns = workspace.connections()
    user_id = workspace.settings().demo_user_id
    assert user_id is not None
    data = LocalAdapter(conns.app, conns.auth, "session:killed-test")
    data.act_as(Session(user_id, DEMO_EMAIL, "local"))
    await data.update_notification_settings(NotificationSettings(telegram_enabled=True, telegram_chat_id="4242"))
    save_secret(telegram_token_name(user_id), TOKEN)  # this app's keyring…
    agents_keyring = FileKeyring(workspace.root / "keyring.json")
    agents_keyring.set_password(SERVICE, telegram_token_name(user_id), TOKEN)  # …and the agent's
    # The app beside the agent shares the machine's keyring: its Agent page finds the agent by its key.
    agent_id = workspace.settings().agent_id
    assert agent_id is not None
    pairing_key = agents_keyring.get_password(SERVICE, secret_name(agent_id))
    assert pairing_key is not None
    keyring.set_password(SERVICE, secret_name(agent_id), pairing_key)
    bridge = MessageBridge()
    bridge.crashed.connect(crashes.append)
    session = GuiSession(Services(local_profile(workspace.root), data), bridge, gui_settings)
    close_at_test_end(request.node, session.close)
    await session.start_live()
    session.start_notifications(telegram_api=telegram.url)
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.resize(1400, 860)
    window.show()
    told: list[tuple[str, str]] = []
    window.notifier.notify.connect(lambda title, text: told.append((title, text)))
    status = window.status.heartbeat
    await eventually(lambda: "Agent: alive" in status.text(), within=30, what="the agent alive")
    agent_view = window.view("agent")
    assert isinstance(agent_view, AgentView)

    os.kill(int(demo.info["agent_pid"]), signal.SIGKILL)
    killed = time.monotonic()
    await eventually(lambda: "offline" in status.text(), within=4 * HEARTBEAT_S, what="the agent shown offline")
    seen_after = time.monotonic() - killed
    print(f"\nshown offline {seen_after:.2f} s after the SIGKILL (two heartbeat periods: {2 * HEARTBEAT_S:g} s)")
    assert seen_after <= 2 * HEARTBEAT_S + 1.0, f"shown offline only after {seen_after:.1f} s"
    await eventually(lambda: agent_view.state_label.text() == "● Offline — no heartbeat", what="the Agent page")
    await eventually(lambda: len(offline_messages(telegram)) == 1, within=20, what="the Telegram message")
    await eventually(lambda: [t for t, _ in told] == ["Agent offline"], what="the tray")
    assert "This computer (demo) has sent no heartbeat since" in told[0][1]
    window.show_page("agent")
    await save_screenshot(window, "agent-offline.png", tmp_path)

    demo.start_agent()
    await eventually(lambda: "Agent: alive" in status.text(), within=60, what="the agent back")
    await eventually(lambda: any(t.startswith("TNM · Agent back") for t in telegram.texts()), within=20,
                     what="the back message")
    await eventually(lambda: [t for t, _ in told] == ["Agent offline", "Agent back"], what="the tray, back")
    await asyncio.sleep(3 * HEARTBEAT_S)  # two senders, several sweeps and heartbeats: still one message each
    assert len(offline_messages(telegram)) == 1
    assert len([t for t in telegram.texts() if t.startswith("TNM · Agent back")]) == 1
    assert [t for t, _ in told] == ["Agent offline", "Agent back"]
    claimers = claimers_of(conns.admin)
    assert claimers and all(c in ("the app", "the headless agent") for c in claimers)


def claimers_of(admin: str) -> list[str]:
    with psycopg.connect(admin) as conn:
        rows = conn.execute("select distinct split_part(claimed_by, ' on ', 1) from notification_deliveries").fetchall()
    return [str(r[0]) for r in rows]
