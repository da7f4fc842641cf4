"""One signal in full: the payload as received, its job, the execution (what was sent, the fill, its
slippage, the position), how long each stage took, each account's leg, and what breakeven, trailing
and targets did to the position since."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.domain import Job, Signal
from tnm_desktop.domain.history import HistoryFilter
from tnm_desktop.domain.orders import order_kind
from tnm_desktop.domain.rules import RuleEvent
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.positions_models import signed
from tnm_desktop.gui.pages.signal_execution import execution_rows
from tnm_desktop.gui.widgets import BusyIndicator, InlineMessage, fmt, monospace_font, theme
from tnm_desktop.gui.widgets.job_table import status_text


def pretty_payload(payload: Any) -> str:
    """The raw payload as indented JSON; a body that was not JSON is shown as the text received."""
    if isinstance(payload, str):
        return payload
    return json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=False)


def stages(signal: Signal, job: Job | None) -> list[tuple[str, datetime | None]]:
    """The pipeline's stages in order, with when each happened (None: not reached)."""
    return [
        ("Received", signal.received_at),
        ("Queued for the agent", job.created_at if job else None),
        ("Picked up by the agent", job.claimed_at if job else None),
        ("Order sent", job.sent_at if job else None),
        ("Agent finished", job.completed_at if job else None),
        ("Signal resolved", signal.resolved_at),
    ]


def leg_rows(legs: list[Job]) -> list[tuple[str, str, str, str]]:
    """Each leg as the detail shows it: (account, order, status, what came of it)."""
    rows = []
    for job in legs:
        payload = job.payload
        result = job.result or {}
        if job.status.value == "completed":
            outcome = str(result.get("note") or "")
            if result.get("price") is not None:
                outcome = f"filled at {result['price']:g}" + (f" — {outcome}" if outcome else "")
            elif result.get("order"):
                outcome = outcome or f"order #{result['order']}"
        else:
            outcome = job.error_message or ""
        rows.append((str(payload.get("connection_name") or payload.get("broker_symbol") or "—"), order_kind(payload),
                     job.status.value.capitalize(), outcome or "—"))
    return rows


@dataclass(frozen=True)
class _Loaded:
    signal: Signal | None
    job: Job | None
    agents: dict[str, str]
    legs: list[Job]
    events: list[RuleEvent]
    position: str = ""  # what became of the position the signal opened


def _clear(grid: QGridLayout) -> None:
    while grid.count():
        item = grid.takeAt(0)
        widget = item.widget() if item is not None else None
        if widget is not None:
            widget.hide()
            widget.deleteLater()


def _selectable(label: QLabel) -> QLabel:
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


class SignalDetail(QWidget):
    """The detail pane of the Signals view."""

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._key = f"signal-detail-{id(self)}"
        self.signal_id: str | None = None
        self.signal: Signal | None = None
        self.job: Job | None = None
        self._names: dict[str, str] = {}

        self.title = QLabel()
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.busy = BusyIndicator()
        self.message = InlineMessage()

        self.fields: dict[str, QLabel] = {}
        facts = QFormLayout()
        for name in ("Strategy", "Status", "Price", "Fill price", "Broker order id", "Error"):
            self.fields[name] = _selectable(QLabel())
            facts.addRow(name, self.fields[name])
        job_box = QGroupBox("The agent's work")
        job_form = QFormLayout(job_box)
        for name in ("Type", "Job status", "Attempts", "Agent", "Job error"):
            self.fields[name] = _selectable(QLabel())
            job_form.addRow(name.replace("Job ", "").capitalize() if name.startswith("Job ") else name,
                            self.fields[name])
        self.execution_box = QGroupBox("Execution")
        self.execution = QFormLayout(self.execution_box)
        self.legs_box = QGroupBox("Accounts")
        self.legs = QGridLayout(self.legs_box)
        self.legs.setColumnStretch(3, 1)
        self.events_box = QGroupBox("Stop management")
        self.events = QLabel()
        self.events.setObjectName("rule_events")
        self.events.setWordWrap(True)
        self.events.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        QVBoxLayout(self.events_box).addWidget(self.events)
        self.timeline_box = QGroupBox("Stages")
        self.timeline = QGridLayout(self.timeline_box)
        self.timeline.setColumnStretch(1, 1)
        self.payload = QPlainTextEdit()
        self.payload.setReadOnly(True)
        self.payload.setFont(monospace_font())
        self.payload.setObjectName("payload")
        payload_box = QGroupBox("Payload as received")
        QVBoxLayout(payload_box).addWidget(self.payload)

        details = QWidget()
        column = QVBoxLayout(details)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.title)
        column.addLayout(facts)
        column.addWidget(job_box)
        column.addWidget(self.execution_box)
        column.addWidget(self.legs_box)
        column.addWidget(self.events_box)
        column.addWidget(self.timeline_box)
        column.addWidget(payload_box, 1)
        self.placeholder = QLabel("Select a signal to see what arrived, what the agent did and when.")
        self.placeholder.setWordWrap(True)
        self.payload.setMinimumHeight(90)
        scroll = QScrollArea()  # legs and stop changes can make the pane taller than the window
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(details)
        self._pages = QStackedLayout()
        self._pages.addWidget(self.placeholder)
        self._pages.addWidget(scroll)
        layout = QVBoxLayout(self)
        layout.addWidget(self.busy)
        layout.addWidget(self.message)
        layout.addLayout(self._pages, 1)

    def set_strategy_names(self, names: dict[str, str]) -> None:
        """Names to show for strategy ids."""
        self._names = dict(names)

    def show_signal(self, signal_id: str | None) -> None:
        """Load and show a signal (None clears the pane)."""
        self.signal_id = signal_id
        if signal_id is None:
            self._pages.setCurrentIndex(0)
            self.busy.set_busy(False)
            return
        self.refresh()

    def refresh(self) -> None:
        """Load the shown signal again (it or its job changed)."""
        if self.signal_id is None:
            return
        self.busy.set_busy(True, "Loading…")
        self._ctx.tasks.spawn(self._load(self.signal_id), name="signal-detail", key=self._key,
                              on_result=self._show, on_error=self._failed)

    async def _load(self, signal_id: str) -> _Loaded:
        data = self._ctx.services.data
        found = await data.get_signals([signal_id])
        signal = found[0] if found else None
        job = None
        agents: dict[str, str] = {}
        legs: list[Job] = []
        events: list[RuleEvent] = []
        if signal is not None and signal.job_id is not None:
            jobs = await data.get_jobs([signal.job_id])
            job = jobs[0] if jobs else None
            if job is not None and job.agent_id is not None:
                agents = {a.id: a.name for a in await data.list_agents()}
            legs = await data.signal_legs(signal_id)
            events = await data.rule_events(signal_id)
        position = await self._position_state(signal, job) if signal is not None else ""
        return _Loaded(signal, job, agents, legs, events, position)

    async def _position_state(self, signal: Signal, job: Job | None) -> str:
        ticket = job.result.get("position") if job is not None and isinstance(job.result, dict) else None
        if not ticket or job is None or job.job_type.value != "trade" or job.payload.get("action") == "close":
            return ""
        data = self._ctx.services.data
        for snapshot in await data.list_position_snapshots():
            for position in snapshot.positions:
                if position.ticket == int(ticket):
                    return f"open {position.volume:g} lots, {signed(position.profit, snapshot.currency)}"
        closed = await data.closed_trades(HistoryFilter(strategy_id=signal.strategy_id, since=signal.received_at,
                                                        limit=500))
        for trade in closed:
            if trade.position_id == int(ticket):
                return f"closed {fmt.moment(trade.closed_at)}, net {signed(trade.net)}"
        return "closed or not yet synced"

    def _failed(self, exc: Exception) -> None:
        self.busy.set_busy(False)
        self.message.show_error(getattr(exc, "message", str(exc)))

    def _show(self, loaded: _Loaded) -> None:
        self.busy.set_busy(False)
        self.message.clear()
        signal, job = loaded.signal, loaded.job
        self.signal, self.job = signal, job
        if signal is None:
            self._pages.setCurrentIndex(0)
            self.placeholder.setText("This signal is no longer there.")
            return
        self._pages.setCurrentIndex(1)
        action = order_kind(job.payload, managed=False) if job is not None else (signal.action or "?").upper()
        self.title.setText(f"{action} {signal.symbol or '(no symbol)'}")
        status = self.fields["Status"]
        status.setText(signal.status.value.capitalize())
        status.setStyleSheet(f"color: {theme.status_text_color(signal.status).name()}; font-weight: 600;")
        self.fields["Strategy"].setText(self._names.get(signal.strategy_id, signal.strategy_id))
        self.fields["Price"].setText(fmt.price(signal.price) or "—")
        self.fields["Fill price"].setText(fmt.price(signal.fill_price) or "—")
        self.fields["Broker order id"].setText(signal.broker_order_id or "—")
        self.fields["Error"].setText(signal.error_message or "—")
        kind = job.job_type.label if job else "None (the signal was not executed)"
        self.fields["Type"].setText(kind)
        self.fields["Job status"].setText(status_text(job.status.value) if job else "—")
        self.fields["Attempts"].setText(f"{job.attempts} of {job.max_attempts}" if job else "—")
        agent = loaded.agents.get(job.agent_id, job.agent_id) if job and job.agent_id else None
        self.fields["Agent"].setText(agent or "—")
        self.fields["Job error"].setText((job.error_message if job else None) or "—")
        self._show_stages(signal, job)
        self._show_execution(job, loaded.position)
        self._show_legs(loaded.legs)
        self.events_box.setVisible(bool(loaded.events))
        self.events.setText("\n".join(f"{fmt.precise(e.at)}  {e.describe()}" for e in loaded.events))
        self.payload.setPlainText(pretty_payload(signal.raw_payload))

    def _show_execution(self, job: Job | None, position: str) -> None:
        while self.execution.rowCount():
            self.execution.removeRow(0)
        rows = execution_rows(job, position)
        for name, text in rows:
            label = _selectable(QLabel(text))  # wraps: the pane scrolls down, never sideways
            label.setObjectName(f"execution_{name.split()[0].lower()}")
            self.execution.addRow(name, label)
        self.execution_box.setVisible(bool(rows))

    def execution_texts(self) -> dict[str, str]:
        """What the execution box shows — for tests and accessibility."""
        out = {}
        for row in range(self.execution.rowCount()):
            name = self.execution.itemAt(row, QFormLayout.ItemRole.LabelRole)
            value = self.execution.itemAt(row, QFormLayout.ItemRole.FieldRole)
            if name is not None and value is not None:
                out[name.widget().text()] = value.widget().text()  # type: ignore[union-attr]
        return out

    def _show_legs(self, legs: list[Job]) -> None:
        _clear(self.legs)
        self.legs_box.setVisible(bool(legs))
        self.legs_box.setTitle(f"Accounts ({len(legs)})" if len(legs) > 1 else "Account")
        for row, cells in enumerate(leg_rows(legs)):
            for column, text in enumerate(cells):
                label = _selectable(QLabel(text))
                label.setObjectName(f"leg_{row}_{column}")
                self.legs.addWidget(label, row, column)

    def leg_texts(self) -> list[tuple[str, ...]]:
        """What the accounts box shows, row by row — for tests and accessibility."""
        rows = []
        for row in range(self.legs.rowCount()):
            cells = []
            for column in range(4):
                item = self.legs.itemAtPosition(row, column)
                widget = item.widget() if item is not None else None
                if isinstance(widget, QLabel):
                    cells.append(widget.text())
            if cells:
                rows.append(tuple(cells))
        return rows

    def _show_stages(self, signal: Signal, job: Job | None) -> None:
        _clear(self.timeline)
        previous: datetime | None = None
        muted = theme.state_color("idle").name()
        # The day once, in the box's title, and times in the rows: a narrower pane, a wider log.
        first = next((when for _, when in stages(signal, job) if when is not None), None)
        self.timeline_box.setTitle(f"Stages · {fmt.precise(first).split(' ')[0]}" if first else "Stages")
        for row, (name, when) in enumerate(stages(signal, job)):
            step = ""
            if when is not None and previous is not None:
                step = "+" + fmt.duration_ms((when - previous).total_seconds() * 1000)
            name_label = QLabel(name)
            text = fmt.precise(when, empty="not reached")
            if when is not None and first is not None and _day(when) == _day(first):
                text = text.split(" ", 1)[1]
            when_label = QLabel(text)
            when_label.setObjectName(f"stage_{row}")
            step_label = QLabel(step)
            if when is None:
                for label in (name_label, when_label):
                    label.setStyleSheet(f"color: {muted};")
            self.timeline.addWidget(name_label, row, 0)
            self.timeline.addWidget(when_label, row, 1)
            self.timeline.addWidget(step_label, row, 2)
            if when is not None:
                previous = when
        steps = stages(signal, job)
        ends = [when for _, when in steps if when is not None]
        total = QLabel(f"<b>Total {fmt.duration_ms((ends[-1] - ends[0]).total_seconds() * 1000)}</b>"
                       if len(ends) > 1 else "")
        total.setObjectName("stage_total")
        self.timeline.addWidget(total, len(steps), 0, 1, 3)

    def recolor(self) -> None:
        """Colour the status again (after a theme change)."""
        if self.signal is not None:
            color = theme.status_text_color(self.signal.status).name()
            self.fields["Status"].setStyleSheet(f"color: {color}; font-weight: 600;")

    def stage_texts(self) -> list[tuple[str, str, str]]:
        """What the stages box shows, row by row (name, time, step) — for tests and accessibility."""
        rows: list[tuple[str, str, str]] = []
        for row in range(len(stages(self.signal, self.job)) if self.signal else 0):
            cells = []
            for column in range(3):
                item = self.timeline.itemAtPosition(row, column)
                widget = item.widget() if item is not None else None
                cells.append(widget.text() if isinstance(widget, QLabel) else "")
            rows.append((cells[0], cells[1], cells[2]))
        return rows


def _day(moment: datetime) -> object:
    return moment.astimezone().date()
