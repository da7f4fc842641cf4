"""The composition root: one place that builds the services for a connection profile.

The GUI and the headless commands call :func:`open_services`; nothing else constructs adapters.
The rest of the program receives what it needs from the :class:`Services` it is handed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tnm_desktop import keystore
from tnm_desktop.data.port import DataPort
from tnm_desktop.errors import OperationalError
from tnm_desktop.profiles import ConnectionProfile, ProfileKind, config_dir
from tnm_desktop.webhook.urls import LOCAL_DEFAULT, edge_function_base, is_automatic, is_loopback
from tnm_desktop.workspace import Workspace

if TYPE_CHECKING:
    from tnm_desktop.webhook.local import LocalReceiver

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a signed-in window or a headless command works with.

    Attributes:
        profile: The connection profile in use.
        data: The data port (local or Supabase adapter).
        workspace: The local workspace, when the profile is one.
        keyring: Which keyring holds the secrets (shown in Settings).
        closers: Blocking calls that stop what was started beside the data port (the demo's
            simulator), run in a worker thread on close, last started first.
        receiver: This workspace's own webhook receiver on its pinned port (local workspaces).
    """

    profile: ConnectionProfile
    data: DataPort
    workspace: Workspace | None = None
    keyring: str = ""
    closers: list[Callable[[], None]] = field(default_factory=list, repr=False)
    receiver: LocalReceiver | None = None

    @property
    def webhook_base_url(self) -> str:
        """The base of the webhook URLs shown to the trader.

        The profile's when it names one that is not this computer (a tunnel, a proxy, a server);
        else this workspace's receiver on its pinned port; else, for a Supabase project, its
        Edge Function (``<project>/functions/v1``).
        """
        base = self.profile.webhook_base_url.strip().rstrip("/")
        if self.receiver is not None and (is_automatic(base) or is_loopback(base)):
            return self.receiver.base_url
        if not is_automatic(base):
            return base
        if self.profile.kind is ProfileKind.SUPABASE:
            return edge_function_base(self.profile.supabase_url)
        return LOCAL_DEFAULT

    async def close(self) -> None:
        """Close the data port and stop what this process started (the workspace database)."""
        with contextlib.suppress(Exception):
            await self.data.close()
        if self.receiver is not None:
            await asyncio.to_thread(self.receiver.stop)
        while self.closers:
            closer = self.closers.pop()
            try:
                await asyncio.to_thread(closer)
            except Exception:  # the others must still stop
                log.exception("stopping %r failed", closer)
        if self.workspace is not None:
            await asyncio.to_thread(self.workspace.close)


async def open_services(profile: ConnectionProfile, *, fast_db: bool = False) -> Services:
    """Build the services of a profile; for a local workspace, start its database first.

    Blocking work (the keyring probe, starting PostgreSQL) runs in worker threads.
    """
    profile = profile.validated()
    if profile.kind is ProfileKind.LOCAL:
        from tnm_desktop.data.local.adapter import LocalAdapter

        workspace = Workspace(Path(profile.workspace_dir))
        keyring = await asyncio.to_thread(keystore.ensure_keyring, workspace.root)
        conns = await asyncio.to_thread(workspace.open, fast=fast_db)
        data: DataPort = LocalAdapter(conns.app, conns.auth, profile.session_key)
        services = Services(profile, data, workspace, keyring)
        # The workspace's own webhook receiver, so its strategies' URLs answer while the app runs.
        from tnm_desktop.webhook.local import LocalReceiver  # aiohttp: loaded when a receiver is wanted

        services.receiver = await asyncio.to_thread(LocalReceiver, workspace, conns.ingest)
        try:
            await asyncio.to_thread(services.receiver.start)
        except OperationalError as exc:  # shown on the Strategies page, with the offer to change it
            log.warning("the webhook receiver did not start: %s", exc.message)
        return services
    supabase = importlib.import_module("tnm_desktop.data.supabase")  # its client is heavy: load on demand
    keyring = await asyncio.to_thread(keystore.ensure_keyring, config_dir())
    data = supabase.SupabaseAdapter(profile.supabase_url, profile.anon_key, profile.session_key)
    return Services(profile, data, None, keyring)

