"""“Connect my MetaTrader 5”: the connection test against the simulator (a process of its own, as a
terminal is), the failures in a trader's words, a live account's confirmation, and Save pairing
this computer and pointing its agent at the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot
from tnm_desktop import keystore
from tnm_desktop.agent import pairing
from tnm_desktop.agent.target import SIMULATOR_PATH
from tnm_desktop.composition.services import AppAgents
from tnm_desktop.gui.pages.connect_mt5 import ConnectMt5Dialog
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator.catalog import AccountSpec
from tnm_desktop.terminal.simulator.model import new_state
from tnm_desktop.terminal.simulator.store import StateFile

from tests.conftest import MemoryKeyring
from tests.gui.conftest import MakeContext, close_at_test_end
from tests.gui.ea_agent_fixtures import save_screenshot
from tests.pg import User
from tests.waiting import eventually

SIMULATOR_ACCOUNT = 51234567


@pytest.fixture
def sim_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "agents"
    folder.mkdir()
    return folder


async def open_dialog(ctx: ViewContext, qtbot: QtBot, request: pytest.FixtureRequest, folder: Path,
                      ) -> ConnectMt5Dialog:
    agents = AppAgents(folder / "ea", folder / "simulator" / "state.json")
    ctx.services.agents = agents
    close_at_test_end(request.node, agents.close)  # stops the simulator process it started
    dialog = ConnectMt5Dialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    await eventually(lambda: dialog.terminal_box.findData(SIMULATOR_PATH) >= 0, what="the terminals listed")
    dialog.terminal_box.setCurrentIndex(dialog.terminal_box.findData(SIMULATOR_PATH))
    return dialog


def finding(dialog: ConnectMt5Dialog, name: str) -> str:
    label = dialog.findChild(QLabel, f"finding_{name}")
    assert label is not None, f"no {name} shown"
    return label.text()


async def test_a_demo_account_is_shown_and_saving_pairs_this_computer_to_trade_on_it(
        ctx_for: MakeContext, user: User, qtbot: QtBot, request: pytest.FixtureRequest, sim_dir: Path,
        isolated_keyring: MemoryKeyring, tmp_path: Path) -> None:
    ctx = await ctx_for(user)
    dialog = await open_dialog(ctx, qtbot, request, sim_dir)
    assert "Start on a demo account" in dialog.findChild(QLabel, "demoFirst").text()  # type: ignore[union-attr]
    assert not dialog.save_button.isEnabled()  # nothing tested yet
    dialog.login_edit.setText(str(SIMULATOR_ACCOUNT))
    dialog.server_edit.setText("TNM-Simulator")
    dialog.password_edit.setText("paper-password")
    dialog.test_button.click()
    await eventually(lambda: dialog.found is not None, within=120, what="the connection test")
    assert finding(dialog, "account") == f"{SIMULATOR_ACCOUNT} — Paper Trader"
    assert finding(dialog, "kind") == "Demo account (no real money)"
    assert finding(dialog, "algo_trading") == "On"
    assert finding(dialog, "broker_link") == "Yes"
    assert finding(dialog, "symbol_suffix").startswith("“.m” — EURUSD is EURUSD.m at this broker")
    assert "10,000.00" in finding(dialog, "balance")
    assert dialog.message.text() == "Connected. The agent can trade on this account."
    assert dialog.live_confirm.isHidden() and dialog.save_button.isEnabled()
    await save_screenshot(dialog, "connect-mt5.png", tmp_path)

    paired: list[object] = []
    ctx.agent.paired.connect(paired.append)
    dialog.save_button.click()
    await eventually(lambda: bool(paired), what="saved")
    (agent,) = [a for a in await ctx.services.data.list_agents() if a.paired]
    assert agent.terminal_path == SIMULATOR_PATH
    assert agent.mt5_login == SIMULATOR_ACCOUNT and agent.mt5_server == "TNM-Simulator"
    assert await pairing.load_credentials(agent.id) is not None  # the key is in the keyring
    assert keystore.get_secret(pairing.password_name(agent.id)) == "paper-password"
    assert dialog.password_edit.text() == ""  # it left the form once stored
    assert dialog.message.text().startswith("Saved.")


async def test_a_refused_login_says_what_to_check_and_nothing_can_be_saved(
        ctx_for: MakeContext, user: User, qtbot: QtBot, request: pytest.FixtureRequest, sim_dir: Path,
        tmp_path: Path) -> None:
    dialog = await open_dialog(await ctx_for(user), qtbot, request, sim_dir)
    dialog.login_edit.setText("999")
    dialog.test_button.click()
    await eventually(lambda: dialog.message.isVisible(), what="a message")
    assert dialog.message.text() == "Give the server too: the terminal needs it to log in to the account."
    dialog.server_edit.setText("Other-Server")
    dialog.test_button.click()
    await eventually(lambda: dialog.test_button.isEnabled() and "could not log in" in dialog.message.text(),
                     within=120, what="the refusal")
    assert dialog.message.text() == (
        "MetaTrader 5 could not log in to account 999 on Other-Server: Terminal: Authorization failed. Check the "
        "login, the password and the server name as the terminal's login window shows them.")
    assert dialog.found is None and not dialog.save_button.isEnabled()
    await save_screenshot(dialog, "connect-mt5-refused.png", tmp_path)


async def test_a_live_account_with_algo_trading_off_needs_a_confirmation_and_says_what_to_fix(
        ctx_for: MakeContext, user: User, qtbot: QtBot, request: pytest.FixtureRequest, sim_dir: Path,
        tmp_path: Path) -> None:
    # The simulator's books before it starts: a real-money account, the Algo Trading button off.
    state = new_state(now_ms=1_750_000_000_000, account=AccountSpec(trade_mode=mt5.ACCOUNT_TRADE_MODE_REAL))
    state.terminal.trade_allowed = False
    books, _ = StateFile(sim_dir / "simulator" / "state.json").open(lambda: state)
    books.close()
    dialog = await open_dialog(await ctx_for(user), qtbot, request, sim_dir)
    dialog.test_button.click()
    await eventually(lambda: dialog.found is not None, within=120, what="the connection test")
    assert finding(dialog, "kind") == "LIVE account — real money"
    assert finding(dialog, "algo_trading").startswith("Off — turn on the Algo Trading button")
    assert dialog.message.text().startswith("Connected, but the agent cannot trade yet")
    assert dialog.live_confirm.isVisible() and not dialog.save_button.isEnabled()
    await save_screenshot(dialog, "connect-mt5-live.png", tmp_path)
    dialog.live_confirm.setChecked(True)
    assert dialog.save_button.isEnabled()
    dialog.login_edit.setText("1")  # any edit: the test no longer describes what would be saved
    assert dialog.found is None and not dialog.save_button.isEnabled() and dialog.live_confirm.isHidden()


async def test_the_agent_pages_button_opens_it(ctx_for: MakeContext, user: User, qtbot: QtBot) -> None:
    from tnm_desktop.gui.pages.agent import AgentView

    ctx = await ctx_for(user)
    view = AgentView(ctx)
    qtbot.addWidget(view)
    view.show()
    view.connect_button.click()
    dialogs = [d for d in view.findChildren(ConnectMt5Dialog) if d.isVisible()]
    assert len(dialogs) == 1 and dialogs[0].windowTitle() == "Connect my MetaTrader 5"
    await eventually(lambda: dialogs[0].terminal_box.count() > 0, what="the terminals listed")
    dialogs[0].close()
