"""Parts of the shell: the profiles dialog, the crash dialog, the strategies model under change."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from tnm_desktop.domain import Strategy, StrategyStats
from tnm_desktop.gui.pages.strategies_model import StrategiesModel
from tnm_desktop.gui.shell.app import CrashReporter
from tnm_desktop.gui.shell.profiles_dialog import ProfilesDialog
from tnm_desktop.gui.shell.signin import SignInWindow
from tnm_desktop.gui.widgets.bridge import MessageBridge
from tnm_desktop.gui.widgets.tasks import TaskRunner
from tnm_desktop.profiles import ConnectionProfile, ProfileKind, ProfileStore

from tests.gui.conftest import close_at_test_end
from tests.gui.test_strategies import confirm
from tests.waiting import eventually


def fake_key(role: str) -> str:
    """A JWT-shaped Supabase key granting ``role`` (only its payload is read, never verified)."""
    payload = base64.urlsafe_b64encode(json.dumps({"role": role}).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.c2lnbmF0dXJl"


async def test_profiles_are_added_validated_inline_and_deleted(request: pytest.FixtureRequest, qtbot: QtBot,
                                                               tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles.json")
    first = store.upsert(ConnectionProfile.new("Desk", ProfileKind.LOCAL, workspace_dir=str(tmp_path / "ws")),
                         make_default=True)
    errors: list[str] = []
    tasks = TaskRunner(lambda exc: errors.append(exc.message), lambda exc: errors.append(repr(exc)))
    close_at_test_end(request.node, tasks.shutdown)
    signin = SignInWindow(tasks, store)
    qtbot.addWidget(signin)
    signin.set_profiles(*store.load())
    signin.manage.click()
    dialog = signin.findChild(ProfilesDialog)
    assert dialog is not None and dialog.name.text() == "Desk"

    dialog.add_cloud.click()
    assert dialog.cloud_kind.isChecked() and not dialog.folder.isEnabled()
    dialog.name.setText("Cloud")
    dialog.url.setText("https://abcd.supabase.co")
    dialog.anon_key.setText(fake_key("service_role"))
    dialog.save_button.click()
    assert dialog.message.text().startswith("This is a service_role (secret) key.")
    dialog.anon_key.setText(fake_key("anon"))
    dialog.webhook.setText("hooks.example.com")
    dialog.save_button.click()
    assert dialog.message.text() == "The webhook base URL must start with http:// or https://."
    dialog.webhook.setText("https://hooks.example.com")
    dialog.save_button.click()
    await eventually(lambda: signin.profile.count() == 2, what="the new profile in the sign-in window")
    assert [p.name for p in store.load()[0]] == ["Desk", "Cloud"]
    assert signin.profile.currentText() == "Desk"  # the selection stays

    dialog.list.setCurrentRow(0)
    dialog.delete_button.click()
    confirm(dialog, "Delete")
    await eventually(lambda: signin.profile.count() == 1, what="the profile gone")
    profiles, default = store.load()
    assert [p.name for p in profiles] == ["Cloud"] and default == profiles[0].id != first.id
    assert signin.where.text() == "Supabase project · https://abcd.supabase.co"
    assert errors == []


def test_a_crash_on_another_thread_opens_one_dialog_naming_the_log(qtbot: QtBot, tmp_path: Path) -> None:
    bridge = MessageBridge()
    reporter = CrashReporter(bridge, tmp_path / "tnm-desktop.log")
    worker = threading.Thread(target=lambda: bridge.crashed.emit(
        "Traceback …\nValueError: while posting to https://h.example/tv/0123456789abcdef0123"))
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: reporter.reports == 1)  # queued onto the GUI thread; no asyncio involved
    boxes = [w for w in qtbot_top_levels() if isinstance(w, QMessageBox) and w.isVisible()]
    assert len(boxes) == 1
    box = boxes[0]
    assert str(tmp_path / "tnm-desktop.log") in box.informativeText()
    assert "0123456789abcdef0123" not in box.detailedText() and "/tv/[secret]" in box.detailedText()
    bridge.crashed.emit("a second crash")
    assert reporter.reports == 2 and len([w for w in qtbot_top_levels() if isinstance(w, QMessageBox)
                                          and w.isVisible()]) == 1
    box.close()


def qtbot_top_levels() -> list[object]:
    from PySide6.QtWidgets import QApplication

    return list(QApplication.topLevelWidgets())


def strategy(name: str, n: int) -> Strategy:
    moment = datetime(2025, 11, 21, tzinfo=UTC)
    return Strategy(id=f"id-{n}", name=name, broker_connection_id="b", webhook_secret="s" * 48,
                    risk_override_pct=None, allowed_pairs=None, is_enabled=True, created_at=moment,
                    updated_at=moment)


def test_the_strategies_model_keeps_its_contract_through_changes(qtmodeltester: ModelTester) -> None:
    model = StrategiesModel()
    qtmodeltester.check(model)  # watches every change below
    model.set_all([strategy("Trend", 1), strategy("Breakout", 2)], {"b": "Broker"}, [])
    assert [model.strategy(r).name for r in range(2)] == ["Breakout", "Trend"]
    assert model.upsert(strategy("Alpha", 3)) == 0
    assert model.upsert(strategy("Zulu", 1)) == 2  # renamed: moves to its place by name
    assert model.upsert(strategy("Beta", 2)) == 1  # renamed in place
    model.set_stats([StrategyStats("id-2", None, 4)])
    assert model.data(model.index(1, 6)) == "4"
    model.remove("id-3")
    assert [model.strategy(r).name for r in range(model.rowCount())] == ["Beta", "Zulu"]
    qtmodeltester.check(model)


async def test_an_answer_for_an_object_deleted_meanwhile_is_dropped_also_when_a_lambda_wanted_it(
        request: pytest.FixtureRequest, qtbot: QtBot) -> None:
    from PySide6.QtCore import QObject, Signal
    from shiboken6 import Shiboken

    class Switch(QObject):  # like the trading switch: its answer arrives through a lambda
        changed = Signal(int)

    bugs: list[str] = []
    tasks = TaskRunner(lambda exc: bugs.append(exc.message), lambda exc: bugs.append(repr(exc)))
    close_at_test_end(request.node, tasks.shutdown)
    heard: list[int] = []
    alive, gone = Switch(), Switch()
    alive.changed.connect(heard.append)
    release = asyncio.Event()

    async def answer(value: int) -> int:
        await release.wait()
        return value

    tasks.spawn(answer(1), name="alive", on_result=lambda n: alive.changed.emit(n))
    tasks.spawn(answer(2), name="gone", on_result=lambda n: gone.changed.emit(n))
    Shiboken.delete(gone)  # the window closed while the reads were on their way
    release.set()
    await eventually(lambda: tasks.pending == 0, what="every answer in")
    await asyncio.sleep(0)  # the done callbacks run just after
    assert heard == [1] and bugs == []


async def test_shutdown_cancels_again_what_went_on_after_its_cancel_and_never_hangs(
        caplog: pytest.LogCaptureFixture) -> None:
    bugs: list[str] = []
    tasks = TaskRunner(lambda exc: bugs.append(exc.message), lambda exc: bugs.append(repr(exc)))
    cancels = {"deaf once": 0, "deaf": 0}
    hear = asyncio.Event()  # lets the deaf one stop at the end of the test

    async def deaf(name: str, times: float) -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancels[name] += 1
                if cancels[name] > times or hear.is_set():
                    raise

    once = tasks.spawn(deaf("deaf once", 1), name="deaf once")  # a cancel lost once, as to a wake-up
    never = tasks.spawn(deaf("deaf", float("inf")), name="deaf")  # a bug: it never stops
    obedient = tasks.spawn(asyncio.sleep(3600), name="obedient")
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(30):
            await tasks.shutdown(wait_s=2.5)
        assert loop.time() - started >= 2.5
        assert once.cancelled() and obedient.cancelled() and cancels["deaf once"] == 2
        assert not never.done() and cancels["deaf"] >= 3
        assert "left running at shutdown: deaf" in caplog.text and bugs == []
    finally:
        hear.set()
        never.cancel()
        await asyncio.wait([never], timeout=5)
