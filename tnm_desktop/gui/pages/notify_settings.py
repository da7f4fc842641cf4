"""Settings → Notifications: Telegram and e-mail for a trader away from the desk.

Where to send (chat id, SMTP server, addresses) and which events is stored with the account, so a
headless agent on another machine reads the same choices; the bot token and the SMTP password go
to this computer's keyring only (a headless agent needs them in its own keyring to send too). A
password field left empty keeps what the keyring holds. "Send test" sends with what the form says
now, before it is saved, and tells what the service answered.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.domain.notifications import (
    KIND_NAMES,
    Channel,
    NotificationKind,
    NotificationSettings,
    SmtpSecurity,
)
from tnm_desktop.errors import TnmError, UserError
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.widgets import BusyIndicator, InlineMessage
from tnm_desktop.notify.dispatcher import TEST_TEXT, deliver
from tnm_desktop.notify.secrets import load_secrets, save_secret, smtp_password_name, telegram_token_name

KEPT = "•••••••• kept in this computer's keyring"
TELEGRAM_HELP = ("Create a bot: message @BotFather, send /newbot, and paste the token it gives. Then send /start "
                 "to your bot and read your chat id from https://api.telegram.org/bot<token>/getUpdates "
                 "(\"chat\": {\"id\": …}).")
SECURITY_NAMES = {SmtpSecurity.STARTTLS: "STARTTLS (port 587)", SmtpSecurity.SSL: "SSL/TLS (port 465)",
                  SmtpSecurity.NONE: "None (a relay on this computer or network only)"}


@dataclass(frozen=True)
class _Loaded:
    settings: NotificationSettings
    has_token: bool
    has_password: bool


class NotificationsBox(QGroupBox):
    """The notification settings form, with "Send test" per channel."""

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__("Notifications (Telegram and e-mail)", parent)
        self.setObjectName("notifications_box")
        self._ctx = ctx
        self._has_token = self._has_password = False
        self.telegram_on = QCheckBox("Send to Telegram")
        self.token = _secret_field()
        self.chat_id = QLineEdit()
        self.chat_id.setPlaceholderText("e.g. 123456789")
        self.test_telegram = QPushButton("Send test")
        self.email_on = QCheckBox("Send e-mail")
        self.smtp_host = QLineEdit()
        self.smtp_host.setPlaceholderText("smtp.example.com")
        self.smtp_port = QSpinBox()
        self.smtp_port.setRange(1, 65535)
        self.smtp_port.setValue(587)
        self.security = QComboBox()
        for choice, name in SECURITY_NAMES.items():
            self.security.addItem(name, choice.value)
        self.smtp_user = QLineEdit()
        self.smtp_password = _secret_field()
        self.email_from = QLineEdit()
        self.email_from.setPlaceholderText("tnm@example.com")
        self.email_to = QLineEdit()
        self.email_to.setPlaceholderText("you@example.com, another@example.com")
        self.test_email = QPushButton("Send test")
        self.events = {kind: QCheckBox(KIND_NAMES[kind]) for kind in NotificationKind}
        self.save_button = QPushButton("Save notifications")
        self.busy = BusyIndicator()
        self.message = InlineMessage()
        self._build()
        self.security.currentIndexChanged.connect(self._on_security_changed)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.test_telegram.clicked.connect(lambda: self._send_test(Channel.TELEGRAM))
        self.test_email.clicked.connect(lambda: self._send_test(Channel.EMAIL))
        self.reload()

    def _build(self) -> None:
        help_label = QLabel(TELEGRAM_HELP)
        help_label.setWordWrap(True)
        help_label.setStyleSheet("color: palette(placeholder-text);")
        telegram = QFormLayout()
        telegram.addRow(self.telegram_on)
        telegram.addRow("Bot token", self.token)
        telegram.addRow("Chat id", _row(self.chat_id, self.test_telegram))
        telegram.addRow(help_label)
        email = QFormLayout()
        email.addRow(self.email_on)
        email.addRow("SMTP server", _row(self.smtp_host, QLabel("Port"), self.smtp_port))
        email.addRow("Security", self.security)
        email.addRow("User name", self.smtp_user)
        email.addRow("Password", self.smtp_password)
        email.addRow("From", self.email_from)
        email.addRow("To", _row(self.email_to, self.test_email))
        channels = QHBoxLayout()
        channels.addLayout(telegram, 1)
        channels.addSpacing(16)
        channels.addLayout(email, 1)
        events = QGridLayout()
        events.addWidget(QLabel("Send when:"), 0, 0)
        for i, box in enumerate(self.events.values()):
            events.addWidget(box, 1 + i // 3, i % 3)
        note = QLabel("The tray shows every event. Each one is sent once, by this app or by a headless agent "
                      "that has the token or password in its own keyring.")
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(placeholder-text);")
        layout = QVBoxLayout(self)
        layout.addLayout(channels)
        layout.addLayout(events)
        layout.addWidget(note)
        save_row = _row(self.save_button, self.busy)
        save_row.layout().addStretch(1)  # type: ignore[union-attr]
        layout.addWidget(save_row)
        layout.addWidget(self.message)

    # Loading and saving ---------------------------------------------------------------------

    def _user_id(self) -> str:
        session = self._ctx.services.data.session
        if session is None:
            raise UserError("Sign in first.", code="signed_out")
        return session.user_id

    def reload(self) -> None:
        """Load the settings and whether the secrets are in the keyring."""
        async def load() -> _Loaded:
            settings = await self._ctx.services.data.get_notification_settings()
            token, password = await asyncio.to_thread(load_secrets, self._user_id())
            return _Loaded(settings, bool(token), bool(password))

        self.busy.set_busy(True, "Loading…")
        self._ctx.tasks.spawn(load(), name="settings: notifications", key=f"notify-settings:{id(self)}",
                              on_result=self._on_loaded, on_error=self._on_failed)

    def _on_loaded(self, loaded: _Loaded) -> None:
        self.busy.set_busy(False)
        s = loaded.settings
        self._has_token, self._has_password = loaded.has_token, loaded.has_password
        self.telegram_on.setChecked(s.telegram_enabled)
        self.chat_id.setText(s.telegram_chat_id)
        self.email_on.setChecked(s.email_enabled)
        self.smtp_host.setText(s.smtp_host)
        self.smtp_port.setValue(s.smtp_port)
        self.security.setCurrentIndex(max(self.security.findData(s.smtp_security.value), 0))
        self.smtp_user.setText(s.smtp_username)
        self.email_from.setText(s.email_from)
        self.email_to.setText(s.email_to)
        for kind, box in self.events.items():
            box.setChecked(kind in s.events)
        self.token.clear()
        self.smtp_password.clear()
        self.token.setPlaceholderText(KEPT if self._has_token else "from @BotFather")
        self.smtp_password.setPlaceholderText(KEPT if self._has_password else "the account's or an app password")

    def _on_failed(self, exc: TnmError) -> None:
        self.busy.set_busy(False)
        self.message.show_error(exc.message)

    def settings(self) -> NotificationSettings:
        """The settings as the form says."""
        return NotificationSettings(
            telegram_enabled=self.telegram_on.isChecked(), telegram_chat_id=self.chat_id.text().strip(),
            email_enabled=self.email_on.isChecked(), smtp_host=self.smtp_host.text().strip(),
            smtp_port=self.smtp_port.value(), smtp_security=SmtpSecurity(self.security.currentData()),
            smtp_username=self.smtp_user.text().strip(), email_from=self.email_from.text().strip(),
            email_to=self.email_to.text().strip(),
            events=tuple(kind for kind, box in self.events.items() if box.isChecked()))

    def problem(self) -> str:
        """What keeps the form from working, or ""."""
        s = self.settings()
        if s.telegram_enabled and not s.telegram_chat_id:
            return "Telegram needs the chat id to send to."
        if s.telegram_enabled and not (self.token.text().strip() or self._has_token):
            return "Telegram needs your bot's token."
        if s.email_enabled and not (s.smtp_host and s.email_from and s.recipients()):
            return "E-mail needs the SMTP server, the address it comes from and the address to send to."
        return ""

    def _on_save_clicked(self) -> None:
        problem = self.problem()
        if problem:
            self.message.show_error(problem)
            return
        wanted, token, password = self.settings(), self.token.text().strip(), self.smtp_password.text()

        async def save() -> _Loaded:
            user = self._user_id()
            saved = await self._ctx.services.data.update_notification_settings(wanted)
            if token:
                await asyncio.to_thread(save_secret, telegram_token_name(user), token)
            if password:
                await asyncio.to_thread(save_secret, smtp_password_name(user), password)
            has_token, has_password = await asyncio.to_thread(load_secrets, user)
            return _Loaded(saved, bool(has_token), bool(has_password))

        self.busy.set_busy(True, "Saving…")
        self._ctx.tasks.spawn(save(), name="settings: save notifications", on_result=self._on_saved,
                              on_error=self._on_failed)

    def _on_saved(self, loaded: _Loaded) -> None:
        self._on_loaded(loaded)
        self.message.show_info("Saved. Use “Send test” to check each channel.")

    def _send_test(self, channel: Channel) -> None:
        settings, typed = self.settings(), (self.token if channel is Channel.TELEGRAM else self.smtp_password).text()

        async def send() -> None:
            secret = typed.strip() if channel is Channel.TELEGRAM else typed
            if not secret:
                token, password = await asyncio.to_thread(load_secrets, self._user_id())
                secret = (token if channel is Channel.TELEGRAM else password) or ""
            await deliver(channel, settings, secret, "Test message", TEST_TEXT)

        name = "Telegram" if channel is Channel.TELEGRAM else "E-mail"
        self.busy.set_busy(True, f"Sending a test by {name.lower()}…")
        self._ctx.tasks.spawn(send(), name=f"settings: test {channel.value}",
                              on_result=lambda _none: self._on_test_sent(name),
                              on_error=lambda exc: self._on_test_failed(name, exc))

    def _on_test_sent(self, name: str) -> None:
        self.busy.set_busy(False)
        self.message.show_info(f"{name}: the test message was accepted. Check that it arrived.")

    def _on_test_failed(self, name: str, exc: TnmError) -> None:
        self.busy.set_busy(False)
        self.message.show_error(f"{name}: {exc.message}")

    def _on_security_changed(self) -> None:
        ports = {SmtpSecurity.STARTTLS.value: 587, SmtpSecurity.SSL.value: 465}
        if self.smtp_port.value() in (25, 465, 587) and self.security.currentData() in ports:
            self.smtp_port.setValue(ports[self.security.currentData()])


def _secret_field() -> QLineEdit:
    field = QLineEdit()
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setMinimumWidth(220)
    return field


def _row(*widgets: QWidget) -> QWidget:
    holder = QWidget()
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return holder
