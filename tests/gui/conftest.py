"""GUI test fixtures: async tests on qasync's loop, and views over the real test database.

``ctx_for(user)`` gives a :class:`ViewContext` whose data port is a LocalAdapter signed in as
``user`` on the test's PostgreSQL database, with the app's own live subscription running. Any
crash report or unexpected task failure during the test fails it at teardown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Protocol

import pytest
import pytest_asyncio
import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from tnm_desktop.data.local.adapter import LocalAdapter
from tnm_desktop.data.port import DataPort, LiveState
from tnm_desktop.gui.bridge import MessageBridge
from tnm_desktop.gui.context import ViewContext
from tnm_desktop.gui.session import GuiSession
from tnm_desktop.profiles import ConnectionProfile, ProfileKind
from tnm_desktop.services import Services

from tests.pg import Db, User
from tests.waiting import eventually

WEBHOOK_BASE = "https://hooks.example.com"


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], object]]:
    """Run this directory's async tests on qasync's loop, so Qt and asyncio share one thread."""

    def make() -> qasync.QEventLoop:
        app = QApplication.instance() or QApplication([])
        return qasync.QEventLoop(app, already_running=False)

    return {"qt": make}


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


@pytest.fixture
def gui_settings(tmp_path: Path) -> QSettings:
    """QSettings in a file of the test's own, never the user's."""
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def crashes() -> list[str]:
    """Crash reports raised during the test; a non-empty list fails it at teardown."""
    return []


@pytest_asyncio.fixture
async def ctx_for(db: Db, tmp_path: Path, gui_settings: QSettings,
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
        if live:
            await session.start_live()
            await eventually(lambda: session.ctx.live.state is LiveState.LIVE, what="live updates")
        return session.ctx

    yield make
    for session in reversed(sessions):
        await session.close()
    assert not crashes, "crash reports during the test:\n" + "\n".join(crashes)


@pytest.fixture
def user(db: Db) -> User:
    """A signed-up user of the test database."""
    return db.create_user()
