"""Start-up, sign-in, remember me, sign-out: the app controller with its real windows and database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from PySide6.QtCore import QSettings
from tnm_desktop.composition.gui import choose_startup
from tnm_desktop.composition.services import open_services
from tnm_desktop.gui.shell.app import redact
from tnm_desktop.gui.shell.controller import AppController
from tnm_desktop.gui.widgets.bridge import MessageBridge
from tnm_desktop.profiles import ConnectionProfile, ProfileKind, ProfileStore
from tnm_desktop.services import Services

from tests.gui.conftest import close_at_test_end, local_adapter
from tests.gui.test_strategies import confirm
from tests.pg import Db, User
from tests.waiting import eventually

StartApp = Callable[[], Awaitable[AppController]]


@pytest.fixture
def store(tmp_path: Path) -> ProfileStore:
    """A profiles file with one local workspace profile, the default."""
    profiles = ProfileStore(tmp_path / "config" / "profiles.json")
    profiles.upsert(ConnectionProfile.new("My workspace", ProfileKind.LOCAL, workspace_dir=str(tmp_path / "ws")),
                    make_default=True)
    return profiles


@pytest_asyncio.fixture
async def start_app(request: pytest.FixtureRequest, db: Db, store: ProfileStore, gui_settings: QSettings,
                    crashes: list[str]) -> AsyncIterator[StartApp]:
    """Start app controllers as the app does, with the test database as every workspace's database."""
    started: list[AppController] = []

    async def open_services(profile: ConnectionProfile) -> Services:
        return Services(profile, local_adapter(db, profile.session_key))

    async def start() -> AppController:
        bridge = MessageBridge()
        bridge.crashed.connect(crashes.append)
        controller = AppController(bridge, gui_settings, store, choose_startup, open_services)
        started.append(controller)
        close_at_test_end(request.node, controller.shutdown)
        controller.start()
        return controller

    yield start
    for controller in started:
        await controller.shutdown()
        controller.signin.close()
        if controller.window is not None:
            controller.window.close()
    assert not crashes, "\n".join(crashes)


async def sign_in(controller: AppController, email: str, password: str, *, remember: bool = False,
                  create: bool = False) -> None:
    window = controller.signin
    await eventually(lambda: window.sign_in_button.isEnabled(), what="the sign-in window ready")
    window.email.setText(email)
    window.password.setText(password)
    window.remember.setChecked(remember)
    (window.create_button if create else window.sign_in_button).click()


async def test_wrong_password_then_sign_in_and_remember_me_restores_silently(
        start_app: StartApp, db: Db, user: User) -> None:
    first = await start_app()
    await eventually(lambda: first.signin.where.text().startswith("Local workspace · "), what="the profile")
    assert first.signin.isVisible()
    await sign_in(first, user.email, "not my password")
    await eventually(lambda: first.signin.message.text() != "", what="the refusal")
    assert first.signin.message.text() == "Wrong email or password."
    assert (first.window, first.signin.sign_in_button.isEnabled()) == (None, True)

    await sign_in(first, user.email, user.password, remember=True)
    await eventually(lambda: first.window is not None and first.window.isVisible(), what="the main window")
    assert not first.signin.isVisible()
    window = first.window
    assert window is not None
    assert user.email in window.windowTitle()
    await first.shutdown()
    window.close()

    # The next start: nobody types anything.
    second = await start_app()
    await eventually(lambda: second.window is not None and second.window.isVisible(), what="restored silently")
    assert second.signin.password.text() == "" and second.signin.message.text() == ""

    # Signing out forgets the remembered session.
    window = second.window
    assert window is not None
    window.sign_out_requested.emit()
    confirm(window, "Sign out")
    await eventually(lambda: second.window is None and second.signin.isVisible(), what="back to sign-in")
    await second.shutdown()
    second.signin.close()
    third = await start_app()
    await eventually(lambda: third.signin.sign_in_button.isEnabled(), what="no session to restore")
    assert third.window is None
    assert third.signin.email.text() == user.email  # the profile remembers the last email


async def test_create_an_account_in_a_local_workspace(start_app: StartApp, db: Db) -> None:
    app = await start_app()
    await sign_in(app, "new.trader@example.com", "short", create=True)
    await eventually(lambda: app.signin.message.text() != "", what="the refusal")
    assert app.signin.message.text() == "Use a password of at least 8 characters."
    await sign_in(app, "new.trader@example.com", "a long enough password", create=True)
    await eventually(lambda: app.window is not None, what="the main window")
    row = db.admin.execute("select count(*) as n from auth.users where email = 'new.trader@example.com'").fetchone()
    assert row == {"n": 1}


async def test_start_up_takes_the_folder_given_then_the_default_profile(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TNM_DATA_DIR", str(tmp_path / "data"))
    store = ProfileStore(tmp_path / "config" / "profiles.json")
    folder = tmp_path / "elsewhere"
    given = await choose_startup(store, workspace=folder)
    assert given.profile.workspace_dir == str(folder) and given.profile.name == "elsewhere"
    assert store.load() == ([], None)  # saved only once it opened (a mistyped folder must not stick)
    store.upsert(given.profile)  # as signing in to it does
    assert (await choose_startup(store, workspace=folder)).profile.id == given.profile.id  # found, not added again
    assert len(store.load()[0]) == 1

    chosen = store.upsert(ConnectionProfile.new("Mine", ProfileKind.LOCAL, workspace_dir=str(tmp_path / "m")),
                          make_default=True)
    startup = await choose_startup(store)
    assert startup.profile == chosen and startup.services is None and startup.restore
    # (With no profile at all the app opens the demo: tests/gui/test_demo_app.py.)


def test_logs_never_carry_secrets() -> None:
    line = ('POST https://hooks.example.com/tv/3f9a0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f failed; '
            'key pk_0123456789abcdef0123456789abcdef; {"refresh_token": "abc.def"} '
            'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl password=hunter22')
    clean = redact(line)
    for secret in ("3f9a0c1d2e3f4a5b", "89abcdef0123456789abcdef", "abc.def", "eyJhbGciOiJIUzI1NiJ9", "hunter22"):
        assert secret not in clean
    assert "/tv/[secret]" in clean and "pk_01234567…" in clean


@pytest.mark.parametrize("how", ["given with --workspace", "the default profile"])
async def test_a_folder_that_cannot_open_leaves_the_sign_in_window_usable_and_is_not_saved(
        request: pytest.FixtureRequest, tmp_path: Path, gui_settings: QSettings, crashes: list[str], how: str) -> None:
    # The real composition root on a "folder" that is a file: it cannot become a workspace.
    not_a_folder = tmp_path / "report.pdf"
    not_a_folder.write_text("%PDF")
    store = ProfileStore(tmp_path / "config" / "profiles.json")
    if how == "the default profile":
        store.upsert(ConnectionProfile.new("Reports", ProfileKind.LOCAL, workspace_dir=str(not_a_folder)),
                     make_default=True)
    saved = store.load()
    bridge = MessageBridge()
    bridge.crashed.connect(crashes.append)
    controller = AppController(bridge, gui_settings, store,
                               lambda s: choose_startup(s, workspace=not_a_folder if how.startswith("given") else None),
                               open_services)
    close_at_test_end(request.node, controller.shutdown)
    controller.start()
    window = controller.signin
    await eventually(lambda: window.message.text() != "", what="the reason")
    assert window.message.text() == (f"Cannot use the workspace folder {not_a_folder}: a file is in the way where a "
                                     "folder is needed. Choose a folder, or move that file away.")
    # Every way out works: another profile, Manage…, another try.
    assert all(w.isEnabled() for w in (window.sign_in_button, window.create_button, window.manage, window.profile))
    assert not window.busy.busy
    await sign_in(controller, "someone@example.com", "a long enough password")
    await eventually(lambda: not window.busy.busy and window.message.text() != "", what="the second refusal")
    assert window.message.text().startswith("Cannot use the workspace folder") and window.manage.isEnabled()
    assert store.load() == saved and not_a_folder.read_text() == "%PDF"
    window.close()
    assert not crashes, crashes
