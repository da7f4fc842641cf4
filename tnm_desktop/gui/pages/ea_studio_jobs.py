"""EA Studio's lower half: the jobs it enqueued, their output, and the compiler's problems.

Compile, deploy, run, stop and test are jobs for the trader's agent. The panel enqueues them,
follows them live through ``LiveHub.job_changed`` (the agent may be on another machine), shows
each one's log, and turns a finished compile's ``result["diagnostics"]`` into the Problems list
whose entries take the editor to their line and column.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QModelIndex, QTimer, Signal
from PySide6.QtWidgets import QPlainTextEdit, QTableView, QTabWidget, QWidget

from tnm_desktop.data.port import Change
from tnm_desktop.domain import Agent, EaProject, EaVersion, Job, JobFilter, JobRequest, JobType
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.ea_studio_models import Diagnostic, DiagnosticModel
from tnm_desktop.gui.widgets.code_editor import monospace_font
from tnm_desktop.gui.widgets.job_table import JobTableModel, status_text
from tnm_desktop.gui.widgets.tables import setup_table

EA_JOBS = (JobType.COMPILE, JobType.DEPLOY, JobType.RUN, JobType.STOP, JobType.TEST)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_DID_NOT_RUN = ("failed", "cancelled")


def diagnostics_of(job: Job) -> list[Diagnostic]:
    """The diagnostics a finished compile job reported."""
    result = job.result if isinstance(job.result, dict) else {}
    items = result.get("diagnostics")
    if not isinstance(items, list):
        return []
    return [d for d in (Diagnostic.from_json(item) for item in items) if d is not None]


def job_log(job: Job) -> str:
    """The text the Output tab shows for a job: in words, without ids or raw JSON."""
    p = job.payload
    lines = [f"{job.job_type.label} — {status_text(job.status.value)}"]
    if p.get("project") or p.get("version_number"):
        lines.append(f"EA: {p.get('project') or '?'}" + (f", version {p['version_number']}" if p.get("version_number")
                                                          else ""))
    if p.get("symbol"):
        lines.append(f"Market: {p['symbol']} {p.get('timeframe') or ''}".rstrip())
    result = job.result if isinstance(job.result, dict) else {}
    if job.error_message:
        lines.append(f"Error: {job.error_message}")
    if result.get("log"):
        lines += ["", str(result["log"]).rstrip()]
    elif result:
        lines += [""] + [f"{_words(key)}: {_value(value)}" for key, value in sorted(result.items())
                         if key != "diagnostics" and not _internal(key, value)]
    elif not job.status.final:
        lines += ["", "Waiting for the agent…" if job.status.value == "pending" else "Running on the agent…"]
    return "\n".join(lines)


def _internal(key: str, value: Any) -> bool:
    # Ids and tokens mean nothing to a trader.
    if key == "id" or key.endswith(("_id", "_token")):
        return True
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def _words(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{_words(str(k))} {_value(v)}" for k, v in value.items() if not _internal(str(k), v))
    return str(value)


def pick_agent(agents: list[Agent]) -> Agent | None:
    """The agent EA jobs go to: the paired one heard from most recently."""
    paired = [a for a in agents if a.paired]
    paired.sort(key=lambda a: (a.last_heartbeat_at is not None, a.last_heartbeat_at or a.created_at), reverse=True)
    return paired[0] if paired else None


class EaJobsPanel(QTabWidget):
    """Problems, Jobs and Output tabs for the open EA project.

    Signals:
        diagnostic_activated(int, int): the user picked a problem at this 1-based line and column.
        diagnostics_shown(object): the list of Diagnostic now shown (for the editor's marks).
        version_changed(str): a compile job moved this version's compile state.
        job_enqueued(object): a Job was enqueued.
        running_changed(bool): whether the project's EA is running now (see :attr:`ea_running`).
    """

    diagnostic_activated = Signal(int, int)
    diagnostics_shown = Signal(object)
    version_changed = Signal(str)
    job_enqueued = Signal(object)
    running_changed = Signal(bool)

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._project: EaProject | None = None
        self._version: EaVersion | None = None
        self._jobs: dict[str, Job] = {}
        self._agent: Agent | None = None
        self.problems = DiagnosticModel(self)
        self.jobs = JobTableModel(limit=100, parent=self)
        self.problems_view = QTableView()
        self.problems_view.setModel(self.problems)
        setup_table(self.problems_view, widths={0: 70, 1: 50, 2: 60, 3: 50})
        self.jobs_view = QTableView()
        self.jobs_view.setModel(self.jobs)
        setup_table(self.jobs_view, widths={0: 100, 1: 120, 2: 80, 3: 130, 4: 80})
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setFont(monospace_font())
        self.output.setPlaceholderText("Pick a job to see its log.")
        self.addTab(self.problems_view, "Problems")
        self.addTab(self.jobs_view, "Requests")
        self.addTab(self.output, "Output")
        self.problems_view.activated.connect(self._on_problems_view_activated)
        self.problems_view.clicked.connect(self._on_problems_view_activated)
        self.jobs_view.selectionModel().currentRowChanged.connect(self._on_jobs_selection_current_row_changed)
        ctx.live.job_changed.connect(self._on_live_job_changed)
        ctx.live.agent_changed.connect(self._on_live_agent_changed)
        # Running jobs show a growing duration.
        self._ticker = QTimer(self, interval=1000)
        self._ticker.timeout.connect(self.jobs.tick)
        self._ticker.start()
        self._load_agents()

    # What the view tells the panel ----------------------------------------------------------

    def set_project(self, project: EaProject | None) -> None:
        """Show the jobs of this project."""
        self._project = project
        self._jobs.clear()
        self.running_changed.emit(False)
        self.jobs.set_jobs([])
        self._show_diagnostics([])
        if project is None:
            return
        self._ctx.tasks.spawn(
            self._ctx.services.data.list_jobs(JobFilter(ea_project_id=project.id, limit=100)),
            name="ea-studio: jobs", key=f"ea-jobs:{id(self)}", on_result=self._on_jobs_loaded)

    def set_version(self, version: EaVersion | None) -> None:
        """Show the problems of this version's latest compile."""
        self._version = version
        self._show_latest_compile()

    @property
    def ea_running(self) -> bool:
        """Whether the project's EA was last asked to run, and not to stop since (a failed or
        cancelled request does not count): the one case where Stop has something to stop."""
        asked = [j for j in self._jobs.values() if j.job_type in (JobType.RUN, JobType.STOP)
                 and j.status.value not in _DID_NOT_RUN]
        latest = max(asked, key=lambda j: j.created_at, default=None)
        return latest is not None and latest.job_type is JobType.RUN

    @property
    def agent(self) -> Agent | None:
        """The agent jobs are sent to, if one is paired."""
        return self._agent

    def enqueue(self, job_type: JobType, *, symbol: str = "", timeframe: str = "") -> None:
        """Ask the agent to compile/deploy/run/stop/test the open version."""
        project, version = self._project, self._version
        if project is None or version is None:
            return
        # "project" names the EA's files on the agent: the same for every version, so deploy, run and
        # stop act on what the last compile built.
        payload: dict[str, Any] = {"version_id": version.id, "version_number": version.version_number,
                                   "project_id": project.id, "project": project.name}
        if job_type in (JobType.RUN, JobType.STOP, JobType.TEST):
            payload["symbol"] = symbol.strip().upper()
            payload["timeframe"] = timeframe
        request = JobRequest(job_type, payload, target_agent_id=self._agent.id if self._agent else None,
                             ea_project_id=project.id, max_attempts=1 if job_type is JobType.COMPILE else 3)
        self._ctx.tasks.spawn(self._ctx.services.data.enqueue_job(request), name=f"ea-studio: {job_type.value}",
                              on_result=self._on_job_enqueued)

    # Results --------------------------------------------------------------------------------

    def _on_jobs_loaded(self, jobs: list[Job]) -> None:
        self._jobs = {j.id: j for j in jobs}
        self.jobs.set_jobs(jobs)
        self._show_latest_compile()
        self.running_changed.emit(self.ea_running)

    def _on_job_enqueued(self, job: Job) -> None:
        self._remember(job)
        self.jobs_view.selectRow(self.jobs.row_of(job.id))
        self.setCurrentWidget(self.output)
        self.job_enqueued.emit(job)
        if not self._agent:
            self._ctx.bridge.warning("No agent is paired yet: the request waits until one is (see the Agent page).")

    def _on_live_job_changed(self, change: Change) -> None:
        job = change.row
        if not isinstance(job, Job) or self._project is None or job.ea_project_id != self._project.id:
            return
        self._remember(job)
        if job.job_type is JobType.COMPILE and job.payload.get("version_id"):
            self.version_changed.emit(str(job.payload["version_id"]))
            if self._version is not None and job.payload["version_id"] == self._version.id and job.status.final:
                self._show_latest_compile()
                if self.problems.rowCount():
                    self.setCurrentWidget(self.problems_view)

    def _remember(self, job: Job) -> None:
        was_running = self.ea_running
        self._jobs[job.id] = job
        if self.ea_running != was_running:
            self.running_changed.emit(self.ea_running)
        self.jobs.upsert_job(job)
        current = self.jobs.row_at(self.jobs_view.currentIndex().row())
        if current is not None and current.id == job.id:
            self.output.setPlainText(job_log(job))

    def _show_latest_compile(self) -> None:
        version = self._version
        compiles = [j for j in self._jobs.values() if version is not None and j.job_type is JobType.COMPILE
                    and j.payload.get("version_id") == version.id and j.status.final]
        latest = max(compiles, key=lambda j: j.completed_at or j.created_at, default=None)
        self._show_diagnostics(diagnostics_of(latest) if latest else [])

    def _show_diagnostics(self, items: list[Diagnostic]) -> None:
        self.problems.set_diagnostics(items)
        errors = sum(1 for d in items if d.severity == "error")
        self.setTabText(self.indexOf(self.problems_view), f"Problems ({errors})" if errors else "Problems")
        self.diagnostics_shown.emit(self.problems.items())

    # The user's picks -----------------------------------------------------------------------

    def _on_problems_view_activated(self, index: QModelIndex) -> None:
        item = self.problems.item_at(index.row())
        if item is not None:
            self.diagnostic_activated.emit(item.line, item.column)

    def _on_jobs_selection_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = self.jobs.row_at(current.row())
        job = self._jobs.get(row.id) if row else None
        self.output.setPlainText(job_log(job) if job else "")

    # The agent jobs go to -------------------------------------------------------------------

    def _load_agents(self) -> None:
        self._ctx.tasks.spawn(self._ctx.services.data.list_agents(), name="ea-studio: agents",
                              key=f"ea-agents:{id(self)}", on_result=self._on_agents_loaded)

    def _on_agents_loaded(self, agents: list[Agent]) -> None:
        self._agent = pick_agent(agents)

    def _on_live_agent_changed(self, _change: Change) -> None:
        self._load_agents()
