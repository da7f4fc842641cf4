"""Create or edit a broker connection: where it trades, which agent serves it, how symbols map, and
the pip size of symbols whose broker counts pips otherwise than the rule."""

from __future__ import annotations

import re

from PySide6.QtCore import Signal
from PySide6.QtGui import QIntValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.domain import Agent, BrokerConnection, BrokerConnectionDraft
from tnm_desktop.domain.pips import format_pip_sizes, parse_pip_sizes
from tnm_desktop.errors import TnmError, UserError
from tnm_desktop.gui.pages.brokers_model import SymbolMapModel
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.strategy_dialog import parse_pair
from tnm_desktop.gui.widgets import BusyIndicator, InlineMessage
from tnm_desktop.gui.widgets.tables import setup_table

_BROKER_SYMBOL = re.compile(r"^\S{1,32}$")
PREVIEW_SYMBOLS = ("EURUSD", "XAUUSD")


def symbol_map_of(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The mapping the rows describe; UserError naming the first bad row. Empty rows are skipped."""
    mapping: dict[str, str] = {}
    for number, (tv, broker) in enumerate(pairs, start=1):
        if not tv and not broker:
            continue
        if not tv or not broker:
            raise UserError(f"Row {number} of the symbol mapping needs both symbols.", code="invalid")
        symbol = parse_pair(tv)
        if not _BROKER_SYMBOL.match(broker):
            raise UserError(f"“{broker}” is not a broker symbol (no spaces, at most 32 characters).",
                            code="invalid")
        if symbol in mapping:
            raise UserError(f"{symbol} is mapped twice.", code="invalid")
        mapping[symbol] = broker
    return mapping


def _likely_agent(ctx: ViewContext, agents: list[Agent]) -> str | None:
    # A new connection is most likely served by the agent running in this app, else by a paired one.
    control = ctx.agent.control
    here = getattr(control, "agent_id", None)  # the AgentThread running here knows its agent
    paired = [a.id for a in agents if a.paired]
    if here in paired:
        return here
    return paired[0] if paired else None


class BrokerDialog(QDialog):
    """The broker connection form; saves through the data port.

    Signals:
        saved(object): the BrokerConnection as stored.
    """

    saved = Signal(object)

    def __init__(self, ctx: ViewContext, agents: list[Agent], connection: BrokerConnection | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("broker_dialog")
        self.setWindowTitle("Edit broker connection" if connection else "New broker connection")
        self._ctx = ctx
        self._connection = connection
        c = connection

        self.name = QLineEdit(c.name if c else "")
        self.name.setMaxLength(100)
        self.name.setPlaceholderText("e.g. IC Markets live")
        self.agent = QComboBox()
        self.agent.addItem("No agent yet" if not agents else "None (orders wait for one)", None)
        for agent in agents:
            self.agent.addItem(f"{agent.name} ({agent.machine_name})" if agent.machine_name else agent.name, agent.id)
        chosen = c.agent_id if c is not None else _likely_agent(ctx, agents)
        if chosen:
            self.agent.setCurrentIndex(max(self.agent.findData(chosen), 0))
        self.broker_name = QLineEdit(c.broker_name if c else "")
        self.server = QLineEdit(c.server if c else "")
        self.server.setPlaceholderText("e.g. ICMarketsSC-Live07")
        self.login = QLineEdit("" if c is None or c.login is None else str(c.login))
        self.login.setValidator(QIntValidator(1, 2_000_000_000, self))
        self.account_type = QComboBox()
        self.account_type.addItem("Demo", "demo")
        self.account_type.addItem("Live", "live")
        self.account_type.setCurrentIndex(1 if c is not None and c.account_type == "live" else 0)
        self.suffix = QLineEdit(c.symbol_suffix if c else "")
        self.suffix.setMaxLength(16)
        self.suffix.setPlaceholderText("e.g. .m or .raw (appended to unmapped symbols)")
        self.pip_sizes = QLineEdit(format_pip_sizes(c.pip_sizes) if c else "")
        self.pip_sizes.setObjectName("pip_sizes")
        self.pip_sizes.setPlaceholderText("e.g. XAUUSD=0.01, US30=0.1 (only where your broker differs)")
        self.pip_note = QLabel("Stops in pips use each symbol's own pip: 0.0001 on EURUSD, 0.01 on USDJPY, 0.10 on "
                               "gold, 1 point on indices. Set a symbol's pip size here if your broker counts "
                               "otherwise.")
        self.pip_note.setWordWrap(True)
        self.pip_note.setStyleSheet("color: palette(placeholder-text);")
        self.active = QCheckBox("Active")
        self.active.setChecked(c.is_active if c else True)

        self.map_model = SymbolMapModel(c.symbol_map if c else None, self)
        self.map_table = QTableView()
        self.map_table.setObjectName("symbol_map")
        self.map_table.setModel(self.map_model)
        setup_table(self.map_table, widths={0: 170})
        self.map_table.setMinimumHeight(130)
        add = QPushButton("Add mapping")
        add.setAutoDefault(False)
        add.clicked.connect(self._on_add_clicked)
        remove = QPushButton("Remove")
        remove.setAutoDefault(False)
        remove.clicked.connect(self._on_remove_clicked)
        map_buttons = QHBoxLayout()
        map_buttons.addWidget(add)
        map_buttons.addWidget(remove)
        map_buttons.addStretch(1)
        self.preview = QLabel()
        self.preview.setStyleSheet("color: palette(placeholder-text);")
        self.suffix.textChanged.connect(self._on_suffix_text_changed)
        self.map_model.dataChanged.connect(self._show_preview)
        self.map_model.rowsRemoved.connect(self._show_preview)
        self._show_preview()

        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Served by agent", self.agent)
        form.addRow("Broker", self.broker_name)
        form.addRow("Server", self.server)
        form.addRow("Login", self.login)
        form.addRow("Account type", self.account_type)
        form.addRow("Symbol suffix", self.suffix)
        form.addRow("Symbol mapping", self.map_table)
        form.addRow("", map_buttons)
        form.addRow("", self.preview)
        form.addRow("Pip sizes", self.pip_sizes)
        form.addRow("", self.pip_note)
        form.addRow("", self.active)
        self.message = InlineMessage()
        self.busy = BusyIndicator()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.busy)
        bottom.addStretch(1)
        bottom.addWidget(self.buttons)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addLayout(bottom)
        self.resize(580, 680)

    def draft(self) -> BrokerConnectionDraft:
        """The connection the form describes; UserError saying what to fix."""
        name = self.name.text().strip()
        if not name:
            raise UserError("Give the broker connection a name.", code="invalid")
        login_text = self.login.text().strip()
        if login_text and not login_text.isdigit():
            raise UserError("The login is the account number: digits only.", code="invalid")
        suffix = self.suffix.text().strip()
        if " " in suffix:
            raise UserError("The symbol suffix cannot contain spaces.", code="invalid")
        return BrokerConnectionDraft(
            name=name, agent_id=self.agent.currentData(), broker_name=self.broker_name.text().strip(),
            server=self.server.text().strip(), login=int(login_text) if login_text else None,
            account_type=str(self.account_type.currentData()), symbol_suffix=suffix,
            symbol_map=symbol_map_of(self.map_model.pairs()), is_active=self.active.isChecked(),
            pip_sizes=parse_pip_sizes(self.pip_sizes.text()))

    # Slots ------------------------------------------------------------------------------------

    def _on_add_clicked(self) -> None:
        row = self.map_model.add_row()
        index = self.map_model.index(row, 0)
        self.map_table.setCurrentIndex(index)
        self.map_table.edit(index)

    def _on_remove_clicked(self) -> None:
        rows = sorted({i.row() for i in self.map_table.selectionModel().selectedIndexes()}, reverse=True)
        for row in rows:
            self.map_model.removeRows(row, 1)

    def _on_suffix_text_changed(self, _text: str) -> None:
        self._show_preview()

    def _show_preview(self, *_args: object) -> None:
        try:
            mapping = symbol_map_of(self.map_model.pairs())
        except UserError:
            mapping = {}
        suffix = self.suffix.text().strip()
        shown = [(s, mapping.get(s) or f"{s}{suffix}") for s in (*PREVIEW_SYMBOLS, *sorted(mapping)[:2])]
        self.preview.setText("Orders go out as: " + ", ".join(f"{tv} → {b}" for tv, b in dict(shown).items()))

    def _on_buttons_accepted(self) -> None:
        try:
            draft = self.draft()
        except UserError as exc:
            self.message.show_error(exc.message)
            return
        data = self._ctx.services.data
        work = (data.update_broker_connection(self._connection.id, draft) if self._connection
                else data.create_broker_connection(draft))
        self.busy.set_busy(True, "Saving…")
        self.buttons.setEnabled(False)
        self._ctx.tasks.spawn(work, name="save-broker", key=f"save-broker-{id(self)}",
                              on_result=self._saved, on_error=self._failed)

    def _saved(self, connection: BrokerConnection) -> None:
        self.busy.set_busy(False)
        self.buttons.setEnabled(True)
        self.saved.emit(connection)
        self.accept()

    def _failed(self, exc: TnmError) -> None:
        self.busy.set_busy(False)
        self.buttons.setEnabled(True)
        self.message.show_error(exc.message)
