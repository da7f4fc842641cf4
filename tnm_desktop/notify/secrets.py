"""The notification secrets — the Telegram bot token and the SMTP password — in the OS keyring only.

Entries are per user: one machine may sign in to several accounts. Every function blocks (the
keyring may ask D-Bus): call it off the GUI thread.
"""

from __future__ import annotations

from tnm_desktop import keystore


def telegram_token_name(user_id: str) -> str:
    """The keyring entry of a user's bot token."""
    return f"notify:telegram:{user_id}"


def smtp_password_name(user_id: str) -> str:
    """The keyring entry of a user's SMTP password."""
    return f"notify:smtp:{user_id}"


def load_secrets(user_id: str) -> tuple[str | None, str | None]:
    """The bot token and the SMTP password on this machine (None where there is none)."""
    return keystore.get_secret(telegram_token_name(user_id)), keystore.get_secret(smtp_password_name(user_id))


def save_secret(name: str, value: str | None) -> None:
    """Keep a secret, or forget it when ``value`` is empty."""
    if value:
        keystore.set_secret(name, value)
    else:
        keystore.delete_secret(name)
