"""The Agent view's terminal settings: which MT5 the agent drives, its account, and its password.

Kind, path, login and server go on the agent's row (``update_agent``), so every machine of the
trader sees what this agent is connected to. The row has no column for the kind: it is written
into ``terminal_path`` the way the agent reads it (``agent.target.TerminalTarget``). The
password goes to the OS keyring only, under ``pairing.password_name(agent_id)``, and leaves the
form as soon as it is saved.
"""

from __future__ import annotations

import asyncio
import ipaddress

from PySide6.QtCore import QRegularExpression, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from tnm_desktop import keystore
from tnm_desktop.agent import pairing
from tnm_desktop.agent.target import MT5LINUX_DEFAULT, TargetKind, TerminalTarget
from tnm_desktop.domain import Agent
from tnm_desktop.errors import UserError
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.widgets import InlineMessage

KIND_TEXT = {TargetKind.SIMULATOR: "Simulator (paper trading)", TargetKind.MT5: "MetaTrader 5 terminal",
             TargetKind.MT5LINUX: "mt5linux (MetaTrader 5 under Wine)"}


def checked_target(kind: TargetKind, location: str) -> TerminalTarget:
    """The target the form describes; UserError with a sentence for the form when it is wrong."""
    if kind is TargetKind.SIMULATOR:
        return TerminalTarget(kind)
    if kind is TargetKind.MT5:
        return TerminalTarget(kind, location)
    host, _, port = (location or MT5LINUX_DEFAULT).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError("Give the mt5linux server as host:port, e.g. 127.0.0.1:18812.", code="address")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        # The mt5linux server runs any Python it is sent: it must never be reachable from the network.
        raise UserError("The mt5linux server must be on this machine (127.0.0.1 or localhost).", code="address")
    return TerminalTarget(kind, location)


class TerminalSettings(QGroupBox):
    """Kind, path, login, server and password of the agent's terminal.

    Signals:
        saved(object): the Agent row after its settings were saved.
    """

    saved = Signal(object)

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__("Terminal", parent)
        self._ctx = ctx
        self._agent: Agent | None = None
        self.kind_box = QComboBox()
        for kind, text in KIND_TEXT.items():
            self.kind_box.addItem(text, kind.value)
        self.location_edit = QLineEdit()
        self.browse_button = QPushButton("Browse…")
        self.login_edit = QLineEdit()
        self.login_edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,20}"), self))
        self.login_edit.setPlaceholderText("Account number")
        self.server_edit = QLineEdit()
        self.server_edit.setPlaceholderText("e.g. MetaQuotes-Demo")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.save_button = QPushButton("Save terminal settings")
        self.message = InlineMessage()
        self._location_row = location = QHBoxLayout()
        location.addWidget(self.location_edit, 1)
        location.addWidget(self.browse_button)
        self.form = QFormLayout(self)
        self.form.addRow("Kind", self.kind_box)
        self.form.addRow("Path", location)
        self.form.addRow("Login", self.login_edit)
        self.form.addRow("Server", self.server_edit)
        self.form.addRow("Password", self.password_edit)
        self.form.addRow(self.save_button)
        self.form.addRow(self.message)
        self.kind_box.currentIndexChanged.connect(self._on_kind_box_current_index_changed)
        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.set_agent(None)

    @property
    def kind(self) -> TargetKind:
        """The kind chosen in the form."""
        return TargetKind(self.kind_box.currentData())

    def set_agent(self, agent: Agent | None) -> None:
        """Show (and edit) this agent's settings; disabled without one."""
        self._agent = agent
        self.setEnabled(agent is not None)
        self.message.clear()
        self.password_edit.clear()
        if agent is None:
            return
        target = TerminalTarget.parse(agent.terminal_path)
        self.kind_box.setCurrentIndex(self.kind_box.findData(target.kind.value))
        self.location_edit.setText(target.location)
        self.login_edit.setText("" if agent.mt5_login is None else str(agent.mt5_login))
        self.server_edit.setText(agent.mt5_server or "")
        self._on_kind_box_current_index_changed()
        self._ctx.tasks.spawn(asyncio.to_thread(keystore.get_secret, pairing.password_name(agent.id)),
                              name="agent: password stored?", key=f"agent-password:{id(self)}",
                              on_result=self._on_password_checked)

    def _on_password_checked(self, stored: str | None) -> None:
        # Only whether one is stored: the password itself never comes back into the form.
        self.password_edit.setPlaceholderText("Stored in the keyring (type to replace)" if stored else
                                              "MT5 account password (kept in the keyring)")

    def _on_kind_box_current_index_changed(self, _index: int = 0) -> None:
        kind = self.kind
        label = self.form.labelForField(self._location_row)
        if label is not None:
            label.setText("Address" if kind is TargetKind.MT5LINUX else "Path")  # type: ignore[attr-defined]
        self.location_edit.setEnabled(kind is not TargetKind.SIMULATOR)
        self.browse_button.setVisible(kind is TargetKind.MT5)
        self.location_edit.setPlaceholderText({
            TargetKind.SIMULATOR: "The simulator needs no terminal",
            TargetKind.MT5: r"C:\Program Files\MetaTrader 5\terminal64.exe (empty: the installed one)",
            TargetKind.MT5LINUX: f"{MT5LINUX_DEFAULT} (this machine only)"}[kind])

    def _on_browse_button_clicked(self) -> None:
        dialog = QFileDialog(self, "The MetaTrader 5 terminal", "", "terminal64.exe (terminal64.exe);;Programs (*.exe)")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.location_edit.setText)
        dialog.open()

    def _on_save_button_clicked(self) -> None:
        agent = self._agent
        if agent is None:
            return
        self.message.clear()
        try:
            target = checked_target(self.kind, self.location_edit.text().strip())
        except UserError as exc:
            self.message.show_error(exc.message)
            return
        login_text = self.login_edit.text().strip()
        password = self.password_edit.text()
        data = self._ctx.services.data

        async def save() -> Agent:
            updated = await data.update_agent(agent.id, terminal_path=target.to_path(),
                                              mt5_login=int(login_text) if login_text else None,
                                              mt5_server=self.server_edit.text().strip() or None)
            if password:
                await asyncio.to_thread(keystore.set_secret, pairing.password_name(agent.id), password)
            return updated

        def done(updated: Agent) -> None:
            self.password_edit.clear()
            if password:
                self._on_password_checked("stored")
            self._agent = updated
            self.message.show_info("Saved. The agent uses these settings the next time it starts.")
            self.saved.emit(updated)

        self._ctx.tasks.spawn(save(), name="agent: save terminal", on_result=done,
                              on_error=lambda exc: self.message.show_error(exc.message))
