"""The app's windows over time: start-up, sign-in, the main window, sign-out, shutdown.

Opening a profile's services (for a local workspace: starting its PostgreSQL) happens in a task
and is shared: the start-up restore, a sign-in and a profile switch await the same opening.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

from PySide6.QtCore import QObject, QSettings

from tnm_desktop.errors import TnmError
from tnm_desktop.gui.shell.mainwindow import MainWindow
from tnm_desktop.gui.shell.navigation import import_views
from tnm_desktop.gui.shell.session import GuiSession
from tnm_desktop.gui.shell.signin import SignInWindow
from tnm_desktop.gui.widgets import ask
from tnm_desktop.gui.widgets.bridge import MessageBridge
from tnm_desktop.gui.widgets.tasks import TaskRunner
from tnm_desktop.profiles import ConnectionProfile, ProfileKind, ProfileStore
from tnm_desktop.services import Services

log = logging.getLogger(__name__)

OpenServices = Callable[[ConnectionProfile], Coroutine[Any, Any, Services]]


@dataclass(frozen=True)
class StartUp:
    """What the app starts with.

    Attributes:
        profile: The profile to select in the sign-in window and to open.
        services: Services opened already (the demo opens its own), else the app opens them.
        restore: Try the profile's remembered session silently.
    """

    profile: ConnectionProfile
    services: Services | None = None
    restore: bool = True


ChooseStartUp = Callable[[ProfileStore], Awaitable[StartUp]]


@dataclass(frozen=True)
class DemoEntry:
    """The demo, always offered in the sign-in window ("Try the demo"), so that signing out of it
    is never a dead end.

    Attributes:
        profile: The demo workspace's profile (not in the profiles file; ``open_services`` opens it).
        email: The demo trader's e-mail.
        password: The demo trader's password (documented in the README; the demo holds paper money).
    """

    profile: ConnectionProfile
    email: str
    password: str = field(repr=False)


def _where(profile: ConnectionProfile) -> tuple[object, ...]:
    # Services depend on where the data is, not on the profile's name or webhook base URL.
    return (profile.id, profile.kind, profile.workspace_dir, profile.supabase_url, profile.anon_key)


class AppController(QObject):
    """Drives the windows and owns every open service until shutdown.

    Args:
        bridge: User messages and crash reports.
        settings: Layout and preferences.
        store: The profiles file.
        choose: Picks the start-up profile (the app's start-up seam).
        open_services: Builds a profile's services (the composition root).
    """

    def __init__(self, bridge: MessageBridge, settings: QSettings, store: ProfileStore,
                 choose: ChooseStartUp, open_services: OpenServices, parent: QObject | None = None,
                 demo: DemoEntry | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._settings = settings
        self._store = store
        self._choose = choose
        self._open_services = open_services
        self._demo = demo
        self.tasks = TaskRunner(self._on_task_error, bridge.bug)
        self._opening: dict[tuple[object, ...], asyncio.Future[Services]] = {}
        self._finished = asyncio.Event()
        self.session: GuiSession | None = None
        self.window: MainWindow | None = None
        self._services: Services | None = None  # the signed-in one, unwrapped

        self.signin = SignInWindow(self.tasks, store)
        self.signin.submitted.connect(self._on_signin_submitted)
        self.signin.profile_changed.connect(self._on_signin_profile_changed)
        self.signin.closed.connect(self._on_signin_closed)
        if demo is not None:
            self.signin.set_demo(demo.profile, demo.email, demo.password)
            self.signin.demo_requested.connect(self._on_signin_demo_requested)

    def start(self) -> None:
        """Show the sign-in window and start up (restoring a remembered session silently)."""
        self.signin.show()
        self.signin.set_busy(True, "Starting…")
        # Importing the pages takes a good half second: do it in a worker thread now, so building
        # the main window later only builds widgets.
        self.tasks.spawn(asyncio.to_thread(import_views), name="import-pages")
        self.tasks.spawn(self._start(), name="start-up", key="sign-in", on_error=self._on_sign_in_failed)

    def quit(self) -> None:
        """Quit as closing the windows would (a stop signal, the system shutting down)."""
        if self.window is not None:
            self.window.close()  # saves its layout, then says it closed
        self.signin.hide()
        self._finished.set()

    async def wait_finished(self) -> int:
        """Return the exit status once the user has quit."""
        await self._finished.wait()
        return 0

    async def shutdown(self) -> None:
        """Close the window's session, then every service this app opened, then the tasks."""
        if self.session is not None:
            await self.session.close(close_services=False)
            self.session = None
        # An opening cannot be cancelled half-way (PostgreSQL may be starting in a thread): let it
        # finish, then stop what it started.
        opening = list(self._opening.values())
        self._opening.clear()
        for task in opening:
            try:
                services = await task
            except (TnmError, asyncio.CancelledError):
                continue
            await services.close()
        await self.tasks.shutdown()

    # Start-up ---------------------------------------------------------------------------------

    async def _start(self) -> None:
        async with self._usable_after_failure():
            await self._start_up()

    @contextlib.asynccontextmanager
    async def _usable_after_failure(self) -> AsyncIterator[None]:
        # Whatever goes wrong — a profile that cannot open, a bug — the sign-in window must stay
        # usable: another profile, Manage… or another try. (A cancelled task is left alone: the
        # one that replaced it owns the busy state now.)
        try:
            yield
        except Exception:
            self.signin.set_busy(False)
            raise

    async def _start_up(self) -> None:
        startup = await self._choose(self._store)
        profiles, default = await asyncio.to_thread(self._store.load)
        if not any(p.id == startup.profile.id for p in profiles):
            profiles = [*profiles, startup.profile]  # the demo's profile is not in the file
        self.signin.set_profiles(profiles, startup.profile.id, default)
        if startup.services is not None:
            self._adopt(startup.profile, startup.services)
        services = await self.services_for(startup.profile)
        if services.data.session is None and startup.restore:
            self.signin.set_busy(True, "Restoring your session…")
            await services.data.restore_session()
        if services.data.session is not None:
            await self._enter(services)
        else:
            self.signin.set_busy(False)
            self.signin.email.setFocus()

    def services_for(self, profile: ConnectionProfile) -> asyncio.Future[Services]:
        """The (shared) task opening ``profile``'s services."""
        key = _where(profile)
        task = self._opening.get(key)
        if task is None or task.cancelled() or (task.done() and task.exception() is not None):
            if profile.kind is ProfileKind.LOCAL:
                self.signin.set_busy(True, "Starting the local workspace…")
            task = self.tasks.spawn(self._open_services(profile), name=f"open-{profile.name}",
                                    on_error=lambda _exc: None)  # whoever awaits it reports the error
            self._opening[key] = task
        return task

    def _adopt(self, profile: ConnectionProfile, services: Services) -> None:
        future: asyncio.Future[Services] = asyncio.get_running_loop().create_future()
        future.set_result(services)
        self._opening[_where(profile)] = future

    # Sign-in ----------------------------------------------------------------------------------

    def _on_signin_profile_changed(self, profile: ConnectionProfile) -> None:
        # Start opening at once, so that by the time the password is typed the database is up.
        self.tasks.spawn(self._warm_up(profile), name="warm-up", key="sign-in",
                         on_error=self._on_sign_in_failed)

    async def _warm_up(self, profile: ConnectionProfile) -> None:
        async with self._usable_after_failure():
            await self.services_for(profile)
        self.signin.set_busy(False)

    def _on_signin_submitted(self, profile: ConnectionProfile, email: str, password: str,
                             remember: bool, create: bool) -> None:
        self.signin.set_busy(True, "Creating your account…" if create else "Signing in…")
        self.tasks.spawn(self._sign_in(profile, email, password, remember, create), name="sign-in",
                         key="sign-in", on_error=self._on_sign_in_failed)

    async def _sign_in(self, profile: ConnectionProfile, email: str, password: str, remember: bool,
                       create: bool) -> None:
        async with self._usable_after_failure():
            await self._sign_in_to(profile, email, password, remember, create)

    async def _sign_in_to(self, profile: ConnectionProfile, email: str, password: str, remember: bool,
                          create: bool) -> None:
        services = await self.services_for(profile)
        services.profile = profile  # the latest edit (e.g. its webhook base URL)
        self.signin.set_busy(True, "Creating your account…" if create else "Signing in…")
        if create:
            await services.data.sign_up(email, password, remember=remember)
        else:
            await services.data.sign_in(email, password, remember=remember)
        if self._demo is None or profile.id != self._demo.profile.id:  # the demo stays out of the file
            saved = await asyncio.to_thread(self._store.upsert, replace(profile, last_email=email.strip()),
                                            make_default=True)
            services.profile = saved
        await self._enter(services)

    def _on_signin_demo_requested(self) -> None:
        demo = self._demo
        if demo is None:
            return
        self.signin.select_profile(demo.profile.id)
        self._on_signin_submitted(demo.profile, demo.email, demo.password, False, False)

    def _on_sign_in_failed(self, exc: TnmError) -> None:
        self.signin.show_error(exc.message)

    async def _enter(self, services: Services) -> None:
        self._services = services
        session = GuiSession(services, self._bridge, self._settings, self)
        self.session = session
        await session.start_live()
        session.tasks.spawn(session.start_agent(), name="agent: start")
        session.start_notifications()
        window = MainWindow(session)
        window.sign_out_requested.connect(self._on_window_sign_out_requested)
        window.closed.connect(self._on_window_closed)
        self.window = window
        window.show()
        self.signin.hide()
        self.signin.set_busy(False)
        self.signin.password.clear()
        await self._close_others(services)

    async def _close_others(self, keep: Services) -> None:
        # One running workspace database at a time: stop those of profiles no longer in use.
        for key, task in list(self._opening.items()):
            if task.done() and not task.cancelled() and task.exception() is None and task.result() is not keep:
                del self._opening[key]
                await task.result().close()

    # Sign-out and quitting --------------------------------------------------------------------

    def _on_window_sign_out_requested(self) -> None:
        if self.window is None:
            return
        ask(self.window, "Sign out", "Sign out of TNM Desktop?",
            "Sign out", lambda: self.tasks.spawn(self.sign_out(), name="sign-out"),
            details="This computer forgets your remembered session; you will need your password again.")

    async def sign_out(self) -> None:
        """Close the main window and its session, forget the remembered session, show sign-in."""
        window, session, services = self.window, self.session, self._services
        self.window, self.session, self._services = None, None, None
        if window is not None:
            window.closed.disconnect(self._on_window_closed)
            window.close()
            window.deleteLater()
        if session is not None:
            await session.close(close_services=False)
        if services is not None:
            await services.data.sign_out()
            profiles, default = await asyncio.to_thread(self._store.load)
            self.signin.set_profiles(profiles, services.profile.id, default)
        self.signin.show()

    def _on_window_closed(self) -> None:
        self._finished.set()

    def _on_signin_closed(self) -> None:
        if self.window is None:
            self._finished.set()

    def _on_task_error(self, exc: TnmError) -> None:
        if self.window is None:
            self.signin.show_error(exc.message)
        else:
            self._bridge.user_error(exc)
