"""The first run as a trader meets it: the demo opens with the way on (Getting started, the demo
banner), Help → About says where everything is, signing out of the demo leads back to it, and a
local workspace says why it asks for an e-mail and a password."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QWidget
from tnm_desktop import runlog
from tnm_desktop.gui.pages.connect_mt5 import ConnectMt5Dialog
from tnm_desktop.gui.shell.about import AboutDialog
from tnm_desktop.gui.shell.guide import GettingStarted
from tnm_desktop.gui.shell.mainwindow import MainWindow
from tnm_desktop.gui.shell.signin import LOCAL_ACCOUNT, SUPABASE_ACCOUNT, SignInWindow
from tnm_desktop.gui.widgets.tasks import TaskRunner
from tnm_desktop.profiles import ConnectionProfile, ProfileKind, ProfileStore

from tests.gui.app_run import drive
from tests.gui.ea_agent_fixtures import SCREENSHOT_DIR_VARIABLE


def _shot(widget: QWidget, name: str, fallback: Path) -> None:
    folder = Path(os.environ.get(SCREENSHOT_DIR_VARIABLE) or fallback)
    folder.mkdir(parents=True, exist_ok=True)
    image = widget.grab().toImage()
    assert not image.isNull() and image.width() > 100
    assert image.save(str(folder / name))


def _help_menu(main: MainWindow) -> QMenu:
    menu = next(a.menu() for a in main.menuBar().actions() if a.text() == "&Help")
    assert isinstance(menu, QMenu)
    return menu


def _connect_dialog(main: MainWindow, press: Callable[[], None]) -> str:
    """Press a way to “Connect my MetaTrader 5”; the title of the dialog it opened (then closed)."""
    press()
    (dialog,) = [d for d in main.findChildren(ConnectMt5Dialog) if d.isVisible()]
    title = dialog.windowTitle()
    dialog.close()
    return title


@pytest.mark.usefixtures("qapp")
def test_the_demo_shows_the_way_on_and_signing_out_of_it_leads_back(machine: Path, tmp_path: Path) -> None:
    seen: dict[str, object] = {}
    windows_seen: list[MainWindow] = []

    def step(windows: list[QWidget]) -> bool:
        main = next((w for w in windows if isinstance(w, MainWindow)), None)
        signin = next((w for w in windows if isinstance(w, SignInWindow)), None)
        if "signed_out" not in seen:
            if main is None or main.building:
                return False
            if "about" not in seen:
                guide = main.guide  # opened by itself, the first time the demo opens
                if guide is None or not guide.isVisible():
                    return False
                windows_seen.append(main)
                seen["banner"] = (main.demo_banner.isVisible(), main.demo_banner.label.text(),
                                  main.demo_banner.button.text())
                seen["guide_steps"] = sorted(guide.buttons)
                help_actions = {a.text(): a for a in _help_menu(main).actions()}
                seen["help"] = list(help_actions)
                _shot(guide, "first-run-guide.png", tmp_path)
                # Every way on does what it says: the guide's steps, the banner's button, Help.
                pages: dict[str, bool] = {}
                for page in ("strategies", "signals"):
                    guide.buttons[page].click()
                    pages[page] = main.stack.currentWidget() is main.views[page]
                seen["guide_pages"] = pages
                seen["connect_from"] = {
                    "guide": _connect_dialog(main, guide.buttons["connect"].click),
                    "banner": _connect_dialog(main, main.demo_banner.button.click),
                    "help": _connect_dialog(main, help_actions["&Connect my MetaTrader 5…"].trigger),
                }
                guide.close()
                help_actions["&Getting started…"].trigger()
                seen["guide_again"] = main.guide is guide and guide.isVisible()  # left open: see below
                help_actions["&About TNM Desktop"].trigger()
                seen["about"] = main.about
                return False
            about = seen["about"]
            assert isinstance(about, AboutDialog)
            if about.values["PostgreSQL"].text() == "…":
                return False  # asked in a worker thread
            seen["about_values"] = {k: v.text() for k, v in about.values.items()}
            _shot(about, "about.png", tmp_path)
            main.sign_out_requested.emit()
            box = next(w for w in main.findChildren(QMessageBox) if w.isVisible())
            next(b for b in box.buttons() if b.text().replace("&", "") == "Sign out").click()
            seen["signed_out"] = True
            return False
        if "tried_demo" not in seen:
            if signin is None or main is not None or not signin.demo_button.isEnabled():
                return False
            profile = signin.selected_profile()
            seen["after_sign_out"] = (profile.name if profile else None, signin.email.text(),
                                      signin.password.text(), signin.explain.text(), signin.demo_button.isVisible())
            _shot(signin, "first-run-sign-in.png", tmp_path)
            signin.demo_button.click()
            seen["tried_demo"] = True
            return False
        if main is None or main.building or main in windows_seen:
            return False
        seen["back_in"] = main.windowTitle()
        seen["guide_shown_again"] = main.guide is not None  # Getting started opens by itself once
        main.open_about()
        main.close()
        return True

    try:
        status = drive(step, limit_s=150)
    except AssertionError as exc:
        # Widgets in ``seen`` may be deleted by now: their repr would raise instead of the failure.
        got = {k: v for k, v in seen.items() if not isinstance(v, QWidget)}
        raise AssertionError(f"got as far as {sorted(seen)}: {got}; {exc}") from None
    assert status == 0
    assert seen["banner"] == (True, "Demo workspace: paper money on a simulator — nothing reaches a broker.",
                              "Connect my MetaTrader 5…")
    assert seen["guide_steps"] == ["connect", "signals", "strategies"]
    assert seen["help"] == ["&Getting started…", "&Connect my MetaTrader 5…", "&About TNM Desktop"]
    assert seen["guide_pages"] == {"strategies": True, "signals": True}
    assert seen["connect_from"] == {"guide": "Connect my MetaTrader 5", "banner": "Connect my MetaTrader 5",
                                    "help": "Connect my MetaTrader 5"}
    assert seen["guide_again"] is True
    # Quitting with About open (below) closed it too: no window of the app outlives its main window.
    assert [type(w).__name__ for w in QApplication.topLevelWidgets()
            if isinstance(w, GettingStarted | AboutDialog) and w.isVisible()] == []
    values = seen["about_values"]
    assert isinstance(values, dict)
    data = machine / "data"
    assert values["Workspace"] == str(data / "demo")
    assert values["Data folder"] == str(data)
    ((log_file,),) = runlog.run_files(machine / "log").values()  # this run's log, the only one
    assert values["Log file"] == str(log_file)
    assert values["PostgreSQL"].startswith("PostgreSQL 18 (embedded, installed with the app)") or \
        values["PostgreSQL"].startswith("PostgreSQL 15 (this computer's)")  # the second test pass's kind
    assert "TNM Desktop stopped" in log_file.read_text(encoding="utf-8")
    after = seen["after_sign_out"]
    assert isinstance(after, tuple)
    name, email, password, explained, demo_offered = after
    assert (name, email, password, demo_offered) == ("Demo workspace", "demo@tnm.local", "demo-trader", True)
    assert "password demo-trader" in explained
    assert str(seen["back_in"]).startswith("TNM Desktop — demo@tnm.local")
    assert seen["guide_shown_again"] is False
    # The demo never went into the profiles file: it is offered, not saved.
    assert ProfileStore().load() == ([], None)


@pytest.mark.usefixtures("qapp")
def test_a_local_workspace_says_why_it_asks_for_an_email_and_a_password(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles.json")
    window = SignInWindow(TaskRunner(lambda _exc: None, lambda _exc: None), store)
    local = ConnectionProfile.new("Trading desk", ProfileKind.LOCAL, workspace_dir=str(tmp_path / "ws"))
    cloud = ConnectionProfile.new("TNM cloud", ProfileKind.SUPABASE, supabase_url="https://abcd.supabase.co")
    demo = ConnectionProfile(id="demo", name="Demo workspace", kind=ProfileKind.LOCAL,
                             workspace_dir=str(tmp_path / "demo"))
    window.set_profiles([local, cloud], local.id)
    window.set_demo(demo, "demo@tnm.local", "demo-trader")
    assert [window.profile.itemText(i) for i in range(window.profile.count())] == [
        "Trading desk", "TNM cloud", "Demo workspace"]
    assert window.explain.text() == LOCAL_ACCOUNT and "Create account" in LOCAL_ACCOUNT
    window.resize(600, 560)
    window.show()
    _shot(window, "sign-in-local.png", tmp_path)
    window.select_profile(cloud.id)
    assert window.explain.text() == SUPABASE_ACCOUNT
    window.select_profile("demo")
    assert (window.email.text(), window.password.text()) == ("demo@tnm.local", "demo-trader")
    window.select_profile(local.id)
    assert window.password.text() == ""  # the demo's password stays with the demo
    window.close()
