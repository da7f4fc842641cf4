"""GUI test fixtures: async tests on qasync's loop, and views over the real test database.

``ctx_for(user)`` gives a :class:`ViewContext` whose data port is a LocalAdapter signed in as
``user`` on the test's PostgreSQL database, with the app's own live subscription running. Any
crash report or unexpected task failure during the test fails it at teardown.

Wait with ``await tests.waiting.eventually(...)``, not ``qtbot.waitUntil``, for anything that
needs an asyncio task to make progress: waitUntil spins a nested Qt loop inside the test's own
task, and asyncio refuses to step another task there, so the condition never comes true.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
import pytest_asyncio
import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from tnm_desktop.data.local.adapter import LocalAdapter
from tnm_desktop.data.port import DataPort, LiveState
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.shell.session import GuiSession
from tnm_desktop.gui.widgets.bridge import MessageBridge
from tnm_desktop.profiles import ConnectionProfile, ProfileKind
from tnm_desktop.services import Services

from tests.gui.app_run import machine  # noqa: F401 — a fixture, for the tests that run the app
from tests.pg import Db, User
from tests.waiting import eventually

WEBHOOK_BASE = "https://hooks.example.com"


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], object]]:
    """Run this directory's async tests on qasync's loop, so Qt and asyncio share one thread."""

    def make() -> qasync.QEventLoop:
        existing = QApplication.instance()
        app = existing if isinstance(existing, QApplication) else QApplication([])
        # As in the app: closing the last window (a previous test's, at teardown) must not quit
        # the application, which would stop the next test's loop half-way.
        app.setQuitOnLastWindowClosed(False)
        return qasync.QEventLoop(app, already_running=False)

    return {"qt": make}


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread() -> Iterator[None]:
    """Collect a test's garbage here, on the GUI thread: left to chance, the cyclic GC runs in
    whatever thread allocates next — a later test's agent thread — and Qt objects destroyed there
    warn (and fail the test) because their timers belong to this thread."""
    yield
    gc.collect()


# The offscreen platform says this on every window shown; it is about the platform, not our code.
_OFFSCREEN_NOISE = "This plugin does not support propagateSizeHints"


# What each test opened that must close inside its loop (see _closing_sessions), last first.
CLOSERS = pytest.StashKey[list[Callable[[], Coroutine[Any, Any, None]]]]()


def close_at_test_end(node: pytest.Item, close: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Have ``close()`` awaited as the last thing the test does, inside its own loop."""
    node.stash.setdefault(CLOSERS, []).append(close)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Ignore the offscreen platform's own notices; close each async test's sessions inside its loop.

    Every other Qt warning still fails a test.
    """
    for item in items:
        if "tests/gui/" not in item.nodeid.replace("\\", "/"):
            continue
        item.add_marker(pytest.mark.qt_log_ignore(_OFFSCREEN_NOISE))
        test = getattr(item, "obj", None)
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(test):
            item.obj = _closing_sessions(item, test)


def _closing_sessions(item: pytest.Item, test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., Any]:
    # pytest-qt processes Qt events right after the test body, outside the asyncio loop; a task
    # still in flight would then be stepped with no running loop. So the sessions (their tasks,
    # live subscription and connections) are closed as the last thing the test itself does.
    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> None:
        try:
            await test(*args, **kwargs)
        finally:
            closers = item.stash.get(CLOSERS, [])
            for close in reversed(closers):
                await closed_within(close(), 20)

    return run


class MakeContext(Protocol):
    def __call__(self, user: User, *, data: DataPort | None = None, live: bool = True,
                 webhook_base_url: str = WEBHOOK_BASE) -> Awaitable[ViewContext]: ...


def local_adapter(db: Db, session_key: str = "session:gui-test") -> LocalAdapter:
    """A signed-out LocalAdapter on the test database (cheap bcrypt for new passwords)."""
    return LocalAdapter(db.cluster.conninfo(user="authenticator", dbname=db.name),
                        db.cluster.conninfo(user="supabase_auth_admin", dbname=db.name),
                        session_key, bcrypt_rounds=4)


def local_profile(workspace: Path, webhook_base_url: str = WEBHOOK_BASE) -> ConnectionProfile:
    """A local-workspace profile (its folder is not opened: the test database stands in)."""
    return ConnectionProfile.new("Test workspace", ProfileKind.LOCAL, workspace_dir=str(workspace),
                                 webhook_base_url=webhook_base_url)


async def closed_within(closing: Coroutine[Any, Any, None], seconds: float) -> None:
    """Await a shutdown; if it hangs, fail with every task's stack instead of hanging the suite."""
    try:
        await asyncio.wait_for(closing, seconds)
    except TimeoutError:
        stacks = io.StringIO()
        for task in asyncio.all_tasks():
            task.print_stack(file=stacks)
        pytest.fail(f"closing did not finish within {seconds} s; tasks:\n{stacks.getvalue()}")


@pytest.fixture
def gui_settings(tmp_path: Path) -> QSettings:
    """QSettings in a file of the test's own, never the user's."""
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def crashes() -> list[str]:
    """Crash reports raised during the test; a non-empty list fails it at teardown."""
    return []


@pytest_asyncio.fixture
async def ctx_for(request: pytest.FixtureRequest, db: Db, tmp_path: Path, gui_settings: QSettings,
                  crashes: list[str]) -> AsyncIterator[MakeContext]:
    """Build view contexts signed in as a user of the test database; close them after the test.

    Pass ``data`` to wrap the adapter (e.g. a slow backend); it must already be signed in.
    """
    sessions: list[GuiSession] = []

    async def make(user: User, *, data: DataPort | None = None, live: bool = True,
                   webhook_base_url: str = WEBHOOK_BASE) -> ViewContext:
        if data is None:
            data = local_adapter(db, f"session:{user.email}")
            await data.sign_in(user.email, user.password)
        services = Services(local_profile(tmp_path / "workspace", webhook_base_url), data)
        bridge = MessageBridge()
        bridge.crashed.connect(crashes.append)
        session = GuiSession(services, bridge, gui_settings)
        sessions.append(session)
        close_at_test_end(request.node, session.close)
        if live:
            await session.start_live()
            await eventually(lambda: session.ctx.live.state is LiveState.LIVE, what="live updates")
        return session.ctx

    yield make
    for session in reversed(sessions):
        await closed_within(session.close(), 20)
    assert not crashes, "crash reports during the test:\n" + "\n".join(crashes)


@pytest.fixture
def user(db: Db) -> User:
    """A signed-up user of the test database."""
    return db.create_user()
