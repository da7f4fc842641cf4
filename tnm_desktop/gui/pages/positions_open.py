"""The open positions and pending orders of an account, and closing or changing them.

Each action is a job for the agent serving the account (the one that wrote the snapshot): close
one position, a part of it, every position of its symbol, or set its stop loss and take profit.
The agent executes it exactly once (intent, token, reconciliation), then writes a new snapshot; the
"Requests" table follows each job live and says how it ended.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QTableView, QVBoxLayout, QWidget

from tnm_desktop.data.port import Change
from tnm_desktop.domain import Job, JobFilter, JobRequest, JobStatus, JobType, TradingAccount
from tnm_desktop.domain.positions import OpenPosition, PositionsSnapshot
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.position_dialogs import ClosePartDialog, StopsDialog
from tnm_desktop.gui.pages.positions_models import OrdersModel, PositionsModel, side_text
from tnm_desktop.gui.widgets import InlineMessage, ask
from tnm_desktop.gui.widgets.job_table import JobTableModel
from tnm_desktop.gui.widgets.tables import remember_columns, setup_table

REQUEST_TYPES = (JobType.CLOSE_POSITION, JobType.MODIFY_POSITION)


def outcome(job: Job) -> str:
    """How a close or stop change ended, in a trader's words."""
    result: dict[str, Any] = job.result if isinstance(job.result, dict) else {}
    if job.status is JobStatus.FAILED:
        return f"Not done: {job.error_message or 'the agent gave no reason'}"
    if job.status is JobStatus.CANCELLED:
        return "Cancelled before the agent took it."
    if job.status is not JobStatus.COMPLETED:
        return "Waiting for the agent…" if job.status is JobStatus.PENDING else "The agent is on it…"
    if job.job_type is JobType.MODIFY_POSITION:
        changed = result.get("modified") or []
        if not changed:
            return str(result.get("note") or "Nothing to change.")
        first = changed[0]
        return (f"#{first['ticket']}: stop loss {first.get('sl') or 'none'}, take profit {first.get('tp') or 'none'}"
                + (f" (and {len(changed) - 1} more)" if len(changed) > 1 else "") + ".")
    closed = result.get("closed") or []
    if not closed:
        return str(result.get("note") or "Nothing was open to close.")
    lots = sum(float(c.get("volume") or 0) for c in closed)
    where = f" at {closed[0]['price']}" if len(closed) == 1 and closed[0].get("price") else ""
    return f"Closed {lots:g} lots{where}" + (f" in {len(closed)} positions" if len(closed) > 1 else "") + "."


class OpenPanel(QWidget):
    """Positions, pending orders, the four actions, and the requests made.

    Signals:
        requested(object): a Job was enqueued (for the page's message).
    """

    requested = Signal(object)

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.snapshot: PositionsSnapshot | None = None
        self.account: TradingAccount | None = None
        self.open_box: Any = None  # the dialog or question open now, for tests to answer
        self.positions = PositionsModel(self)
        self.orders = OrdersModel(self)
        self.requests = JobTableModel(limit=50, parent=self)
        self.positions_view = QTableView()
        self.positions_view.setModel(self.positions)
        setup_table(self.positions_view, widths={0: 95, 1: 50, 2: 50, 3: 85, 4: 95, 5: 80, 6: 85, 7: 110, 8: 70,
                                                 9: 140, 11: 95}, stretch=PositionsModel.COL_STRATEGY)
        remember_columns(self.positions_view, ctx.settings, "positions/open")
        self.orders_view = QTableView()
        self.orders_view.setModel(self.orders)
        setup_table(self.orders_view, widths={0: 95, 1: 90, 2: 50, 3: 85, 4: 80, 5: 85, 6: 140, 7: 130})
        self.requests_view = QTableView()
        self.requests_view.setModel(self.requests)
        setup_table(self.requests_view, widths={0: 110, 1: 120, 2: 70, 3: 130, 4: 70})
        self.close_button = QPushButton("Close")
        self.close_part_button = QPushButton("Close part…")
        self.close_symbol_button = QPushButton("Close all of symbol")
        self.stops_button = QPushButton("Change SL/TP…")
        for button, tip in ((self.close_button, "Close the selected position at the market."),
                            (self.close_part_button, "Close some of the selected position's lots."),
                            (self.close_symbol_button, "Close every open position of the selected symbol, whoever "
                                                       "opened it."),
                            (self.stops_button, "Set or remove the selected position's stop loss and take profit.")):
            button.setToolTip(tip)
        self.message = InlineMessage()
        self.orders_title = QLabel("Pending orders")
        self._build()
        self.positions_view.selectionModel().currentRowChanged.connect(self._on_positions_selection_changed)
        self.close_button.clicked.connect(self._on_close_button_clicked)
        self.close_part_button.clicked.connect(self._on_close_part_button_clicked)
        self.close_symbol_button.clicked.connect(self._on_close_symbol_button_clicked)
        self.stops_button.clicked.connect(self._on_stops_button_clicked)
        ctx.live.job_changed.connect(self._on_live_job_changed)
        self._update_buttons()
        self._load_requests()

    def _build(self) -> None:
        buttons = QHBoxLayout()
        for button in (self.close_button, self.close_part_button, self.close_symbol_button, self.stops_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        top = QWidget()
        tv = QVBoxLayout(top)
        tv.setContentsMargins(0, 0, 0, 0)
        tv.addLayout(buttons)
        tv.addWidget(self.message)
        tv.addWidget(self.positions_view, 1)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(_titled(self.orders_title, self.orders_view))
        lower.addWidget(_titled(QLabel("Your requests"), self.requests_view))
        lower.setSizes([560, 560])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(lower)
        split.setSizes([380, 200])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)

    # What the page tells the panel ---------------------------------------------------------

    def set_names(self, names: dict[str, str]) -> None:
        """Strategy names by id."""
        self.positions.names = self.orders.names = names

    def set_snapshot(self, account: TradingAccount | None, snapshot: PositionsSnapshot | None) -> None:
        """Show an account's latest snapshot (the selection stays on the same position)."""
        chosen = self.selected()
        self.account, self.snapshot = account, snapshot
        self.positions.currency = snapshot.currency if snapshot else ""
        self.positions.set_rows(list(snapshot.positions) if snapshot else [])
        self.orders.set_rows(list(snapshot.orders) if snapshot else [])
        self.orders_title.setText(f"Pending orders ({self.orders.rowCount()})")
        if chosen is not None:
            row = next((i for i, p in enumerate(self.positions.rows()) if p.ticket == chosen.ticket), -1)
            if row >= 0:
                self.positions_view.selectRow(row)
        self._update_buttons()

    def selected(self) -> OpenPosition | None:
        """The position picked in the table."""
        index = self.positions_view.currentIndex()
        found: OpenPosition | None = self.positions.row_at(index.row()) if index.isValid() else None
        return found

    # Actions --------------------------------------------------------------------------------

    def _on_positions_selection_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        position = self.selected()
        can = position is not None and self.snapshot is not None and self.snapshot.agent_id is not None
        for button in (self.close_button, self.close_part_button, self.stops_button, self.close_symbol_button):
            button.setEnabled(can)
        self.close_part_button.setEnabled(can and position is not None and position.volume > 0.01)
        self.close_symbol_button.setText(f"Close all {position.symbol}" if position else "Close all of symbol")

    def _on_close_button_clicked(self) -> None:
        position = self.selected()
        if position is None:
            return
        self.open_box = ask(self, "Close position",
                            f"Close {side_text(position.side).lower()} {position.volume:g} {position.symbol} "
                            f"(#{position.ticket}) at the market now?", "Close position",
                            lambda: self._enqueue(JobType.CLOSE_POSITION, {"ticket": position.ticket,
                                                                           "symbol": position.symbol}),
                            destructive=True, details=f"Its floating P&L is {position.profit:+,.2f} "
                                                      f"{self.positions.currency}.")

    def _on_close_part_button_clicked(self) -> None:
        position = self.selected()
        if position is None:
            return
        dialog = ClosePartDialog(position, self)
        dialog.chosen.connect(lambda lots: self._enqueue(JobType.CLOSE_POSITION, {
            "ticket": position.ticket, "symbol": position.symbol, "volume": lots}))
        self.open_box = dialog
        dialog.open()

    def _on_close_symbol_button_clicked(self) -> None:
        position = self.selected()
        if position is None:
            return
        same = [p for p in self.positions.rows() if p.symbol == position.symbol]
        lots = sum(p.volume for p in same)
        self.open_box = ask(self, f"Close all {position.symbol}",
                            f"Close all {len(same)} open {position.symbol} position(s), {lots:g} lots in all, at the "
                            "market now?", f"Close all {position.symbol}",
                            lambda: self._enqueue(JobType.CLOSE_POSITION, {"symbol": position.symbol, "side": "all"}),
                            destructive=True, details="Positions opened by hand or by an Expert Advisor are closed "
                                                      "too.")

    def _on_stops_button_clicked(self) -> None:
        position = self.selected()
        if position is None:
            return
        dialog = StopsDialog(position, self)
        # Plain prices, as the agent reads the page's changes; 0 removes a level (MT5's "none").
        dialog.chosen.connect(lambda sl, tp: self._enqueue(JobType.MODIFY_POSITION, {
            "ticket": position.ticket, "symbol": position.symbol, "sl": sl or 0, "tp": tp or 0}))
        self.open_box = dialog
        dialog.open()

    def _enqueue(self, job_type: JobType, payload: dict[str, Any]) -> None:
        snapshot, account = self.snapshot, self.account
        if snapshot is None or snapshot.agent_id is None:
            return
        if account is not None:
            payload["login"] = account.login  # a terminal logged in elsewhere refuses it
        request = JobRequest(job_type, payload, target_agent_id=snapshot.agent_id, max_attempts=3)
        self._ctx.tasks.spawn(self._ctx.services.data.enqueue_job(request), name=f"positions: {job_type.value}",
                              on_result=self._on_enqueued)

    def _on_enqueued(self, job: Job) -> None:
        self.requests.upsert_job(job)
        self.message.show_info("Sent to your agent; the outcome shows under “Your requests”.")
        self.requested.emit(job)

    # Requests -------------------------------------------------------------------------------

    def _load_requests(self) -> None:
        data = self._ctx.services.data

        async def load() -> list[Job]:
            jobs = [j for t in REQUEST_TYPES for j in await data.list_jobs(JobFilter(job_type=t, limit=25))]
            return sorted(jobs, key=lambda j: j.created_at)

        self._ctx.tasks.spawn(load(), name="positions: requests", key=f"requests:{id(self)}",
                              on_result=self._on_requests_loaded)

    def _on_requests_loaded(self, jobs: list[Job]) -> None:
        for job in jobs:
            self.requests.upsert_job(self._with_outcome(job))

    def _on_live_job_changed(self, change: Change) -> None:
        job = change.row
        if isinstance(job, Job) and job.job_type in REQUEST_TYPES:
            self.requests.upsert_job(self._with_outcome(job))
            if job.status.final and self.requests.row_of(job.id) == 0:
                text = outcome(job)
                if job.status is JobStatus.COMPLETED:
                    self.message.show_info(text)
                else:
                    self.message.show_error(text)

    @staticmethod
    def _with_outcome(job: Job) -> Job:
        # The requests table shows the note of a job's result: put the trader's sentence there.
        from dataclasses import replace

        result = dict(job.result) if isinstance(job.result, dict) else {}
        if job.status is JobStatus.COMPLETED:
            result["note"] = outcome(job)
        return replace(job, result=result)

    def request_outcomes(self) -> list[tuple[str, str]]:
        """What each request shows: (what, outcome), newest first — for tests and accessibility."""
        out = []
        for row in range(self.requests.rowCount()):
            what = self.requests.index(row, JobTableModel.COL_DETAIL).data()
            result = self.requests.index(row, JobTableModel.COL_RESULT).data()
            out.append((str(what or ""), str(result or "")))
        return out


def _titled(label: QLabel, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    label.setStyleSheet("font-weight: 600")
    layout.addWidget(label)
    layout.addWidget(widget)
    return box
