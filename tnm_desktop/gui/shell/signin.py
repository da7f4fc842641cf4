"""The sign-in window: a connection profile, email and password, remember me, create account.

The window only collects and shows; the app controller does the work (opening the workspace,
signing in) off the GUI thread and calls :meth:`SignInWindow.set_busy` /
:meth:`SignInWindow.show_error` with the outcome.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.gui.shell.profiles_dialog import ProfilesDialog
from tnm_desktop.gui.widgets import BusyIndicator, InlineMessage, theme
from tnm_desktop.gui.widgets.tasks import TaskRunner
from tnm_desktop.profiles import ConnectionProfile, ProfileKind, ProfileStore


def describe(profile: ConnectionProfile) -> str:
    """One line saying where a profile's data lives."""
    if profile.kind is ProfileKind.LOCAL:
        return f"Local workspace · {profile.workspace_dir}"
    return f"Supabase project · {profile.supabase_url}"


class SignInWindow(QWidget):
    """Where the trader signs in or creates an account.

    Args:
        tasks: Runs the profile file's reads and writes (for the profiles dialog).
        store: The profiles file.

    Signals:
        submitted(object, str, str, bool, bool): profile, email, password, remember, create account.
        profile_changed(object): another profile was picked (the app may start opening it).
        closed(): the user closed the window.
    """

    submitted = Signal(object, str, str, bool, bool)
    profile_changed = Signal(object)
    closed = Signal()

    def __init__(self, tasks: TaskRunner, store: ProfileStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("TNM Desktop — Sign in")
        self.setWindowIcon(theme.app_icon())
        self.setObjectName("sign_in_window")
        self._tasks = tasks
        self._store = store
        self._profiles: list[ConnectionProfile] = []
        self._default_id: str | None = None
        self._busy = False

        logo = QLabel()
        logo.setPixmap(theme.app_icon().pixmap(40, 40))
        title = QLabel("TNM Desktop")
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        title.setFont(font)
        heading = QHBoxLayout()
        heading.setSpacing(12)
        heading.addWidget(logo)
        heading.addWidget(title, 1)
        subtitle = QLabel("TradingView alerts to MetaTrader 5 — sign in to your workspace.")
        subtitle.setWordWrap(True)

        self.profile = QComboBox()
        self.profile.setMinimumWidth(240)
        self.profile.currentIndexChanged.connect(self._on_profile_current_index_changed)
        self.manage = QPushButton("Manage…")
        self.manage.clicked.connect(self._on_manage_clicked)
        profile_row = QHBoxLayout()
        profile_row.addWidget(self.profile, 1)
        profile_row.addWidget(self.manage)
        self.where = QLabel()
        self.where.setWordWrap(True)
        self.where.setStyleSheet("color: palette(placeholder-text);")

        self.email = QLineEdit()
        self.email.setPlaceholderText("you@example.com")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.returnPressed.connect(self._on_sign_in_clicked)
        self.remember = QCheckBox("Keep me signed in on this computer")
        self.message = InlineMessage()
        self.busy = BusyIndicator()

        self.create_button = QPushButton("Create account")
        self.create_button.clicked.connect(self._on_create_clicked)
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.setDefault(True)
        self.sign_in_button.setObjectName("primary")
        self.sign_in_button.setStyleSheet(
            "#primary { background: palette(highlight); color: palette(highlighted-text); font-weight: 600; "
            "border: 1px solid palette(highlight); border-radius: 4px; padding: 5px 18px; }"
            "#primary:disabled { background: palette(mid); border-color: palette(mid); }")
        self.sign_in_button.clicked.connect(self._on_sign_in_clicked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.busy)
        buttons.addStretch(1)
        buttons.addWidget(self.create_button)
        buttons.addWidget(self.sign_in_button)

        form = QFormLayout()
        form.addRow("Connection", profile_row)
        form.addRow("", self.where)
        form.addRow("Email", self.email)
        form.addRow("Password", self.password)
        form.addRow("", self.remember)

        card = QFrame()
        card.setObjectName("card")
        # The fields share the card's colour: their borders are what shows them, in either theme.
        card.setStyleSheet(
            "#card { background: palette(base); border: 1px solid palette(mid); border-radius: 10px; }"
            "#card QLineEdit { border: 1px solid palette(mid); border-radius: 4px; padding: 4px 6px; "
            "background: palette(base); }"
            "#card QLineEdit:focus { border-color: palette(highlight); }"
            "#card QCheckBox::indicator { width: 13px; height: 13px; border: 1px solid palette(mid); "
            "border-radius: 3px; background: palette(base); }"
            "#card QCheckBox::indicator:checked { background: palette(highlight); border-color: palette(highlight); }")
        inner = QVBoxLayout(card)
        inner.setContentsMargins(28, 24, 28, 24)
        inner.setSpacing(12)
        inner.addLayout(heading)
        inner.addWidget(subtitle)
        inner.addSpacing(6)
        inner.addLayout(form)
        inner.addWidget(self.message)
        inner.addLayout(buttons)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 24, 24, 24)
        outer.addWidget(card)
        self.resize(560, 420)

    # What the controller calls ----------------------------------------------------------------

    def set_profiles(self, profiles: list[ConnectionProfile], selected_id: str | None,
                     default_id: str | None = None) -> None:
        """Fill the profile list and select one (its last email is filled in)."""
        self._profiles = list(profiles)
        self._default_id = default_id if default_id is not None else selected_id
        self.profile.blockSignals(True)
        self.profile.clear()
        for profile in self._profiles:
            self.profile.addItem(profile.name, profile.id)
        ids = [p.id for p in self._profiles]
        self.profile.setCurrentIndex(ids.index(selected_id) if selected_id in ids else 0)
        self.profile.blockSignals(False)
        self._show_profile()

    def selected_profile(self) -> ConnectionProfile | None:
        """The profile picked in the list."""
        index = self.profile.currentIndex()
        return self._profiles[index] if 0 <= index < len(self._profiles) else None

    def set_busy(self, busy: bool, text: str = "") -> None:
        """Show that work is in flight; the buttons wait, the fields stay editable."""
        self._busy = busy
        self.busy.set_busy(busy, text)
        for widget in (self.sign_in_button, self.create_button, self.profile, self.manage):
            widget.setEnabled(not busy)
        if busy:
            self.message.clear()

    def show_error(self, text: str) -> None:
        """Say what went wrong, in the window."""
        self.set_busy(False)
        self.message.show_error(text)

    # Slots ------------------------------------------------------------------------------------

    def _on_profile_current_index_changed(self, _index: int) -> None:
        self._show_profile()
        profile = self.selected_profile()
        if profile is not None:
            self.profile_changed.emit(profile)

    def _on_manage_clicked(self) -> None:
        current = self.selected_profile()
        dialog = ProfilesDialog(self._tasks, self._store, self._profiles, self._default_id,
                                current.id if current else None, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.profiles_changed.connect(self._on_dialog_profiles_changed)
        dialog.open()

    def _on_dialog_profiles_changed(self, profiles: list[ConnectionProfile], default_id: str | None) -> None:
        current = self.selected_profile()
        keep = current.id if current and any(p.id == current.id for p in profiles) else default_id
        self.set_profiles(profiles, keep, default_id)
        profile = self.selected_profile()
        if profile is not None:
            self.profile_changed.emit(profile)

    def _on_sign_in_clicked(self) -> None:
        self._submit(create=False)

    def _on_create_clicked(self) -> None:
        self._submit(create=True)

    def _submit(self, *, create: bool) -> None:
        if self._busy:
            return
        profile = self.selected_profile()
        if profile is None:
            self.message.show_error("Add a connection profile first (Manage…).")
            return
        email, password = self.email.text().strip(), self.password.text()
        if not email or not password:
            self.message.show_error("Enter your email and password.")
            return
        self.submitted.emit(profile, email, password, self.remember.isChecked(), create)

    def _show_profile(self) -> None:
        profile = self.selected_profile()
        self.where.setText(describe(profile) if profile else "No connection profile yet.")
        if profile is not None and profile.last_email and not self.email.text():
            self.email.setText(profile.last_email)
        self.create_button.setToolTip(
            "Create an account in this workspace." if profile is None or profile.kind is ProfileKind.LOCAL
            else "Create an account in this Supabase project (if the project allows sign-ups).")

    def closeEvent(self, event: QCloseEvent) -> None:
        super().closeEvent(event)
        self.closed.emit()


async def load_profiles(store: ProfileStore) -> tuple[list[ConnectionProfile], str | None]:
    """Read the profiles file off the GUI thread."""
    return await asyncio.to_thread(store.load)
