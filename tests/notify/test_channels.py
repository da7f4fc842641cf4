"""The Telegram and e-mail channels against a local Bot API stand-in and a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tnm_desktop.domain.notifications import NotificationSettings, SmtpSecurity
from tnm_desktop.errors import TransientError, UserError
from tnm_desktop.notify.email import send_email
from tnm_desktop.notify.telegram import send_telegram

from tests.fakes.smtp import MailServer, free_port
from tests.fakes.telegram import FakeTelegram

TOKEN = "123456:TEST-token"


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    bot = FakeTelegram().start()
    yield bot
    bot.stop()


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


def mail_settings(server: MailServer, **changes: object) -> NotificationSettings:
    values: dict[str, object] = {
        "email_enabled": True, "smtp_host": "127.0.0.1", "smtp_port": server.port, "smtp_security": SmtpSecurity.NONE,
        "smtp_username": server.username, "email_from": "tnm@example.com", "email_to": "me@example.com; you@example.com"}
    return NotificationSettings(**{**values, **changes})  # type: ignore[arg-type]


async def test_telegram_sends_the_text_to_the_chat(telegram: FakeTelegram) -> None:
    await send_telegram(TOKEN, "4242", "TNM · Agent offline\ndesk pc has sent no heartbeat", base_url=telegram.url)
    (sent,) = telegram.sent
    assert (sent.token, sent.chat_id, sent.text) == (TOKEN, "4242", "TNM · Agent offline\ndesk pc has sent no heartbeat")


@pytest.mark.parametrize(("token", "chat", "code", "words"), [
    ("999:WRONG", "4242", "telegram_token", "refused the bot token"),
    (TOKEN, "77", "telegram_refused", "chat not found"),
    ("", "4242", "telegram_incomplete", "bot token and the chat id"),
])
async def test_telegram_refusals_say_what_to_fix_and_never_show_the_token(
        telegram: FakeTelegram, token: str, chat: str, code: str, words: str) -> None:
    with pytest.raises(UserError) as raised:
        await send_telegram(token, chat, "hello", base_url=telegram.url)
    assert raised.value.code == code and words in raised.value.message
    assert "WRONG" not in raised.value.message and "TEST-token" not in raised.value.message
    assert telegram.sent == []


async def test_telegram_outages_are_transient(telegram: FakeTelegram) -> None:
    telegram.fail_next = [502, 429]
    for expected in ("Telegram answered: Bad Gateway.", "Telegram asks to wait 3 s before the next message."):
        with pytest.raises(TransientError) as raised:
            await send_telegram(TOKEN, "4242", "hello", base_url=telegram.url)
        assert raised.value.message == expected
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TransientError, match="Telegram cannot be reached") as raised:
        await send_telegram(TOKEN, "4242", "hello", base_url=closed)
    assert "TEST-token" not in str(raised.value)
    await send_telegram(TOKEN, "4242", "hello", base_url=telegram.url)
    assert telegram.texts() == ["hello"]


def test_email_goes_through_a_real_smtp_server_with_a_password(mail: MailServer) -> None:
    send_email(mail_settings(mail), mail.password, "TNM: Signal failed", "BUY EURUSD: Not enough money")
    (message,) = mail.received
    assert (message["Subject"], message["From"], message["To"]) == (
        "TNM: Signal failed", "tnm@example.com", "me@example.com, you@example.com")
    assert str(message.get_payload()).strip() == "BUY EURUSD: Not enough money"


def test_email_refusals_and_outages(mail: MailServer) -> None:
    with pytest.raises(UserError) as raised:
        send_email(mail_settings(mail), "wrong", "x", "y")
    assert raised.value.code == "smtp_auth" and "535" in raised.value.message
    with pytest.raises(UserError, match="address the e-mails come from"):
        send_email(mail_settings(mail, email_from=""), mail.password, "x", "y")
    with pytest.raises(UserError, match=r"another security"):  # this server offers no TLS
        send_email(mail_settings(mail, smtp_security=SmtpSecurity.STARTTLS), mail.password, "x", "y")
    with pytest.raises(TransientError, match="cannot be reached"):
        send_email(mail_settings(mail, smtp_port=free_port()), mail.password, "x", "y")
    assert mail.received == []
