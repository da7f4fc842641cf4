"""Telegram: one ``sendMessage`` call of the Bot API over HTTPS.

The bot token is part of the request's path, so it never appears in what is logged or raised here
(errors name the Bot API's host only). ``TNM_TELEGRAM_API`` points the client at another Bot API
server (a local stand-in in the tests, or a self-hosted ``telegram-bot-api``).
"""

from __future__ import annotations

import os

import aiohttp

from tnm_desktop.errors import TransientError, UserError

DEFAULT_API = "https://api.telegram.org"
API_ENV = "TNM_TELEGRAM_API"
MAX_TEXT = 4096  # Telegram's limit for one message


def api_base() -> str:
    """Where the Bot API is (``TNM_TELEGRAM_API``, else Telegram's)."""
    return (os.environ.get(API_ENV) or DEFAULT_API).rstrip("/")


async def send_telegram(token: str, chat_id: str, text: str, *, base_url: str | None = None,
                        seconds: float = 15.0) -> None:
    """Send ``text`` to ``chat_id`` as the bot.

    Raises:
        UserError: Telegram refused the token, the chat or the message (retrying will not help).
        TransientError: Telegram could not be reached, or asked to wait (retry later).
    """
    if not token.strip() or not chat_id.strip():
        raise UserError("Enter the bot token and the chat id first.", code="telegram_incomplete")
    base = (base_url or api_base()).rstrip("/")
    url = f"{base}/bot{token.strip()}/sendMessage"
    body = {"chat_id": chat_id.strip(), "text": text[:MAX_TEXT], "disable_web_page_preview": True}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session, \
                session.post(url, json=body) as answer:
            status = answer.status
            try:
                reply = await answer.json(content_type=None)
            except ValueError:
                reply = {}
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransientError(f"Telegram cannot be reached ({type(exc).__name__}); it will be tried again.",
                             code="telegram_unreachable") from None
    reply = reply if isinstance(reply, dict) else {}
    if status == 200 and reply.get("ok"):
        return
    description = str(reply.get("description") or f"HTTP {status}")
    if status == 401 or status == 404:
        raise UserError("Telegram refused the bot token. Copy it again from @BotFather.", code="telegram_token")
    if status in (400, 403):
        raise UserError(f"Telegram refused the message: {description}. Check the chat id, and that you have "
                        "sent /start to your bot.", code="telegram_refused")
    if status == 429:
        wait = (reply.get("parameters") or {}).get("retry_after")
        raise TransientError(f"Telegram asks to wait{f' {wait} s' if wait else ''} before the next message.",
                             code="telegram_busy")
    raise TransientError(f"Telegram answered: {description}.", code="telegram_error")
