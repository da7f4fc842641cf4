"""The Agent view's pairing box: make this machine an agent, give it a new key, or revoke it.

The key itself is never shown and never held by a widget: :mod:`tnm_desktop.agent.pairing`
creates it, puts it in the OS keyring and stores only its bcrypt hash; the box shows its prefix.
bcrypt and the keyring block, so they run in worker threads inside those coroutines.
"""

from __future__ import annotations

import platform
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton, QWidget

from tnm_desktop.agent import pairing
from tnm_desktop.domain import Agent, AgentCredentials
from tnm_desktop.errors import TnmError
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.widgets import BusyIndicator, InlineMessage, ask, fmt


def key_prefix_text(agent: Agent) -> str:
    """How the key is shown: its prefix and an ellipsis, never more."""
    return f"{agent.pairing_key_prefix}…" if agent.pairing_key_prefix else "—"


class PairingBox(QGroupBox):
    """Pair this machine, or show its pairing with Re-pair and Revoke.

    Signals:
        paired(object): this machine was paired or re-paired (the Agent).
        revoked(str): this machine's agent was revoked (its id).
    """

    paired = Signal(object)
    revoked = Signal(str)

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__("This machine", parent)
        self._ctx = ctx
        self.agent: Agent | None = None
        self.confirmation: QMessageBox | None = None  # the open question, for tests to answer
        self.name_edit = QLineEdit(platform.node() or "Trading PC")
        self.name_edit.setPlaceholderText("A name for this machine")
        self.pair_button = QPushButton("Pair this machine")
        self.repair_button = QPushButton("Re-pair…")
        self.revoke_button = QPushButton("Revoke…")
        self.name_label = QLabel()
        self.machine_label = QLabel()
        self.key_label = QLabel()
        self.key_label.setObjectName("keyPrefix")
        self.since_label = QLabel()
        self.busy = BusyIndicator()
        self.message = InlineMessage()
        self.form = QFormLayout(self)
        self.form.addRow("Name", self.name_edit)
        self.form.addRow("Agent", self.name_label)
        self.form.addRow("Machine", self.machine_label)
        self.form.addRow("Pairing key", self.key_label)
        self.form.addRow("Paired", self.since_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.pair_button)
        buttons.addWidget(self.repair_button)
        buttons.addWidget(self.revoke_button)
        buttons.addStretch(1)
        self.form.addRow(buttons)
        self.form.addRow(self.busy)
        self.form.addRow(self.message)
        self.pair_button.clicked.connect(self._on_pair_button_clicked)
        self.repair_button.clicked.connect(self._on_repair_button_clicked)
        self.revoke_button.clicked.connect(self._on_revoke_button_clicked)
        self.set_agent(None)

    def set_agent(self, agent: Agent | None) -> None:
        """Show this machine's agent (None: not paired here)."""
        self.agent = agent
        here = agent is not None
        self.form.setRowVisible(self.name_edit, not here)
        for label in (self.name_label, self.machine_label, self.key_label, self.since_label):
            self.form.setRowVisible(label, here)
        self.pair_button.setVisible(not here)
        self.repair_button.setVisible(here)
        self.revoke_button.setVisible(here)
        if agent is not None:
            self.name_label.setText(agent.name)
            self.machine_label.setText(agent.machine_name or "—")
            self.key_label.setText(key_prefix_text(agent))
            self.since_label.setText(fmt.moment(agent.created_at))

    # Actions --------------------------------------------------------------------------------

    def _on_pair_button_clicked(self) -> None:
        name = self.name_edit.text().strip()
        if not name:
            self.message.show_error("Give this machine a name, e.g. “Trading PC”.")
            return
        self._run(pairing.pair_machine(self._ctx.services.data, name), "Pairing…",
                  "This machine is paired. Its key is in the keyring; only its fingerprint is stored online.")

    def _on_repair_button_clicked(self) -> None:
        agent = self.agent
        if agent is None:
            return
        self.confirmation = ask(
            self, "Re-pair this machine", f"Give “{agent.name}” a new pairing key?", "Re-pair",
            lambda: self._run(pairing.re_pair(self._ctx.services.data, agent.id), "Re-pairing…",
                              "New key in place; the old one no longer works."),
            details="The current key stops working at once. An agent running elsewhere with it stops.")

    def _on_revoke_button_clicked(self) -> None:
        agent = self.agent
        if agent is None:
            return
        self.confirmation = ask(
            self, "Revoke this machine", f"Revoke “{agent.name}”?", "Revoke", lambda: self._revoke(agent),
            destructive=True,
            details="It can no longer trade, take requests or report anything, and its key is removed from this "
                    "machine. You can pair the machine again later.")

    def _revoke(self, agent: Agent) -> None:
        control = self._ctx.agent.control
        if control is not None:
            control.stop()  # its key is about to stop working
        self.busy.set_busy(True, "Revoking…")

        def done(_revoked: Agent) -> None:
            self.busy.set_busy(False)
            self.set_agent(None)
            self.message.show_info(f"“{agent.name}” is revoked.")
            self.revoked.emit(agent.id)

        self._ctx.tasks.spawn(pairing.revoke(self._ctx.services.data, agent.id), name="agent: revoke",
                              on_result=done, on_error=self._failed)

    def _run(self, work: Coroutine[Any, Any, tuple[Agent, AgentCredentials]], busy: str, success: str) -> None:
        self.message.clear()
        self.busy.set_busy(True, busy)
        self.pair_button.setEnabled(False)

        def done(result: tuple[Agent, AgentCredentials]) -> None:
            agent, _creds = result  # the credentials stay out of the GUI: the agent reads the keyring
            self.busy.set_busy(False)
            self.pair_button.setEnabled(True)
            self.set_agent(agent)
            self.message.show_info(success)
            self.paired.emit(agent)

        self._ctx.tasks.spawn(work, name="agent: pair", key=f"agent-pair:{id(self)}", on_result=done,
                              on_error=self._failed)

    def _failed(self, exc: TnmError) -> None:
        self.busy.set_busy(False)
        self.pair_button.setEnabled(True)
        self.message.show_error(exc.message)
