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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tnm_desktop import keystore
from tnm_desktop.data.port import DataPort
from tnm_desktop.errors import OperationalError
from tnm_desktop.profiles import DEFAULT_WEBHOOK_BASE, ConnectionProfile, ProfileKind, config_dir
from tnm_desktop.workspace import Workspace

if TYPE_CHECKING:
    from tnm_desktop.webhook.server import WebhookReceiver

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
        receiver_url: Where this process's webhook receiver listens (a local workspace's).
    """

    profile: ConnectionProfile
    data: DataPort
    workspace: Workspace | None = None
    keyring: str = ""
    closers: list[Callable[[], None]] = field(default_factory=list, repr=False)
    receiver_url: str | None = None

    @property
    def webhook_base_url(self) -> str:
        """The base of the webhook URLs shown to the trader: the profile's, or, while it is left
        at the default, where this workspace's receiver really listens (its port may be taken)."""
        if self.receiver_url and self.profile.webhook_base_url in ("", DEFAULT_WEBHOOK_BASE):
            return self.receiver_url
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
        services = Services(profile, data, workspace, keyring)
        # The workspace's own webhook receiver, so its strategies' URLs answer while the app runs.
        try:
            receiver = await asyncio.to_thread(start_receiver, conns.ingest, workspace.settings().receiver_port)
        except OperationalError as exc:
            log.warning("the webhook receiver did not start: %s", exc.message)
        else:
            services.receiver_url = receiver.base_url
            services.closers.append(receiver.stop)
        return services
    supabase = importlib.import_module("tnm_desktop.data.supabase")  # its client is heavy: load on demand
    keyring = await asyncio.to_thread(keystore.ensure_keyring, config_dir())
    data = supabase.SupabaseAdapter(profile.supabase_url, profile.anon_key, profile.session_key)
    return Services(profile, data, None, keyring)


def start_receiver(database_url: str, port: int) -> WebhookReceiver:
    """Start a webhook receiver on ``port``, or on any free port when that one is taken. Blocks."""
    from tnm_desktop.webhook.config import ReceiverConfig  # aiohttp: loaded when a receiver is wanted
    from tnm_desktop.webhook.server import WebhookReceiver

    config = ReceiverConfig(database_url=database_url, port=port, burst=50, rate_per_second=20)
    receiver = WebhookReceiver(config)
    try:
        receiver.start()
    except OperationalError:
        receiver = WebhookReceiver(replace(config, port=0))
        receiver.start()
    return receiver
