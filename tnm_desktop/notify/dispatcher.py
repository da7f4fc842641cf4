"""Sending what this process claims from the notification outbox.

Every process that can send — the app, a headless agent — runs a :class:`Dispatcher`. It claims
the outbox's deliveries on the channels it can serve here (enabled in the settings, with the
secret in this machine's keyring), sends each, and reports the outcome; the database hands each
delivery to one claimer only, so the trader gets one message whichever process claimed it. It is
woken by the outbox's live updates and looks again every ``poll_every`` seconds (failed deliveries
come back after their pause).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable

from tnm_desktop.data.port import Change, DataPort, Subscription, Table
from tnm_desktop.domain.notifications import Channel, ClaimedDelivery, NotificationSettings
from tnm_desktop.errors import TnmError
from tnm_desktop.notify.email import send_email
from tnm_desktop.notify.secrets import load_secrets
from tnm_desktop.notify.telegram import send_telegram

log = logging.getLogger(__name__)

Secrets = Callable[[], Awaitable[tuple[str | None, str | None]]]
TEST_TEXT = "This is a test from TNM Desktop: notifications reach you here."


def message_text(title: str, body: str) -> str:
    """A notification as one message."""
    return f"TNM · {title}\n{body}".strip()


def usable_channels(settings: NotificationSettings, token: str | None, password: str | None) -> list[Channel]:
    """The channels this process can send on: enabled, complete, and with their secret here."""
    channels = []
    if settings.telegram_enabled and settings.telegram_chat_id.strip() and token:
        channels.append(Channel.TELEGRAM)
    if (settings.email_enabled and settings.smtp_host.strip() and settings.email_from.strip()
            and settings.recipients() and (password or not settings.smtp_username.strip())):
        channels.append(Channel.EMAIL)
    return channels


async def deliver(channel: Channel, settings: NotificationSettings, secret: str | None, title: str, body: str, *,
                  telegram_api: str | None = None) -> None:
    """Send one message on one channel (also the Settings page's "Send test").

    Raises:
        UserError: The channel refused it (token, address, password…); say so to the trader.
        TransientError: Not reachable now.
    """
    if channel is Channel.TELEGRAM:
        await send_telegram(secret or "", settings.telegram_chat_id, message_text(title, body), base_url=telegram_api)
    else:
        await asyncio.to_thread(send_email, settings, secret, f"TNM: {title}", body)


def default_claimer(role: str) -> str:
    """How a claimer names itself in the outbox (shown in Settings)."""
    return f"{role} on {socket.gethostname()}"


class Dispatcher:
    """Claims and sends notifications for the signed-in user.

    Args:
        data: The data port, signed in as the user.
        user_id: Whose secrets to read from the keyring.
        claimed_by: How this process names itself in the outbox (``"the app on DESK-PC"``).
        secrets: Returns the bot token and SMTP password (default: this machine's keyring, off the loop).
        telegram_api: Another Bot API server (default: ``TNM_TELEGRAM_API`` or Telegram's).
        poll_every: Seconds between looks while nothing wakes it.
        on_sent: Told of each delivery and its error (None when sent), e.g. for a log line.
    """

    def __init__(self, data: DataPort, user_id: str, claimed_by: str, *, secrets: Secrets | None = None,
                 telegram_api: str | None = None, poll_every: float = 30.0,
                 on_sent: Callable[[ClaimedDelivery, str | None], None] | None = None) -> None:
        self.data = data
        self.user_id = user_id
        self.claimed_by = claimed_by
        self._secrets = secrets or (lambda: asyncio.to_thread(load_secrets, user_id))
        self._telegram_api = telegram_api
        self.poll_every = poll_every
        self._on_sent = on_sent or (lambda _d, _e: None)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._subscription: Subscription | None = None

    def wake(self) -> None:
        """Look at the outbox now (call on the dispatcher's loop)."""
        self._wake.set()

    async def pump(self) -> int:
        """Claim and send what is due; return how many deliveries were claimed."""
        async with self._lock:
            settings = await self.data.get_notification_settings()
            token, password = await self._secrets()
            channels = usable_channels(settings, token, password)
            if not channels:
                return 0
            claimed = await self.data.claim_notifications(channels, self.claimed_by)
            for delivery in claimed:
                secret = token if delivery.channel is Channel.TELEGRAM else password
                error: str | None = None
                try:
                    await deliver(delivery.channel, settings, secret, delivery.title, delivery.body,
                                  telegram_api=self._telegram_api)
                except TnmError as exc:
                    error = exc.message
                    log.warning("notification %s on %s not sent: %s", delivery.notification_id,
                                delivery.channel.value, exc.message)
                await self.data.finish_notification(delivery.notification_id, delivery.channel, error)
                self._on_sent(delivery, error)
            return len(claimed)

    async def run(self) -> None:
        """Pump whenever woken (new events arrive live) and every ``poll_every`` seconds, until cancelled."""
        try:
            self._subscription = await self.data.subscribe([Table.NOTIFICATIONS], self._on_change, rows=False)
        except TnmError as exc:
            log.info("notifications: no live updates (%s); looking every %g s", exc, self.poll_every)
        try:
            while True:
                self._wake.clear()
                try:
                    await self.pump()
                except TnmError as exc:
                    log.info("notifications: %s", exc)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_every):
                        await self._wake.wait()
        finally:
            if self._subscription is not None:
                with contextlib.suppress(Exception):
                    await self._subscription.close()
                self._subscription = None

    def _on_change(self, change: Change) -> None:
        if change.op == "insert":
            self._wake.set()
