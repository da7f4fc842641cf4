"""The dispatcher: what any process claims from the outbox is sent once, whichever process claims it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from tnm_desktop.data.port import DataPort
from tnm_desktop.domain.notifications import NotificationEvent, NotificationKind, NotificationSettings, SmtpSecurity
from tnm_desktop.notify.dispatcher import Dispatcher, usable_channels
from tnm_desktop.notify.secrets import save_secret, smtp_password_name, telegram_token_name

from tests.data.backends import Backend, local_backend
from tests.fakes.smtp import MailServer
from tests.fakes.telegram import FakeTelegram
from tests.pg import Db, User
from tests.waiting import eventually

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


@pytest_asyncio.fixture
async def backend(db: Db) -> AsyncIterator[Backend]:
    made = local_backend(db)
    yield made
    await made.close()


async def configured(backend: Backend, user: User, mail: MailServer, **changes: object) -> DataPort:
    port = await backend.signed_in(user)
    values: dict[str, object] = {
        "telegram_enabled": True, "telegram_chat_id": "4242", "email_enabled": True, "smtp_host": "127.0.0.1",
        "smtp_port": mail.port, "smtp_security": SmtpSecurity.NONE, "smtp_username": mail.username,
        "email_from": "tnm@example.com", "email_to": "me@example.com"}
    await port.update_notification_settings(NotificationSettings(**{**values, **changes}))  # type: ignore[arg-type]
    save_secret(telegram_token_name(user.id), TOKEN)
    save_secret(smtp_password_name(user.id), mail.password)
    return port


def event(n: int, kind: NotificationKind = NotificationKind.LIMIT_REACHED) -> NotificationEvent:
    return NotificationEvent(f"test:{n}", kind, f"Event {n}", f"What happened {n}.")


async def test_two_processes_send_each_event_once_on_each_channel(
        backend: Backend, telegram: FakeTelegram, mail: MailServer) -> None:
    user = backend.db.create_user()
    app_port = await configured(backend, user, mail)
    agent_port = await backend.signed_in(user, session_key="agent")
    app = Dispatcher(app_port, user.id, "the app on DESK", telegram_api=telegram.url)
    agent = Dispatcher(agent_port, user.id, "agent on VPS", telegram_api=telegram.url)
    for n in range(6):
        assert await (app_port if n % 2 else agent_port).record_notification(event(n)) is True
        assert await app_port.record_notification(event(n)) is False  # the other one saw it too
    claimed = await asyncio.gather(app.pump(), agent.pump(), app.pump(), agent.pump())
    assert sum(claimed) == 12
    assert sorted(telegram.texts()) == sorted(f"TNM · Event {n}\nWhat happened {n}." for n in range(6))
    assert sorted(m["Subject"] for m in mail.wait_for(6)) == sorted(f"TNM: Event {n}" for n in range(6))
    assert await app.pump() == 0 and await agent.pump() == 0
    claimers = backend.db.admin.execute("select distinct status from notification_deliveries").fetchall()
    assert claimers == [{"status": "sent"}]


async def test_only_the_kinds_the_trader_wants_and_only_the_channels_this_machine_can_send(
        backend: Backend, telegram: FakeTelegram, mail: MailServer) -> None:
    user = backend.db.create_user()
    port = await configured(backend, user, mail, events=(NotificationKind.AGENT_DOWN,), email_enabled=False)
    save_secret(smtp_password_name(user.id), "")
    await port.record_notification(event(1, NotificationKind.AGENT_DOWN))
    await port.record_notification(event(2, NotificationKind.SYNC_FAILING))
    assert await Dispatcher(port, user.id, "app", telegram_api=telegram.url).pump() == 1
    assert telegram.texts() == ["TNM · Event 1\nWhat happened 1."] and mail.received == []
    # A machine without the bot token claims nothing, leaving it to one that has it.
    save_secret(telegram_token_name(user.id), "")
    await port.record_notification(event(3, NotificationKind.AGENT_DOWN))
    assert await Dispatcher(port, user.id, "agent", telegram_api=telegram.url).pump() == 0
    assert usable_channels(await port.get_notification_settings(), None, None) == []


async def test_a_failed_delivery_is_reported_and_retried_later(
        backend: Backend, telegram: FakeTelegram, mail: MailServer) -> None:
    user = backend.db.create_user()
    port = await configured(backend, user, mail, email_enabled=False)
    outcomes: list[str | None] = []
    dispatcher = Dispatcher(port, user.id, "app", telegram_api=telegram.url, on_sent=lambda _d, e: outcomes.append(e))
    telegram.fail_next = [502]
    await port.record_notification(event(1))
    assert await dispatcher.pump() == 1
    assert outcomes == ["Telegram answered: Bad Gateway."] and telegram.sent == []
    row = backend.db.admin.execute("select status, error from notification_deliveries").fetchone()
    assert row == {"status": "failed", "error": "Telegram answered: Bad Gateway."}
    assert await dispatcher.pump() == 0  # not before its pause
    backend.db.admin.execute("update notification_deliveries set claimed_at = now() - interval '2 minutes'")
    assert await dispatcher.pump() == 1
    assert telegram.texts() == ["TNM · Event 1\nWhat happened 1."] and outcomes[-1] is None


@contextlib.asynccontextmanager
async def running(backend: Backend, telegram: FakeTelegram, mail: MailServer
                  ) -> AsyncIterator[tuple[Dispatcher, asyncio.Task[None], User]]:
    """A dispatcher running for a new trader (Telegram only), subscribed and idle; at the end, a
    cancel must stop it."""
    user = backend.db.create_user()
    port = await configured(backend, user, mail, email_enabled=False)
    dispatcher = Dispatcher(port, user.id, "agent", telegram_api=telegram.url, poll_every=3600)
    task = asyncio.get_running_loop().create_task(dispatcher.run())
    try:
        await asyncio.sleep(0.5)  # subscribed and idle
        yield dispatcher, task, user
        task.cancel()
        await asyncio.wait([task], timeout=10)  # (awaiting it under a timeout would cancel it again)
        assert task.cancelled(), "the dispatcher went on after its cancel"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_running_it_sends_an_event_as_soon_as_it_is_recorded(
        backend: Backend, telegram: FakeTelegram, mail: MailServer) -> None:
    async with running(backend, telegram, mail) as (_dispatcher, _task, user):
        backend.db.admin.execute("select tnm_private.record_notification(%s, 'x:1', 'agent_back', 'Agent back', "
                                 "'desk pc is running again.')", (user.id,))
        await eventually(lambda: len(telegram.texts()) == 1, within=10, what="the message, woken by the event")
        assert telegram.texts() == ["TNM · Agent back\ndesk pc is running again."]


async def test_a_cancel_that_comes_as_it_is_woken_still_stops_it(
        backend: Backend, telegram: FakeTelegram, mail: MailServer) -> None:
    # Seen as an app that never quit: asyncio.wait_for (Python 3.11) returned the wake-up and
    # dropped the cancel that came with it, and the window's shutdown waited for the loop for ever.
    async with running(backend, telegram, mail) as (dispatcher, task, _user):
        dispatcher._wake.set()  # a notification arrives (what the live change does) ...
        task.cancel()  # ... as the window closes
        await asyncio.wait([task], timeout=10)  # before the helper's own cancel, which would succeed
        assert task.cancelled(), "the dispatcher went on after its cancel"
