"""A table of jobs that keeps itself current from the database and from the agent's own events.

EA Studio lists the jobs it enqueued; the Agent view lists what the agent did. Both merge two
sources into one row per job: the ``jobs`` row (as loaded and as ``LiveHub.job_changed`` brings
it) and, when an agent runs in this process, its ``JobStarted``/``JobFinished`` events, which
carry the exact duration and outcomes the row cannot show (a retry, a lost lease).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from tnm_desktop.agent.events import JobFinished, JobStarted
from tnm_desktop.domain import Job, JobStatus, JobType
from tnm_desktop.gui.widgets import fmt, theme

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


@dataclass(frozen=True, slots=True)
class JobRow:
    """What the table shows of one job."""

    id: str
    job_type: str
    status: str  # a JobStatus value, or an agent outcome: "retrying", "lost"
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    detail: str = ""
    message: str = ""
    job: Job | None = None

    @property
    def final(self) -> bool:
        """Whether the job will not change any more (as far as this row knows)."""
        return self.status in ("completed", "failed", "cancelled", "compile_failed")

    def elapsed_ms(self, now: datetime) -> int | None:
        """The recorded duration, or the time it has been running."""
        if self.duration_ms is not None:
            return self.duration_ms
        if self.started_at is None:
            return None
        end = self.finished_at or now
        return max(0, int((end - self.started_at).total_seconds() * 1000))


def row_from_job(job: Job) -> JobRow:
    """A row from a ``jobs`` row."""
    status = job.status.value
    result = job.result if isinstance(job.result, dict) else {}
    if job.status is JobStatus.COMPLETED and result.get("success") is False:
        status = "compile_failed"  # the job ran; what it built did not
    return JobRow(id=job.id, job_type=job.job_type.value, status=status, created_at=job.created_at,
                  started_at=job.started_at or job.claimed_at, finished_at=job.completed_at,
                  detail=payload_summary(job), message=result_summary(job), job=job)


def payload_summary(job: Job) -> str:
    """A few words on what the job was asked to do."""
    p = job.payload
    parts = []
    if "version_number" in p:
        parts.append(f"v{p['version_number']}")
    if p.get("ticket") is not None:
        parts.append(f"#{p['ticket']}")
    for key in ("symbol", "timeframe", "action", "volume", "login"):
        if p.get(key) not in (None, ""):
            parts.append(str(p[key]))
    return " ".join(parts)


def result_summary(job: Job) -> str:
    """A line on how the job ended."""
    if job.error_message:
        return job.error_message
    result = job.result if isinstance(job.result, dict) else {}
    diagnostics = result.get("diagnostics")
    if isinstance(diagnostics, list) and job.job_type is JobType.COMPILE:
        errors = sum(1 for d in diagnostics if isinstance(d, dict) and d.get("severity") == "error")
        warnings = sum(1 for d in diagnostics if isinstance(d, dict) and d.get("severity") == "warning")
        return f"{errors} error(s), {warnings} warning(s)"
    for key in ("message", "note", "comment"):
        if result.get(key):
            return str(result[key])
    return ""


_STATUS_TEXT = {
    "pending": ("Waiting", "idle"), "running": ("Running", "warn"), "completed": ("Done", "good"),
    "compile_failed": ("Failed", "bad"), "failed": ("Failed", "bad"), "cancelled": ("Cancelled", "idle"),
    "retrying": ("Retrying", "warn"), "lost": ("Handed back", "warn"),
}


def status_text(status: str) -> str:
    """The status word the table shows."""
    return _STATUS_TEXT.get(status, (status, "idle"))[0]


class JobTableModel(QAbstractTableModel):
    """Jobs, newest first: what they were, their status, when, how long and how they ended.

    Args:
        limit: Rows kept at most (the oldest go first).
        parent: Qt parent.
    """

    HEADERS = ("Request", "Details", "Status", "Created", "Duration", "Result")
    COL_JOB, COL_DETAIL, COL_STATUS, COL_CREATED, COL_DURATION, COL_RESULT = range(6)

    def __init__(self, limit: int = 200, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[JobRow] = []
        self._limit = limit

    # Reading ----------------------------------------------------------------------------------

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row, col = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.ForegroundRole and col == self.COL_STATUS:
            return theme.state_color(_STATUS_TEXT.get(row.status, ("", "idle"))[1])
        if role == Qt.ItemDataRole.ToolTipRole and col == self.COL_RESULT and row.message:
            return row.message
        if role == Qt.ItemDataRole.TextAlignmentRole and col == self.COL_DURATION:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return row.id
        return None

    def _display(self, row: JobRow, col: int) -> str:
        if col == self.COL_JOB:
            try:
                return JobType(row.job_type).label
            except ValueError:
                return row.job_type
        if col == self.COL_DETAIL:
            return row.detail
        if col == self.COL_STATUS:
            return status_text(row.status)
        if col == self.COL_CREATED:
            return row.created_at.astimezone().strftime("%d %b %H:%M:%S")
        if col == self.COL_DURATION:
            elapsed = row.elapsed_ms(datetime.now(UTC))
            return "" if elapsed is None else fmt.duration_ms(elapsed)
        return row.message.splitlines()[0] if row.message else ""

    def row_at(self, row: int) -> JobRow | None:
        """The job at a row."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def find(self, job_id: str) -> JobRow | None:
        """The row of a job, if listed."""
        return next((r for r in self._rows if r.id == job_id), None)

    def row_of(self, job_id: str) -> int:
        """The row number of a job, or -1."""
        return next((i for i, r in enumerate(self._rows) if r.id == job_id), -1)

    # Writing ----------------------------------------------------------------------------------

    def set_jobs(self, jobs: list[Job]) -> None:
        """Replace the rows with these jobs (newest first)."""
        self.beginResetModel()
        self._rows = [row_from_job(j) for j in jobs[: self._limit]]
        self.endResetModel()

    def upsert_job(self, job: Job) -> None:
        """Add a job at the top, or update its row (keeping an agent-measured duration)."""
        fresh = row_from_job(job)
        at = self.row_of(job.id)
        if at < 0:
            self._insert_top(fresh)
            return
        old = self._rows[at]
        # Live rows are re-read when their notification is handled, which can be after the agent's
        # own JobFinished: a row still "running" from before that finish must not undo it. A later
        # start (a retry) is news, though.
        stale = (old.finished_at is not None and not fresh.final
                 and (fresh.started_at is None or fresh.started_at <= old.finished_at))
        if stale:
            return
        keep = old.duration_ms if old.duration_ms is not None and fresh.final else None
        self._put(at, replace(fresh, duration_ms=keep))

    def note_started(self, event: JobStarted) -> None:
        """An agent of this process started a job."""
        at = self.row_of(event.job_id)
        if at >= 0:
            self._put(at, replace(self._rows[at], status="running", started_at=event.at, finished_at=None,
                                  duration_ms=None))
        else:
            self._insert_top(JobRow(event.job_id, event.job_type, "running", event.at, started_at=event.at))

    def note_finished(self, event: JobFinished) -> None:
        """An agent of this process finished a job: its outcome and exact duration."""
        at = self.row_of(event.job_id)
        now = datetime.now(UTC)
        if at < 0:
            self._insert_top(JobRow(event.job_id, event.job_type, event.outcome, now, finished_at=now,
                                    duration_ms=event.duration_ms, message=event.message))
            return
        old = self._rows[at]
        # The database row may already say how it ended; the agent's words add to it.
        status = old.status if old.final and event.outcome in ("completed", "failed") else event.outcome
        self._put(at, replace(old, status=status, finished_at=now, duration_ms=event.duration_ms,
                              message=event.message or old.message))

    def tick(self) -> None:
        """Refresh the durations of running jobs (call every second or so)."""
        for i, row in enumerate(self._rows):
            if row.status == "running":
                index = self.index(i, self.COL_DURATION)
                self.dataChanged.emit(index, index, [Qt.ItemDataRole.DisplayRole])

    def _put(self, at: int, row: JobRow) -> None:
        self._rows[at] = row
        self.dataChanged.emit(self.index(at, 0), self.index(at, len(self.HEADERS) - 1))

    def _insert_top(self, row: JobRow) -> None:
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._rows.insert(0, row)
        self.endInsertRows()
        if len(self._rows) > self._limit:
            self.beginRemoveRows(QModelIndex(), self._limit, len(self._rows) - 1)
            del self._rows[self._limit:]
            self.endRemoveRows()
