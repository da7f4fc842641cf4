"""Notifications for a trader away from the desk: events, where they go, and what each costs to send.

Events live in the database's outbox (``public.notifications``), recorded once under a key that
names them; any sender process claims each one per channel (``claim_notifications``), so it is
sent once whoever saw it (migration 20251211000000).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tnm_desktop.domain import convert as c


class NotificationKind(StrEnum):
    """What happened."""

    SIGNAL_FAILED = "signal_failed"
    AGENT_DOWN = "agent_down"
    AGENT_BACK = "agent_back"
    LIMIT_REACHED = "limit_reached"
    SYNC_FAILING = "sync_failing"


KIND_NAMES = {
    NotificationKind.SIGNAL_FAILED: "A signal failed",
    NotificationKind.AGENT_DOWN: "The agent stopped or went offline",
    NotificationKind.AGENT_BACK: "The agent is back",
    NotificationKind.LIMIT_REACHED: "A risk limit was reached",
    NotificationKind.SYNC_FAILING: "The account sync keeps failing",
}


class Channel(StrEnum):
    """Where a notification goes besides the tray."""

    TELEGRAM = "telegram"
    EMAIL = "email"


class SmtpSecurity(StrEnum):
    """How the SMTP connection is protected."""

    STARTTLS = "starttls"  # port 587
    SSL = "ssl"  # port 465
    NONE = "none"  # a relay on this machine or the local network only


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    """An event to record: ``event_key`` names it, so recording it twice records it once.

    Keys in use: ``signal_failed:<signal id>``, ``agent_down:<agent id>:<epoch>``,
    ``agent_back:<agent id>:<epoch>``, ``sync_failing:<account id>:<sync log id>`` (all recorded by
    the database itself) and ``limit:<which>:<scope>`` (the risk limits).
    """

    event_key: str
    kind: NotificationKind
    title: str
    body: str = ""


@dataclass(frozen=True, slots=True)
class Notification:
    """A recorded event (``public.notifications``)."""

    id: str
    event_key: str
    kind: NotificationKind
    title: str
    body: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: c.Row) -> Notification:
        """Build from a ``notifications`` row."""
        return cls(c.text(row["id"]), c.text(row["event_key"]), NotificationKind(row["kind"]), c.text(row["title"]),
                   str(row.get("body") or ""), c.moment(row["created_at"]))


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A notification this process won the right to send on one channel."""

    notification_id: str
    channel: Channel
    kind: NotificationKind
    title: str
    body: str
    created_at: datetime
    attempts: int

    @classmethod
    def from_row(cls, row: c.Row) -> ClaimedDelivery:
        """Build from a ``claim_notifications()`` row."""
        return cls(c.text(row["notification_id"]), Channel(row["channel"]), NotificationKind(row["kind"]),
                   c.text(row["title"]), str(row.get("body") or ""), c.moment(row["created_at"]),
                   int(row.get("attempts") or 1))


ALL_KINDS = tuple(NotificationKind)


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    """Where notifications go (``notification_settings``). Secrets are not here: they are in the keyring."""

    telegram_enabled: bool = False
    telegram_chat_id: str = ""
    email_enabled: bool = False
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    smtp_username: str = ""
    email_from: str = ""
    email_to: str = ""
    events: tuple[NotificationKind, ...] = field(default=ALL_KINDS)

    @classmethod
    def from_row(cls, row: c.Row | None) -> NotificationSettings:
        """Build from a ``notification_settings`` row (defaults when there is none yet)."""
        if row is None:
            return cls()
        events = c.str_tuple(row.get("events"))
        return cls(
            telegram_enabled=bool(row.get("telegram_enabled")), telegram_chat_id=str(row.get("telegram_chat_id") or ""),
            email_enabled=bool(row.get("email_enabled")), smtp_host=str(row.get("smtp_host") or ""),
            smtp_port=int(row.get("smtp_port") or 587),
            smtp_security=SmtpSecurity(row.get("smtp_security") or "starttls"),
            smtp_username=str(row.get("smtp_username") or ""), email_from=str(row.get("email_from") or ""),
            email_to=str(row.get("email_to") or ""),
            events=tuple(NotificationKind(e) for e in events) if events is not None else ALL_KINDS)

    def to_row(self) -> dict[str, Any]:
        """The columns to store."""
        return {"telegram_enabled": self.telegram_enabled, "telegram_chat_id": self.telegram_chat_id.strip(),
                "email_enabled": self.email_enabled, "smtp_host": self.smtp_host.strip(), "smtp_port": self.smtp_port,
                "smtp_security": self.smtp_security.value, "smtp_username": self.smtp_username.strip(),
                "email_from": self.email_from.strip(), "email_to": self.email_to.strip(),
                "events": [e.value for e in self.events]}

    def recipients(self) -> list[str]:
        """The e-mail addresses to send to (comma or semicolon separated)."""
        return [a.strip() for a in self.email_to.replace(";", ",").split(",") if a.strip()]
