"""Settings → Notifications: what is saved where, and "Send test" against the Bot API stand-in and SMTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from pytestqt.qtbot import QtBot
from tnm_desktop.domain.notifications import NotificationKind, SmtpSecurity
from tnm_desktop.gui.pages.notify_settings import KEPT, NotificationsBox
from tnm_desktop.keystore import SERVICE
from tnm_desktop.notify.secrets import smtp_password_name, telegram_token_name
from tnm_desktop.notify.telegram import API_ENV

from tests.fakes.smtp import MailServer
from tests.fakes.telegram import FakeTelegram
from tests.gui.conftest import MakeContext
from tests.gui.ea_agent_fixtures import save_screenshot
from tests.pg import Db, User
from tests.waiting import eventually

TOKEN = "123456:TEST-token"


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    bot = FakeTelegram().start()
    monkeypatch.setenv(API_ENV, bot.url)
    yield bot
    bot.stop()


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


async def open_box(qtbot: QtBot, ctx_for: MakeContext, user: User) -> NotificationsBox:
    box = NotificationsBox(await ctx_for(user))
    qtbot.addWidget(box)
    box.show()
    await eventually(lambda: not box.busy.busy, what="the settings loaded")
    return box


async def test_test_messages_then_save_keeps_secrets_in_the_keyring_only(
        qtbot: QtBot, ctx_for: MakeContext, db: Db, user: User, telegram: FakeTelegram, mail: MailServer,
        tmp_path: Path) -> None:
    box = await open_box(qtbot, ctx_for, user)
    box.telegram_on.setChecked(True)
    box.chat_id.setText("4242")
    box.token.setText("999:WRONG")
    box.test_telegram.click()
    await eventually(lambda: "refused the bot token" in box.message.text(), what="the refusal")
    assert box.message.text().startswith("Telegram: ") and "WRONG" not in box.message.text()
    box.token.setText(TOKEN)
    box.test_telegram.click()
    await eventually(lambda: "accepted" in box.message.text(), what="the test message's outcome")
    assert telegram.texts() == ["TNM · Test message\nThis is a test from TNM Desktop: notifications reach you here."]

    box.email_on.setChecked(True)
    box.smtp_host.setText("127.0.0.1")
    box.smtp_port.setValue(mail.port)
    box.security.setCurrentIndex(box.security.findData(SmtpSecurity.NONE.value))
    box.smtp_user.setText(mail.username)
    box.smtp_password.setText(mail.password)
    box.email_from.setText("tnm@example.com")
    box.email_to.setText("me@example.com")
    box.test_email.click()
    await eventually(lambda: len(mail.received) == 1 and box.message.text().startswith("E-mail: the test"),
                     what="the test e-mail")
    assert mail.received[0]["Subject"] == "TNM: Test message"
    box.events[NotificationKind.SYNC_FAILING].setChecked(False)
    box.save_button.click()
    await eventually(lambda: box.message.text().startswith("Saved."), what="saved")

    assert keyring.get_password(SERVICE, telegram_token_name(user.id)) == TOKEN
    assert keyring.get_password(SERVICE, smtp_password_name(user.id)) == mail.password
    row = db.admin.execute("select * from notification_settings where user_id = %s", (user.id,)).fetchone()
    assert row is not None and row["telegram_chat_id"] == "4242" and row["smtp_port"] == mail.port
    assert "sync_failing" not in row["events"] and len(row["events"]) == 4
    assert TOKEN not in str(row) and mail.password not in str(row)
    assert box.token.text() == "" and box.token.placeholderText() == KEPT
    box.resize(1100, box.sizeHint().height())
    await save_screenshot(box, "notification-settings.png", tmp_path)

    again = await open_box(qtbot, ctx_for, user)  # a field left empty keeps the secret
    assert again.chat_id.text() == "4242" and again.smtp_password.placeholderText() == KEPT
    assert not again.events[NotificationKind.SYNC_FAILING].isChecked()
    again.test_telegram.click()
    await eventually(lambda: len(telegram.texts()) == 2, what="a test with the kept token")


async def test_an_incomplete_form_says_what_is_missing(qtbot: QtBot, ctx_for: MakeContext, db: Db,
                                                       user: User) -> None:
    box = await open_box(qtbot, ctx_for, user)
    box.telegram_on.setChecked(True)
    box.chat_id.setText("4242")
    box.save_button.click()
    assert box.message.text() == "Telegram needs your bot's token."
    box.telegram_on.setChecked(False)
    box.email_on.setChecked(True)
    box.save_button.click()
    assert box.message.text().startswith("E-mail needs the SMTP server")
    assert db.admin.execute("select count(*) as n from notification_settings").fetchone() == {"n": 0}
