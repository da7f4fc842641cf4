"""Accounts & Sync: how each trading account's syncs are going, what failed, and a chart of them.

The health table is ``account_sync_health``; the failures list is ``recent_sync_failures``; the
chart is the selected account's ``sync_history``. A new sync attempt or account change (from the
agent, through ``LiveHub``) refreshes them, coalesced so a burst of syncs is one reload.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QTableView, QVBoxLayout, QWidget

from tnm_desktop.data.port import Change
from tnm_desktop.domain import JobRequest, JobType, SyncHealth, SyncLog
from tnm_desktop.errors import TnmError
from tnm_desktop.gui.pages.accounts_models import FailureTableModel, HealthTableModel, account_label
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.widgets import BusyIndicator
from tnm_desktop.gui.widgets.sync_chart import SyncChart
from tnm_desktop.gui.widgets.tables import remember_columns, setup_table

_COALESCE_MS = 250  # a sync writes the account and its log together: one reload for both


def plural(count: int, noun: str) -> str:
    """Say how many: "1 account", "3 accounts"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class AccountsView(QWidget):
    """Per-account sync health, the recent failures, the selected account's sync history, sync now."""

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._selected: str | None = None
        self.health = HealthTableModel(self)
        self.failures = FailureTableModel(self)
        self.health_view = QTableView()
        self.health_view.setModel(self.health)
        setup_table(self.health_view, widths={1: 110, 2: 110, 3: 100, 4: 135, 5: 100, 6: 115, 7: 100, 8: 60},
                    stretch=0)  # the account's name takes the spare width
        remember_columns(self.health_view, ctx.settings, "accounts/health/v2")
        self.failures_view = QTableView()
        self.failures_view.setModel(self.failures)
        setup_table(self.failures_view, widths={0: 120, 1: 140, 2: 62, 3: 80, 4: 64})
        remember_columns(self.failures_view, ctx.settings, "accounts/failures")
        self.chart = SyncChart()
        self.sync_button = QPushButton("Sync now")
        self.sync_button.setToolTip("Ask the agent to sync this account at once.")
        self.busy = BusyIndicator()
        self.summary = QLabel()
        # The whole error of the failure picked (the newest at first): the table cuts long ones.
        self.failure_detail = QLabel()
        self.failure_detail.setWordWrap(True)
        self.failure_detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._build()
        self.health_view.selectionModel().currentRowChanged.connect(self._on_health_selection_current_row_changed)
        self.failures_view.activated.connect(self._on_failures_view_activated)
        self.failures_view.selectionModel().currentRowChanged.connect(self._on_failures_selection_current_row_changed)
        self.sync_button.clicked.connect(self._on_sync_button_clicked)
        ctx.live.sync_log_added.connect(self._on_live_sync_log_added)
        ctx.live.account_changed.connect(self._on_live_account_changed)
        self._reload_timer = QTimer(self, singleShot=True, interval=_COALESCE_MS)
        self._reload_timer.timeout.connect(self.reload)
        self._history_timer = QTimer(self, singleShot=True, interval=_COALESCE_MS)
        self._history_timer.timeout.connect(self._load_history)
        # "5 min ago" must not stay "5 min ago" forever.
        self._clock = QTimer(self, interval=15_000)
        self._clock.timeout.connect(self.health.refresh_times)
        self._clock.start()
        self.reload()

    def _build(self) -> None:
        title = QLabel("Accounts & Sync")
        title.setStyleSheet("font-size: 15px; font-weight: 600")
        head = QHBoxLayout()
        head.addWidget(title)
        head.addSpacing(12)
        head.addWidget(self.summary)
        head.addStretch(1)
        head.addWidget(self.busy)
        head.addWidget(self.sync_button)
        failures_box = QWidget()
        fv = QVBoxLayout(failures_box)
        fv.setContentsMargins(0, 0, 0, 0)
        heading = QLabel("Recent failures (24 hours)")
        heading.setStyleSheet("font-weight: 600")
        fv.addWidget(heading)
        fv.addWidget(self.failures_view, 1)
        fv.addWidget(self.failure_detail)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.chart)
        bottom.addWidget(failures_box)
        bottom.setSizes([600, 680])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.health_view)
        split.addWidget(bottom)
        split.setSizes([170, 430])
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(split, 1)

    # Loading --------------------------------------------------------------------------------

    def reload(self) -> None:
        """Load the health table and the failures (one task; a newer reload cancels an older one)."""
        data = self._ctx.services.data

        async def load() -> tuple[list[SyncHealth], list[SyncLog]]:
            return await data.account_health(), await data.recent_sync_failures()

        self.busy.set_busy(True, "Loading…")
        self._ctx.tasks.spawn(load(), name="accounts: health", key=f"accounts:{id(self)}",
                              on_result=lambda got: self._on_loaded(*got),
                              on_error=self._on_load_failed)

    def _on_load_failed(self, exc: TnmError) -> None:
        self.busy.set_busy(False)
        self._ctx.bridge.user_error(exc)

    def _on_loaded(self, health: list[SyncHealth], failures: list[SyncLog]) -> None:
        self.busy.set_busy(False)
        selected = self._selected
        self.health.set_health(health)
        self.failures.set_failures(failures)
        self._show_failure(0)
        stale = sum(1 for h in health if h.is_stale)
        failed = sum(h.failed_syncs_24h for h in health)
        self.summary.setText(f"{plural(len(health), 'account')} · {plural(failed, 'failed sync')} in 24 hours"
                             + (f" · {stale} stale" if stale else ""))
        row = self.health.row_of(selected) if selected else -1
        if row < 0 and health:
            row = 0
        if row >= 0:
            # The reset cleared the current row without a signal, so this selects anew → history.
            self.health_view.selectRow(row)
        else:
            self._selected = None
            self.chart.set_history([], "Sync history")
        self.sync_button.setEnabled(bool(health))

    def _on_failures_selection_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_failure(current.row())

    def _show_failure(self, row: int) -> None:
        failure = self.failures.failure_at(row)
        if failure is None:
            self.failure_detail.setText("No failed syncs in the last 24 hours." if not self.failures.rowCount() else "")
            return
        when = failure.started_at.astimezone().strftime("%d %b %H:%M:%S")
        self.failure_detail.setText(f"{when} · {account_label(failure.login, failure.server)}: "
                                    f"{failure.error_message or 'no error message'}")

    def _on_health_selection_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        account = self.health.health_at(current.row())
        self._selected = account.account_id if account else None
        self._load_history()

    def _load_history(self) -> None:
        account = self.health.health_at(self.health.row_of(self._selected)) if self._selected else None
        if account is None:
            return
        title = f"Sync history — {account_label(account.login, account.server)}"
        self._ctx.tasks.spawn(self._ctx.services.data.sync_history(account.account_id, limit=300),
                              name="accounts: history", key=f"accounts-history:{id(self)}",
                              on_result=lambda logs: self._on_history_loaded(account.account_id, logs, title))

    def _on_history_loaded(self, account_id: str, logs: list[SyncLog], title: str) -> None:
        if account_id == self._selected:
            self.chart.set_history(logs, title)

    # Live updates ---------------------------------------------------------------------------

    def _on_live_sync_log_added(self, change: Change) -> None:
        self._reload_timer.start()
        if isinstance(change.row, SyncLog) and change.row.account_id == self._selected:
            self._history_timer.start()

    def _on_live_account_changed(self, _change: Change) -> None:
        self._reload_timer.start()

    # Actions --------------------------------------------------------------------------------

    def _on_failures_view_activated(self, index: QModelIndex) -> None:
        failure = self.failures.failure_at(index.row())
        if failure is not None and (row := self.health.row_of(failure.account_id)) >= 0:
            self.health_view.selectRow(row)

    def _on_sync_button_clicked(self) -> None:
        account = self.health.health_at(self.health.row_of(self._selected)) if self._selected else None
        control = self._ctx.agent.control
        if control is not None:
            # The agent in this process syncs the terminal's account without a round trip.
            control.sync_now()
            self._ctx.bridge.info("The agent is syncing the account now.")
            return
        if account is None:
            return
        request = JobRequest(JobType.SYNC_ACCOUNT, {"account_id": account.account_id, "login": account.login,
                                                    "server": account.server, "sync_type": "manual"},
                             max_attempts=1)
        self._ctx.tasks.spawn(
            self._ctx.services.data.enqueue_job(request), name="accounts: sync now",
            on_result=lambda _job: self._ctx.bridge.info(
                f"Sync of {account_label(account.login, account.server)} requested; "
                "your agent will pick it up."))
