"""The Settings view: risk limits, broker connections and their symbol mapping, webhook base, theme."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.domain import Agent, BrokerConnection, UserSettings
from tnm_desktop.errors import TnmError, UserError
from tnm_desktop.gui.pages.broker_dialog import BrokerDialog
from tnm_desktop.gui.pages.brokers_model import BrokersModel
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.notify_settings import NotificationsBox
from tnm_desktop.gui.pages.risk_form import RiskForm
from tnm_desktop.gui.widgets import BusyIndicator, InlineMessage, ask, theme
from tnm_desktop.gui.widgets.tables import remember_columns, setup_table
from tnm_desktop.profiles import ConnectionProfile, ProfileStore


@dataclass(frozen=True)
class _Loaded:
    settings: UserSettings
    brokers: list[BrokerConnection]
    agents: list[Agent]


def _section(title: str, *widgets: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    for widget in widgets:
        layout.addWidget(widget)
    return box


def _row(*widgets: QWidget) -> QWidget:
    holder = QWidget()
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    return holder


class SettingsView(QWidget):
    """Everything the trader sets once and rarely changes."""

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None, *, store: ProfileStore | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._store = store
        self._agents: list[Agent] = []

        self.risk = RiskForm()
        self.save_risk = QPushButton("Save sizing and limits")
        self.save_risk.clicked.connect(self._on_save_risk_clicked)
        self.risk_busy = BusyIndicator()
        self.risk_message = InlineMessage()

        self.brokers = BrokersModel(self)
        self.broker_table = QTableView()
        self.broker_table.setObjectName("brokers_table")
        self.broker_table.setModel(self.brokers)
        setup_table(self.broker_table, widths={0: 180, 1: 130, 2: 130, 3: 80, 4: 55, 5: 55, 7: 150, 8: 55},
                    stretch=6)
        remember_columns(self.broker_table, ctx.settings, "brokers")
        self.broker_table.setMinimumHeight(160)
        self.broker_table.doubleClicked.connect(self._on_broker_table_double_clicked)
        self.add_broker = QPushButton("Add connection…")
        self.add_broker.clicked.connect(lambda: self.open_broker_dialog(None))
        self.edit_broker = QPushButton("Edit…")
        self.edit_broker.clicked.connect(self._on_edit_broker_clicked)
        self.delete_broker = QPushButton("Delete…")
        self.delete_broker.clicked.connect(self._on_delete_broker_clicked)
        self.broker_message = InlineMessage()

        self.webhook_base = QLineEdit()
        self.webhook_base.setPlaceholderText("https://hooks.example.com")
        self.save_webhook = QPushButton("Save")
        self.save_webhook.clicked.connect(self._on_save_webhook_clicked)
        self.webhook_message = InlineMessage()
        webhook_form = QWidget()
        form = QFormLayout(webhook_form)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Base URL", _row(self.webhook_base, self.save_webhook))
        self.webhook_base.setMinimumWidth(280)
        self.webhook_hint = QLabel("Every strategy's webhook URL starts with this address: where TradingView "
                                   "reaches your webhook receiver. Leave it empty for this workspace's own "
                                   "receiver, or your Supabase project's Edge Function.")
        self.webhook_hint.setWordWrap(True)
        self.webhook_hint.setStyleSheet("color: palette(placeholder-text);")
        form.addRow(self.webhook_hint)
        # A local workspace's receiver: its port is part of every URL, so it changes only here.
        self.receiver_port = QSpinBox()
        self.receiver_port.setRange(1, 65535)
        self.receiver_port.setObjectName("receiver_port")
        self.apply_port = QPushButton("Use this port")
        self.apply_port.clicked.connect(self._on_apply_port_clicked)
        self.port_busy = BusyIndicator()
        self.port_row = _row(self.receiver_port, self.apply_port, self.port_busy)
        self.port_state = QLabel()
        self.port_state.setWordWrap(True)
        form.addRow("Receiver port", self.port_row)
        form.addRow(self.port_state)
        has_receiver = ctx.services.receiver is not None
        self.port_row.setVisible(has_receiver)
        self.port_state.setVisible(has_receiver)
        if not has_receiver:
            form.labelForField(self.port_row).hide()

        self.theme = QComboBox()
        self.theme.addItem("Light", theme.Theme.LIGHT.value)
        self.theme.addItem("Dark", theme.Theme.DARK.value)
        self.theme.currentIndexChanged.connect(self._on_theme_current_index_changed)
        theme_form = QWidget()
        form = QFormLayout(theme_form)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Theme", self.theme)

        # Risk beside the profile and appearance; the broker table below, full width.
        side = QVBoxLayout()
        side.addWidget(_section("Webhooks of this profile", webhook_form, self.webhook_message))
        side.addWidget(_section("Appearance", theme_form))
        side.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(_section("Sizing and risk limits", self.risk, _row(self.save_risk, self.risk_busy),
                               self.risk_message), 1)
        top.addLayout(side, 1)
        content = QWidget()
        column = QVBoxLayout(content)
        column.addLayout(top)
        column.addWidget(_section(
            "Broker connections", self.broker_table,
            _row(self.add_broker, self.edit_broker, self.delete_broker), self.broker_message), 1)
        self.notifications = NotificationsBox(ctx)
        column.addWidget(self.notifications)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        self._show_profile()
        self.reload()

    # Loading ----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Load the risk settings, broker connections and agents."""
        self.risk_busy.set_busy(True, "Loading…")
        self.save_risk.setEnabled(False)
        self._ctx.tasks.spawn(self._load(), name="settings", key=f"settings-{id(self)}",
                              on_result=self._loaded, on_error=self._load_failed)

    async def _load(self) -> _Loaded:
        data = self._ctx.services.data
        settings, brokers, agents = await asyncio.gather(
            data.get_settings(), data.list_broker_connections(), data.list_agents())
        return _Loaded(settings, brokers, agents)

    def _loaded(self, loaded: _Loaded) -> None:
        self.risk_busy.set_busy(False)
        self.save_risk.setEnabled(True)
        self.risk.set_settings(loaded.settings)
        self._agents = loaded.agents
        self.brokers.set_all(loaded.brokers, {a.id: a.name for a in loaded.agents})

    def _load_failed(self, exc: TnmError) -> None:
        self.risk_busy.set_busy(False)
        self.risk_message.show_error(f"Could not load the settings: {exc.message}")

    def _show_profile(self) -> None:
        self.webhook_base.setText(self._ctx.services.profile.webhook_base_url)
        self.webhook_base.setPlaceholderText(self._ctx.services.webhook_base_url)
        self._show_receiver()
        self.theme.blockSignals(True)
        self.theme.setCurrentIndex(max(self.theme.findData(theme.current().value), 0))
        self.theme.blockSignals(False)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._show_profile()
        # The switch may have been turned meanwhile (Stop trading, an alert, the daily loss).
        self._ctx.tasks.spawn(self._ctx.services.data.get_settings(), name="settings-switch",
                              key=f"settings-switch-{id(self)}",
                              on_result=lambda s: self.risk.show_switch(s.trading_enabled, s.trading_off_reason),
                              on_error=lambda _exc: None)  # the full load reports its own failure

    # Risk -------------------------------------------------------------------------------------

    def _on_save_risk_clicked(self) -> None:
        try:
            settings = self.risk.settings()
        except UserError as exc:
            self.risk_message.show_error(exc.message)
            return
        self.risk_busy.set_busy(True, "Saving…")
        self.save_risk.setEnabled(False)
        self._ctx.tasks.spawn(self._ctx.services.data.update_settings(settings), name="save-settings",
                              key=f"settings-{id(self)}", on_result=self._risk_saved, on_error=self._risk_failed)

    def _risk_saved(self, settings: UserSettings) -> None:
        self.risk_busy.set_busy(False)
        self.save_risk.setEnabled(True)
        self.risk.set_settings(settings)
        self.risk_message.show_info("Risk settings saved. The next order is checked against them.")

    def _risk_failed(self, exc: TnmError) -> None:
        self.risk_busy.set_busy(False)
        self.save_risk.setEnabled(True)
        self.risk_message.show_error(exc.message)

    # Broker connections -----------------------------------------------------------------------

    def selected_broker(self) -> BrokerConnection | None:
        """The selected broker connection."""
        rows = self.broker_table.selectionModel().selectedRows()
        return self.brokers.connection(rows[0].row()) if rows else None

    def open_broker_dialog(self, connection: BrokerConnection | None) -> BrokerDialog:
        """Open the broker connection dialog (non-blocking) and return it."""
        self.broker_message.clear()
        dialog = BrokerDialog(self._ctx, self._agents, connection, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.saved.connect(self._on_broker_dialog_saved)
        dialog.open()
        return dialog

    def _on_broker_dialog_saved(self, connection: BrokerConnection) -> None:
        self.broker_message.show_info(f"Saved “{connection.name}”.")
        self.reload()

    def _on_edit_broker_clicked(self) -> None:
        if (connection := self.selected_broker()) is not None:
            self.open_broker_dialog(connection)

    def _on_broker_table_double_clicked(self, index: QModelIndex) -> None:
        self.open_broker_dialog(self.brokers.connection(index.row()))

    def _on_delete_broker_clicked(self) -> None:
        connection = self.selected_broker()
        if connection is None:
            self.broker_message.show_error("Select a broker connection first.")
            return
        ask(self, "Delete broker connection", f"Delete the broker connection “{connection.name}”?", "Delete",
            lambda: self._ctx.tasks.spawn(
                self._ctx.services.data.delete_broker_connection(connection.id), name="delete-broker",
                key=f"delete-broker-{id(self)}", on_result=lambda _none: self._broker_deleted(connection),
                on_error=self._broker_delete_failed),
            destructive=True)

    def _broker_deleted(self, connection: BrokerConnection) -> None:
        self.broker_message.show_info(f"Deleted “{connection.name}”.")
        self.reload()

    def _broker_delete_failed(self, exc: TnmError) -> None:
        self.broker_message.show_error(exc.message)

    # Profile and appearance -------------------------------------------------------------------

    def _on_save_webhook_clicked(self) -> None:
        services = self._ctx.services
        try:
            profile = replace(services.profile, webhook_base_url=self.webhook_base.text()).validated()
        except UserError as exc:
            self.webhook_message.show_error(exc.message)
            return
        store = self._store or ProfileStore()
        self._ctx.tasks.spawn(asyncio.to_thread(store.upsert, profile), name="save-webhook-base",
                              key=f"webhook-base-{id(self)}", on_result=self._webhook_saved,
                              on_error=lambda exc: self.webhook_message.show_error(exc.message))

    def _webhook_saved(self, profile: ConnectionProfile) -> None:
        self._ctx.services.profile = profile
        self._show_profile()
        self.webhook_message.show_info(f"Saved. Webhook URLs now start with {self._ctx.services.webhook_base_url}"
                                       "/tv/ — update the URLs in your TradingView alerts if this address changed.")

    def _show_receiver(self) -> None:
        receiver = self._ctx.services.receiver
        if receiver is None:
            return
        self.receiver_port.setValue(receiver.port)
        if receiver.running:
            self.port_state.setStyleSheet("color: palette(placeholder-text);")
            self.port_state.setText(f"This workspace's receiver listens on port {receiver.port}. Point your "
                                    "tunnel at it; changing it changes every webhook URL.")
        else:
            self.port_state.setStyleSheet(f"color: {theme.state_color('bad').name()};")
            self.port_state.setText(f"{receiver.error or 'The receiver is not running.'} Choose another port.")

    def _on_apply_port_clicked(self) -> None:
        receiver = self._ctx.services.receiver
        if receiver is None:
            return
        self.apply_port.setEnabled(False)
        self.port_busy.set_busy(True, "Starting…")
        self._ctx.tasks.spawn(asyncio.to_thread(receiver.move_to, self.receiver_port.value()), name="move-receiver",
                              key=f"move-receiver-{id(self)}", on_result=self._port_moved,
                              on_error=self._port_failed)

    def _port_moved(self, base_url: str) -> None:
        self.apply_port.setEnabled(True)
        self.port_busy.set_busy(False)
        self._show_profile()
        self.webhook_message.show_info(f"The receiver listens at {base_url} now. Webhook URLs start with "
                                       f"{self._ctx.services.webhook_base_url}/tv/ — update your TradingView "
                                       "alerts, and your tunnel if you use one.")

    def _port_failed(self, exc: TnmError) -> None:
        self.apply_port.setEnabled(True)
        self.port_busy.set_busy(False)
        self._show_receiver()
        self.webhook_message.show_error(exc.message)

    def _on_theme_current_index_changed(self, _index: int) -> None:
        chosen = theme.apply(str(self.theme.currentData()))
        self._ctx.settings.setValue("ui/theme", chosen.value)
