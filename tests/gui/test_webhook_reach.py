"""The Strategies page says when TradingView cannot reach the URLs it shows, and leads the way out:
another port when the pinned one is taken, a tunnel's address, or the Supabase project's function."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from tnm_desktop.composition.local_receiver import LocalReceiver
from tnm_desktop.gui.pages.settings import SettingsView
from tnm_desktop.gui.pages.strategies import StrategiesView
from tnm_desktop.gui.pages.webhook_reach import PortDialog, ReachDialog, describe_route, unreachable_hint
from tnm_desktop.profiles import ProfileKind, ProfileStore
from tnm_desktop.workspace import Workspace

from tests.gui.conftest import MakeContext
from tests.gui.seed import seed_broker, seed_strategy
from tests.pg import Db, User
from tests.waiting import eventually

MASK = "•" * 16


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@pytest.fixture
def receiver(db: Db, tmp_path: Path) -> Iterator[LocalReceiver]:
    """A workspace's receiver on the test database, pinned to a free port (not started yet)."""
    workspace = Workspace(tmp_path / "ws")
    workspace.update_settings(receiver_port=free_port())
    made = LocalReceiver(workspace, db.cluster.conninfo(user="tnm_ingest", dbname=db.name))
    yield made
    made.stop()


async def open_page(qtbot: QtBot, ctx_for: MakeContext, db: Db, user: User, tmp_path: Path,
                    receiver: LocalReceiver | None = None, **profile: str) -> StrategiesView:
    seed_strategy(db, user, "London breakout", seed_broker(db, user, "IC Markets Demo"))
    ctx = await ctx_for(user, webhook_base_url=profile.pop("webhook_base_url", ""))
    ctx.services.receiver = receiver
    if profile:
        ctx.services.profile = replace(ctx.services.profile, **profile)  # type: ignore[arg-type]
    view = StrategiesView(ctx, store=ProfileStore(tmp_path / "profiles.json"))
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    await eventually(lambda: not view.busy.busy and view.webhook.strategy is not None, what="strategies loaded")
    return view


async def test_the_loopback_url_is_shown_with_a_warning_and_a_tunnel_fixes_it(
        qtbot: QtBot, ctx_for: MakeContext, db: Db, user: User, tmp_path: Path, receiver: LocalReceiver) -> None:
    receiver.start()
    view = await open_page(qtbot, ctx_for, db, user, tmp_path, receiver)
    assert view.webhook.url.text() == f"http://127.0.0.1:{receiver.port}/tv/{MASK}"
    assert view.reach.kind == "unreachable" and not view.reach.isHidden()
    assert view.reach.label.text().startswith("TradingView cannot reach 127.0.0.1: it is this computer's own "
                                              "address")

    view.reach.button.click()
    dialog = view.findChild(ReachDialog)
    assert dialog is not None and dialog.isVisible()
    steps = dialog.steps.toPlainText()
    assert f"cloudflared tunnel run --url http://127.0.0.1:{receiver.port} tnm" in steps
    assert f"tailscale funnel --bg {receiver.port}" in steps and f"ngrok http {receiver.port}" in steps
    assert "paid plan and two-factor authentication" in steps

    dialog.base.setText("https://desk.example.net/")
    dialog.save.click()
    await eventually(lambda: view.reach.isHidden(), what="the warning gone")
    assert view.webhook.url.text() == f"https://desk.example.net/tv/{MASK}"
    assert "Saved. Webhook URLs now start with https://desk.example.net/tv/" in dialog.message.text()
    stored, _ = ProfileStore(tmp_path / "profiles.json").load()
    assert [p.webhook_base_url for p in stored] == ["https://desk.example.net"]
    assert describe_route(view._ctx) == "Sent through https://desk.example.net, as TradingView will send it."
    assert unreachable_hint(view._ctx, "desk.example.net") == (
        f"Nothing answered at desk.example.net — is your tunnel running, pointed to port {receiver.port}, and "
        "the app's receiver too?")


async def test_a_taken_port_is_said_and_another_is_chosen_without_the_url_moving_by_itself(
        qtbot: QtBot, ctx_for: MakeContext, db: Db, user: User, tmp_path: Path, busy_port: int) -> None:
    workspace = Workspace(tmp_path / "ws")
    workspace.update_settings(receiver_port=busy_port)
    receiver = LocalReceiver(workspace, db.cluster.conninfo(user="tnm_ingest", dbname=db.name))
    with pytest.raises(Exception, match="in use"):
        receiver.start()
    try:
        view = await open_page(qtbot, ctx_for, db, user, tmp_path, receiver)
        assert view.reach.kind == "port"
        assert view.reach.label.text().startswith(f"Port {busy_port} is in use by another program.")
        assert view.reach.button.text() == "Choose another port…"
        assert view.webhook.url.text() == f"http://127.0.0.1:{busy_port}/tv/{MASK}"  # never another port

        view.reach.button.click()
        dialog = view.findChild(PortDialog)
        assert dialog is not None
        dialog.port.setValue(busy_port)  # still taken: said, nothing changes
        dialog.use.click()
        await eventually(lambda: dialog.message.text() != "", what="the refusal")
        assert dialog.message.text() == f"Port {busy_port} is in use by another program. Choose another."
        assert workspace.settings().receiver_port == busy_port

        chosen = free_port()
        dialog.port.setValue(chosen)
        dialog.use.click()
        await eventually(lambda: receiver.running, what="the receiver listening")
        await eventually(lambda: view.webhook.url.text() == f"http://127.0.0.1:{chosen}/tv/{MASK}", what="new URL")
        assert workspace.settings().receiver_port == chosen
        assert view.reach.kind == "unreachable"  # listening now, still this computer's own address
        assert view.message.text().startswith(f"The webhook URLs now start with http://127.0.0.1:{chosen}/tv/")
    finally:
        receiver.stop()


async def test_a_supabase_project_shows_its_edge_function(qtbot: QtBot, ctx_for: MakeContext, db: Db, user: User,
                                                          tmp_path: Path) -> None:
    view = await open_page(qtbot, ctx_for, db, user, tmp_path, kind=ProfileKind.SUPABASE,
                           supabase_url="https://abcd1234.supabase.co")
    assert view.webhook.url.text() == f"https://abcd1234.supabase.co/functions/v1/tv/{MASK}"
    assert view.reach.isHidden()
    assert describe_route(view._ctx) == "Sent to your Supabase project's Edge Function, as TradingView will send it."


async def test_settings_moves_the_receiver_to_another_port(qtbot: QtBot, ctx_for: MakeContext, db: Db, user: User,
                                                           tmp_path: Path, receiver: LocalReceiver,
                                                           busy_port: int) -> None:
    receiver.start()
    ctx = await ctx_for(user, webhook_base_url="")
    ctx.services.receiver = receiver
    view = SettingsView(ctx, store=ProfileStore(tmp_path / "profiles.json"))
    qtbot.addWidget(view)
    view.show()
    assert view.receiver_port.value() == receiver.port and "listens on port" in view.port_state.text()

    view.receiver_port.setValue(busy_port)
    view.apply_port.click()
    await eventually(lambda: view.webhook_message.text() != "", what="the refusal")
    assert view.webhook_message.text() == f"Port {busy_port} is in use by another program."
    assert view.receiver_port.value() == receiver.port  # back to the port in use

    chosen = free_port()
    view.receiver_port.setValue(chosen)
    view.apply_port.click()
    await eventually(lambda: "listens at" in view.webhook_message.text(), what="the move")
    assert receiver.port == chosen and receiver.running
    assert view.webhook_message.text().startswith(f"The receiver listens at http://127.0.0.1:{chosen} now.")
