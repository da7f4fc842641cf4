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

from tnm_desktop import keystore
from tnm_desktop.data.port import DataPort
from tnm_desktop.profiles import ConnectionProfile, ProfileKind, config_dir
from tnm_desktop.workspace import Workspace

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
            receiver and simulator), run in a worker thread on close, last started first.
    """

    profile: ConnectionProfile
    data: DataPort
    workspace: Workspace | None = None
    keyring: str = ""
    closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def webhook_base_url(self) -> str:
        """The base of the webhook URLs shown to the trader."""
        return self.profile.webhook_base_url

    async def close(self) -> None:
        """Close the data port and stop what this process started (the workspace database)."""
        with contextlib.suppress(Exception):
            await self.data.close()
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
        return Services(profile, data, workspace, keyring)
    supabase = importlib.import_module("tnm_desktop.data.supabase")  # its client is heavy: load on demand
    keyring = await asyncio.to_thread(keystore.ensure_keyring, config_dir())
    data = supabase.SupabaseAdapter(profile.supabase_url, profile.anon_key, profile.session_key)
    return Services(profile, data, None, keyring)
