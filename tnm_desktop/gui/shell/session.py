"""A signed-in session's Qt plumbing: the view context and its one live subscription.

The app and the GUI tests build a window's context the same way, through :class:`GuiSession`,
so what the tests exercise is the wiring the app runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject, QSettings

from tnm_desktop.data.port import DataPort, Subscription, Table
from tnm_desktop.errors import TnmError, TransientError
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.shell.agent_host import AgentHost
from tnm_desktop.gui.shell.connectivity import Connectivity, WatchedPort
from tnm_desktop.gui.widgets.bridge import MessageBridge
from tnm_desktop.gui.widgets.health import HealthWatch
from tnm_desktop.gui.widgets.hubs import AgentBridge, LiveHub
from tnm_desktop.gui.widgets.tasks import TaskRunner
from tnm_desktop.services import Services

if TYPE_CHECKING:
    from tnm_desktop.notify.dispatcher import Dispatcher

log = logging.getLogger(__name__)

# Every table a view listens to; one subscription carries them all.
LIVE_TABLES = (Table.SIGNALS, Table.JOBS, Table.SYNC_LOGS, Table.ACCOUNTS, Table.AGENTS, Table.POSITIONS,
               Table.NOTIFICATIONS)


class GuiSession:
    """Owns what a signed-in window needs and closes it in the right order.

    Args:
        services: The signed-in services (their data port has a session).
        bridge: Where user messages and crash reports go.
        settings: Where views keep their layout.
        parent: Qt parent of the hubs.
    """

    def __init__(self, services: Services, bridge: MessageBridge, settings: QSettings,
                 parent: QObject | None = None) -> None:
        self.tasks = TaskRunner(self._on_task_error, bridge.bug)
        self.connectivity = Connectivity(services.data, self.tasks, parent)
        # Every call of the window's views reports to the connectivity watcher.
        watched = dataclasses.replace(services, data=cast(DataPort, WatchedPort(services.data, self.connectivity)))
        self.ctx = ViewContext(services=watched, tasks=self.tasks, bridge=bridge,
                               live=LiveHub(parent), agent=AgentBridge(parent), settings=settings)
        self.connectivity.watch_live(self.ctx.live)
        self.ctx.health = HealthWatch(watched.data, self.tasks, self.ctx.live, self.ctx.agent, parent)
        self.connectivity.restored.connect(self.ctx.health.reload)
        self.agent_host = AgentHost(services, self.ctx.agent, self.tasks, parent)
        self.dispatcher: Dispatcher | None = None
        self._bridge = bridge
        self._subscription: Subscription | None = None
        self.closed = False

    def _on_task_error(self, exc: TnmError) -> None:
        # "Cannot be reached" is what the offline banner says; repeating it per failed call is noise.
        if isinstance(exc, TransientError):
            self.connectivity.report_failure(exc)
            return
        self._bridge.user_error(exc)

    async def start_live(self) -> None:
        """Subscribe once to the user's changes and dispatch them into the hub.

        A failure here is not fatal: the hub stays "connecting" and the offline banner tells the
        user; the views still load on demand.
        """
        live = self.ctx.live
        try:
            self._subscription = await self.ctx.services.data.subscribe(
                LIVE_TABLES, live.dispatch, live.set_state)
        except TnmError as exc:
            log.warning("live updates unavailable: %s", exc)
            self.ctx.bridge.warning(f"Live updates are unavailable: {exc.message}")
            return
        live.set_state(self._subscription.state)
        assert self.ctx.health is not None
        try:
            await self.ctx.health.load()  # after subscribing: no heartbeat falls between the two
        except TnmError as exc:
            log.info("agents not loaded: %s", exc)

    def start_notifications(self, *, telegram_api: str | None = None) -> None:
        """Send the Telegram and e-mail notifications this app claims, until the session closes."""
        from tnm_desktop.notify.dispatcher import Dispatcher, default_claimer

        data = self.ctx.services.data
        if data.session is None or self.dispatcher is not None:
            return
        self.dispatcher = Dispatcher(data, data.session.user_id, default_claimer("the app"),
                                     telegram_api=telegram_api)
        self.tasks.spawn(self.dispatcher.run(), name="notifications")

    async def start_agent(self) -> None:
        """Run this machine's paired agent inside the app (nothing when none is paired here)."""
        try:
            await self.agent_host.start()
        except TnmError as exc:
            log.warning("the agent did not start: %s", exc)
            self.ctx.bridge.warning(f"The agent did not start: {exc.message}")

    async def close(self, *, close_services: bool = True) -> None:
        """Stop the agent, cancel the tasks, close the subscription and (by default) the services."""
        self.closed = True
        await self.tasks.shutdown()  # first: no callback may reach a window being deleted
        await self.agent_host.close()  # an order in flight finishes while the database is up
        if self._subscription is not None:
            with contextlib.suppress(Exception):  # closing must go on whatever the channel's state
                await self._subscription.close()
            self._subscription = None
        if close_services:
            await self.ctx.services.close()
