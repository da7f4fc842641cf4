"""“Connect my MetaTrader 5”: from the demo to the trader's own terminal, in one dialog.

The terminal (found where MetaTrader 5 is installed), the account's login, server and password
(to the keyring), a connection test that shows the account, whether it is a demo or real money,
algo trading on or off and the broker's symbol suffix; then Save pairs this computer when it is
not yet paired and points its agent at that terminal. A live account needs an explicit
confirmation; the dialog recommends starting on a demo account.
"""

from __future__ import annotations

import asyncio
import platform
import sys

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop import keystore
from tnm_desktop.agent import pairing
from tnm_desktop.agent.target import SIMULATOR_PATH
from tnm_desktop.domain import Agent
from tnm_desktop.errors import TnmError
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.this_machine import this_machines_agent
from tnm_desktop.gui.widgets import BusyIndicator, InlineMessage, fmt, theme
from tnm_desktop.terminal.check import ConnectionCheck
from tnm_desktop.terminal.install import find_terminals

DEMO_FIRST = ("<b>Start on a demo account.</b> Connect your broker's demo account first and let a few "
              "alerts trade on it. Move to a live account only when every alert does what you expect.")
_MODE_TEXT = {"demo": "Demo account (no real money)", "contest": "Contest account (no real money)",
              "real": "LIVE account — real money"}


def describe_check(found: ConnectionCheck) -> list[tuple[str, str, str]]:
    """The test's findings as (label, text, state) rows; state colours them (good/warn/bad)."""
    algo = (("On", "good") if found.algo_trading else
            ("Off — turn on the Algo Trading button in the terminal's toolbar, or every order is refused", "bad"))
    link = (("Yes", "good") if found.connected else
            ("No — the terminal has no connection to the broker; check its bottom-right corner", "bad"))
    suffix = (f"“{found.suffix}” — EURUSD is EURUSD{found.suffix} at this broker; alerts keep saying EURUSD"
              if found.suffix else "None — the broker uses plain names (EURUSD)")
    return [
        ("Account", f"{found.login} — {found.name}", "good"),
        ("Broker", f"{found.company} · server {found.server}", "good"),
        ("Kind", _MODE_TEXT[found.mode.value], "bad" if found.live else "good"),
        ("Balance", f"{fmt.money(found.balance, found.currency)} · leverage 1:{found.leverage}", "good"),
        ("Algo trading", *algo),
        ("Broker link", *link),
        ("Symbol suffix", suffix, "good"),
    ]


class ConnectMt5Dialog(QDialog):
    """Terminal, account, connection test, live confirmation, save (and pair).

    Signals:
        saved(object): the agent (paired now, or already) with its new terminal settings.
    """

    saved = Signal(object)

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect my MetaTrader 5")
        self.setObjectName("connect_mt5")
        self._ctx = ctx
        self.agent: Agent | None = None
        self.found: ConnectionCheck | None = None

        advice = QLabel(DEMO_FIRST)
        advice.setWordWrap(True)
        advice.setObjectName("demoFirst")
        warn = theme.state_color("warn")
        advice.setStyleSheet(f"#demoFirst {{ border-left: 4px solid {warn.name()}; padding: 8px 10px; "
                             f"background: rgba({warn.red()}, {warn.green()}, {warn.blue()}, 40); }}")
        self.terminal_box = QComboBox()
        self.terminal_box.setEditable(True)
        self.terminal_box.setMinimumWidth(380)
        self.browse_button = QPushButton("Browse…")
        self.found_label = QLabel()
        self.found_label.setWordWrap(True)
        self.found_label.setStyleSheet("color: palette(placeholder-text);")
        self.login_edit = QLineEdit()
        self.login_edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,20}"), self))
        self.login_edit.setPlaceholderText("Account number, as in the broker's e-mail")
        self.server_edit = QLineEdit()
        self.server_edit.setPlaceholderText("e.g. MetaQuotes-Demo (shown in the terminal's login window)")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("Kept in this computer's keyring, never online")
        self.name_edit = QLineEdit(platform.node() or "Trading PC")
        self.test_button = QPushButton("Test connection")
        self.busy = BusyIndicator()
        self.message = InlineMessage()
        self.findings = QFormLayout()
        self.live_confirm = QCheckBox("This is a live account: alerts will trade real money. I want to connect it.")
        self.live_confirm.hide()
        self.save_button = QPushButton("Save and use this terminal")
        self.save_button.setDefault(True)
        self.save_button.setEnabled(False)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)

        terminal_row = QHBoxLayout()
        terminal_row.addWidget(self.terminal_box, 1)
        terminal_row.addWidget(self.browse_button)
        self.form = QFormLayout()
        self.form.addRow("Terminal", terminal_row)
        self.form.addRow("", self.found_label)
        self.form.addRow("Login", self.login_edit)
        self.form.addRow("Server", self.server_edit)
        self.form.addRow("Password", self.password_edit)
        self.form.addRow("This computer", self.name_edit)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.busy)
        test_row.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(close)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addWidget(advice)
        layout.addLayout(self.form)
        layout.addLayout(test_row)
        layout.addWidget(self.message)
        layout.addLayout(self.findings)
        layout.addWidget(self.live_confirm)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self.resize(640, 560)

        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        self.test_button.clicked.connect(self._on_test_button_clicked)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.live_confirm.toggled.connect(self._update_save)
        self.terminal_box.editTextChanged.connect(self._forget_result)
        for edit in (self.login_edit, self.server_edit, self.password_edit):
            edit.textChanged.connect(self._forget_result)
        ctx.tasks.spawn(self._load(), name="connect mt5: load", key=f"connect-mt5:{id(self)}",
                        on_result=self._on_loaded)

    # Loading ----------------------------------------------------------------------------------

    async def _load(self) -> tuple[Agent | None, list[str]]:
        agent = await this_machines_agent(self._ctx)
        found = [str(p) for p in await asyncio.to_thread(find_terminals)]
        return agent, found

    def _on_loaded(self, loaded: tuple[Agent | None, list[str]]) -> None:
        agent, found = loaded
        self.agent = agent
        for path in found:
            self.terminal_box.addItem(path, path)
        self.terminal_box.addItem("Simulator (paper trading, no terminal)", SIMULATOR_PATH)
        if found:
            self.found_label.setText(f"MetaTrader 5 found on this computer ({len(found)}).")
        elif sys.platform == "win32":
            self.found_label.setText("MetaTrader 5 was not found. Install it from your broker's website, or "
                                     "choose its terminal64.exe with Browse….")
        else:
            self.found_label.setText("MetaTrader 5 runs on Windows; on this computer the agent trades on the "
                                     "simulator (or on MetaTrader 5 under Wine through mt5linux: Agent page).")
        if agent is not None:
            self.form.setRowVisible(self.name_edit, False)
            known = agent.terminal_path
            index = self.terminal_box.findData(known)
            if index >= 0:
                self.terminal_box.setCurrentIndex(index)
            elif known:
                self.terminal_box.setEditText(known)
            self.login_edit.setText("" if agent.mt5_login is None else str(agent.mt5_login))
            self.server_edit.setText(agent.mt5_server or "")
        self._forget_result()

    # The test ---------------------------------------------------------------------------------

    def terminal_path(self) -> str:
        """The terminal chosen: a listed one's stored form, or the path typed."""
        index = self.terminal_box.currentIndex()
        if index >= 0 and self.terminal_box.itemText(index) == self.terminal_box.currentText():
            return str(self.terminal_box.itemData(index))
        return self.terminal_box.currentText().strip()

    def _values(self) -> tuple[str, int | None, str | None, str | None]:
        login = self.login_edit.text().strip()
        return (self.terminal_path(), int(login) if login else None, self.server_edit.text().strip() or None,
                self.password_edit.text() or None)

    def _on_browse_button_clicked(self) -> None:
        dialog = QFileDialog(self, "The MetaTrader 5 terminal", "", "terminal64.exe (terminal64.exe);;Programs (*.exe)")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.terminal_box.setEditText)
        dialog.open()

    def _on_test_button_clicked(self) -> None:
        launcher = self._ctx.services.agents
        if launcher is None:
            self.message.show_error("This window runs no agent, so it cannot test a terminal.")
            return
        path, login, server, password = self._values()
        if login is not None and not server:
            self.message.show_error("Give the server too: the terminal needs it to log in to the account.")
            return
        self._forget_result()
        self.busy.set_busy(True, "Testing… (MetaTrader 5 may start and log in first)")
        self.test_button.setEnabled(False)
        self._ctx.tasks.spawn(launcher.test_terminal(path, login, server, password), name="connect mt5: test",
                              key=f"connect-mt5-test:{id(self)}", on_result=self._on_tested,
                              on_error=self._on_test_failed)

    def _on_tested(self, found: ConnectionCheck) -> None:
        self.busy.set_busy(False)
        self.test_button.setEnabled(True)
        self.found = found
        for label, text, state in describe_check(found):
            value = QLabel(text)
            value.setWordWrap(True)
            value.setObjectName(f"finding_{label.lower().replace(' ', '_')}")
            if state != "good":
                value.setStyleSheet(f"color: {theme.state_color(state).name()}; font-weight: 600;")
            self.findings.addRow(label, value)
        problems = not found.algo_trading or not found.connected
        if problems:
            self.message.show_error("Connected, but the agent cannot trade yet: fix what is marked, then test again.")
        else:
            self.message.show_info("Connected. The agent can trade on this account.")
        self.live_confirm.setChecked(False)
        self.live_confirm.setVisible(found.live)
        self._update_save()

    def _on_test_failed(self, exc: TnmError) -> None:
        self.busy.set_busy(False)
        self.test_button.setEnabled(True)
        self.message.show_error(exc.message)

    def _forget_result(self, *_args: object) -> None:
        # Any edit makes the last test say nothing about what would be saved.
        self.found = None
        while self.findings.rowCount():
            self.findings.removeRow(0)
        self.live_confirm.hide()
        self.live_confirm.setChecked(False)
        self._update_save()

    def _update_save(self, *_args: object) -> None:
        found = self.found
        self.save_button.setEnabled(found is not None and (not found.live or self.live_confirm.isChecked()))
        self.save_button.setToolTip("" if found is not None else "Test the connection first.")

    # Saving -----------------------------------------------------------------------------------

    def _on_save_button_clicked(self) -> None:
        found = self.found
        if found is None or (found.live and not self.live_confirm.isChecked()):
            return
        path, _login, server, password = self._values()
        data = self._ctx.services.data
        agent = self.agent
        name = self.name_edit.text().strip()
        if agent is None and not name:
            self.message.show_error("Give this computer a name, e.g. “Trading PC”.")
            return

        async def save() -> Agent:
            target = agent
            if target is None:
                target, _creds = await pairing.pair_machine(data, name)  # the key goes to the keyring
            updated = await data.update_agent(target.id, terminal_path=path, mt5_login=found.login,
                                              mt5_server=server or found.server)
            if password:
                await asyncio.to_thread(keystore.set_secret, pairing.password_name(target.id), password)
            return updated

        self.save_button.setEnabled(False)
        self.busy.set_busy(True, "Saving…")
        self._ctx.tasks.spawn(save(), name="connect mt5: save", on_result=self._on_saved,
                              on_error=self._on_save_failed)

    def _on_saved(self, agent: Agent) -> None:
        self.busy.set_busy(False)
        self.agent = agent
        self.password_edit.blockSignals(True)
        self.password_edit.clear()  # it is in the keyring now; it does not stay in the form
        self.password_edit.blockSignals(False)
        self.message.show_info(f"Saved. “{agent.name}” now trades on account {agent.mt5_login}; the agent "
                               "restarts with it.")
        self._ctx.agent.paired.emit(agent)  # the app's agent host (re)starts it with these settings
        self.saved.emit(agent)
        self._update_save()

    def _on_save_failed(self, exc: TnmError) -> None:
        self.busy.set_busy(False)
        self._update_save()
        self.message.show_error(exc.message)


def open_connect_mt5(ctx: ViewContext, parent: QWidget | None) -> ConnectMt5Dialog:
    """Open the dialog (not modal to the event loop: ``open()``, never ``exec()``)."""
    dialog = ConnectMt5Dialog(ctx, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
