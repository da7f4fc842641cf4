"""EA Studio: MQL5 Expert Advisor projects, their versions, an editor, and the agent's toolchain.

The open version is always the project's ``current_version_id``: opening another version switches
it in the database, after asking what to do with unsaved edits. Saving never overwrites: it adds
a version, which becomes the open one. Compile, deploy, run, stop and test are jobs for the agent
(:mod:`~tnm_desktop.gui.pages.ea_studio_jobs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.data.port import Change
from tnm_desktop.domain import EaProject, EaVersion, Job, JobType, NewVersion
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.ea_studio_dialogs import DiffDialog, unsaved_changes_box
from tnm_desktop.gui.pages.ea_studio_editor import EditorPane
from tnm_desktop.gui.pages.ea_studio_jobs import EaJobsPanel
from tnm_desktop.gui.pages.ea_studio_models import (
    Diagnostic,
    ProjectListModel,
    VersionTableModel,
)
from tnm_desktop.gui.pages.ea_studio_template import TemplateDialog
from tnm_desktop.gui.widgets import fmt
from tnm_desktop.gui.widgets.code_editor import LineMark
from tnm_desktop.gui.widgets.tables import setup_table


class EaStudioView(QWidget):
    """Projects and versions on the left; the editor, its toolchain buttons and their output on the right.

    Signals:
        version_opened(str): a version was loaded into the editor (its id).
    """

    version_opened = Signal(str)

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.project: EaProject | None = None
        self.version: EaVersion | None = None
        self.unsaved_prompt: QMessageBox | None = None
        self.diff_dialog: DiffDialog | None = None
        self.template_dialog: TemplateDialog | None = None
        self._build()
        self._wire()
        self.reload()

    @property
    def ctx(self) -> ViewContext:
        """The context the view was built with."""
        return self._ctx

    # Layout ---------------------------------------------------------------------------------

    def _build(self) -> None:
        self.projects = ProjectListModel(self)
        self.projects_view = QListView()
        self.projects_view.setModel(self.projects)
        self.projects_view.setSpacing(2)
        self.new_button = QPushButton("New EA from a template…")
        self.versions = VersionTableModel(self)
        self.versions_view = QTableView()
        self.versions_view.setModel(self.versions)
        setup_table(self.versions_view, widths={0: 55, 1: 90, 2: 70, 3: 90})
        self.versions_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.open_button = QPushButton("Open version")
        self.compare_button = QPushButton("Compare…")
        self.compare_button.setToolTip("Compare two versions side by side (select two, or one to compare "
                                       "with the open version).")
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(_heading("Projects"))
        lv.addWidget(self.projects_view, 2)
        lv.addWidget(self.new_button)
        lv.addWidget(_heading("Versions"))
        lv.addWidget(self.versions_view, 3)
        self.deployed_label = QLabel()
        self.deployed_label.setObjectName("deployedVersion")
        self.deployed_label.setWordWrap(True)
        lv.addWidget(self.deployed_label)
        row = QHBoxLayout()
        row.addWidget(self.open_button)
        row.addWidget(self.compare_button)
        lv.addLayout(row)

        self.pane = EditorPane()
        # The pane's parts, by the names the view and its tests use.
        self.editor, self.note_edit, self.save_button = self.pane.editor, self.pane.note_edit, self.pane.save_button
        self.job_buttons, self.dirty_label = self.pane.job_buttons, self.pane.dirty_label
        self.panel = EaJobsPanel(self._ctx)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.pane)
        right.addWidget(self.panel)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([460, 1000])  # at 1280 px: the versions' columns fit, and the editor
        layout = QVBoxLayout(self)
        layout.addWidget(self.splitter)
        save = QAction("Save as new version", self)
        save.setShortcut(QKeySequence.StandardKey.Save)
        save.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        save.triggered.connect(self._on_save_button_clicked)
        self.addAction(save)
        self._refresh_state()

    def _wire(self) -> None:
        self.projects_view.selectionModel().currentRowChanged.connect(self._on_projects_view_current_row_changed)
        self.versions_view.activated.connect(self._on_versions_view_activated)
        self.versions_view.selectionModel().selectionChanged.connect(self._on_versions_selection_changed)
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.compare_button.clicked.connect(self._on_compare_button_clicked)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.new_button.clicked.connect(self._on_new_button_clicked)
        self.editor.document().modificationChanged.connect(self._on_document_modification_changed)
        for job_type, button in self.job_buttons.items():
            button.clicked.connect(lambda _c=False, t=job_type: self._on_job_button_clicked(t))
        self.panel.diagnostic_activated.connect(self._on_panel_diagnostic_activated)
        self.panel.diagnostics_shown.connect(self._on_panel_diagnostics_shown)
        self.panel.version_changed.connect(self._on_panel_version_changed)
        self._ctx.live.job_changed.connect(self._on_live_job_changed)
        self.panel.running_changed.connect(self._on_panel_running_changed)

    # Loading --------------------------------------------------------------------------------

    def reload(self, select_project: str | None = None) -> None:
        """Load the projects and open the remembered (or given) one."""
        wanted = select_project or str(self._ctx.settings.value("ea_studio/project", "") or "")
        self._ctx.tasks.spawn(self._ctx.services.data.list_ea_projects(), name="ea-studio: projects",
                              key=f"ea-projects:{id(self)}",
                              on_result=lambda projects: self._on_projects_loaded(projects, wanted))

    def _on_projects_loaded(self, projects: list[EaProject], wanted: str) -> None:
        self.projects.set_projects(projects)
        row = self.projects.row_of(wanted) if wanted else -1
        if row < 0 and projects:
            row = 0
        if row >= 0:
            self.projects_view.setCurrentIndex(self.projects.index(row))  # → _load_project
        else:
            self._load_project(None)

    def _on_projects_view_current_row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        project = self.projects.project_at(current.row())
        if project is None or (self.project is not None and project.id == self.project.id):
            return
        if self.has_unsaved_changes():
            self._ask_unsaved(lambda: self._load_project(project),
                              lambda: self._select_project_row(previous.row()))
            return
        self._load_project(project)

    def _select_project_row(self, row: int) -> None:
        selection = self.projects_view.selectionModel()
        selection.blockSignals(True)  # putting the selection back is not a new choice
        self.projects_view.setCurrentIndex(self.projects.index(row))
        selection.blockSignals(False)

    def _load_project(self, project: EaProject | None) -> None:
        self.project = project
        self.panel.set_project(project)
        if project is None:
            self.versions.set_versions([], None)
            self._show_version(None)
            return
        self._ctx.settings.setValue("ea_studio/project", project.id)
        self.pane.set_market(project)

        async def load() -> tuple[list[EaVersion], EaVersion | None]:
            data = self._ctx.services.data
            versions = await data.list_ea_versions(project.id)
            current = await data.get_ea_version(project.current_version_id) if project.current_version_id else None
            return versions, current

        self._ctx.tasks.spawn(load(), name="ea-studio: versions", key=f"ea-open:{id(self)}",
                              on_result=lambda got: self._on_project_loaded(project, *got))

    def _on_project_loaded(self, project: EaProject, versions: list[EaVersion], current: EaVersion | None) -> None:
        if self.project is None or project.id != self.project.id:
            return
        self.versions.set_versions(versions, current.id if current else None)
        self._show_deployed(project)
        self._show_version(current)

    def _show_deployed(self, project: EaProject | None) -> None:
        deployed = self.versions.find(project.deployed_version_id) if project and project.deployed_version_id else None
        self.versions.deployed_id = deployed.id if deployed else None
        self.versions.layoutChanged.emit()
        if deployed is not None and project is not None:
            self.deployed_label.setText(f"Deployed to the terminal: v{deployed.version_number} ▲, "
                                        f"{fmt.moment(project.deployed_at)}")
        else:
            self.deployed_label.setText("Not deployed to a terminal yet." if project else "")

    def _on_live_job_changed(self, change: Change) -> None:
        # A deploy, run or test that finished may have put another version in the terminal.
        job, project = change.row, self.project
        if isinstance(job, Job) and project is not None and job.ea_project_id == project.id and job.status.final \
                and job.job_type in (JobType.DEPLOY, JobType.RUN, JobType.TEST):
            self._ctx.tasks.spawn(self._ctx.services.data.list_ea_projects(), name="ea-studio: deployed",
                                  key=f"ea-deployed:{id(self)}", on_result=self._on_projects_refreshed)

    def _on_projects_refreshed(self, projects: list[EaProject]) -> None:
        project = self.project
        fresh = next((p for p in projects if project is not None and p.id == project.id), None)
        if project is not None and fresh is not None:
            self.project = replace(project, deployed_version_id=fresh.deployed_version_id,
                                   deployed_at=fresh.deployed_at)
            self._show_deployed(self.project)

    def _show_version(self, version: EaVersion | None) -> None:
        self.version = version
        self.editor.setReadOnly(version is None)
        self.editor.setPlainText(version.source_code or "" if version else "")
        self.editor.document().setModified(False)
        self.editor.set_marks([])
        self.versions.set_current(version.id if version else None)
        self.panel.set_version(version)
        self._refresh_state()
        if version is not None:
            self.version_opened.emit(version.id)

    def _reload_versions(self) -> None:
        project = self.project
        if project is None:
            return
        self._ctx.tasks.spawn(self._ctx.services.data.list_ea_versions(project.id), name="ea-studio: versions",
                              key=f"ea-versions:{id(self)}",
                              on_result=lambda versions: self._on_versions_reloaded(project, versions))

    def _on_versions_reloaded(self, project: EaProject, versions: list[EaVersion]) -> None:
        if self.project is None or project.id != self.project.id:
            return
        self.versions.set_versions(versions, self.versions.current_id)
        if self.version is not None and (fresh := self.versions.find(self.version.id)) is not None:
            # Listings carry no source: keep the editor's, take the new compile state.
            self.version = replace(fresh, source_code=self.version.source_code)
        self._refresh_state()

    # Switching versions ---------------------------------------------------------------------

    def has_unsaved_changes(self) -> bool:
        """Whether the editor holds edits not saved as a version."""
        return self.version is not None and self.editor.document().isModified()

    def open_version(self, version_id: str) -> None:
        """Make a version the open (current) one, asking first if there are unsaved edits."""
        if self.project is None or (self.version is not None and version_id == self.version.id):
            return
        if self.has_unsaved_changes():
            self._ask_unsaved(lambda: self._switch(version_id), lambda: None)
            return
        self._switch(version_id)

    def _switch(self, version_id: str) -> None:
        project = self.project
        if project is None:
            return

        async def switch() -> tuple[EaProject, EaVersion]:
            data = self._ctx.services.data
            switched = await data.switch_ea_version(project.id, version_id)
            return switched, await data.get_ea_version(version_id)

        self._ctx.tasks.spawn(switch(), name="ea-studio: switch version", key=f"ea-open:{id(self)}",
                              on_result=lambda got: self._on_switched(*got))

    def _on_switched(self, project: EaProject, version: EaVersion) -> None:
        self.project = project
        self.projects.update_project(project)
        self._show_version(version)

    def _ask_unsaved(self, proceed: Callable[[], None], stay: Callable[[], None]) -> None:
        if self.unsaved_prompt is not None:  # already asking: one question at a time
            stay()
            return

        def answered(choice: str) -> None:
            self.unsaved_prompt = None
            if choice == "save":
                self._save(note="Saved before switching", then=proceed)
            elif choice == "discard":
                self.editor.document().setModified(False)
                proceed()
            else:
                stay()

        self.unsaved_prompt = unsaved_changes_box(self, self.version.version_number if self.version else 0, answered)

    # Saving ---------------------------------------------------------------------------------

    def _on_save_button_clicked(self) -> None:
        if self.has_unsaved_changes():
            self._save(note=self.note_edit.text().strip())

    def _save(self, note: str, then: Callable[[], None] | None = None) -> None:
        project = self.project
        if project is None:
            return
        source = self.editor.toPlainText()

        def saved(version: EaVersion) -> None:
            self.note_edit.clear()
            self.version = replace(version, source_code=source)
            self.editor.document().setModified(False)
            self.versions.set_current(version.id)
            self.panel.set_version(self.version)
            self._ctx.bridge.info(f"Saved version {version.version_number} of {project.name}.")
            self._reload_versions()
            if then is not None:
                then()

        self._ctx.tasks.spawn(self._ctx.services.data.save_ea_version(project.id, NewVersion(source, note=note)),
                              name="ea-studio: save version", on_result=saved)

    # Buttons and picks ----------------------------------------------------------------------

    def _on_versions_view_activated(self, index: QModelIndex) -> None:
        version = self.versions.version_at(index.row())
        if version is not None:
            self.open_version(version.id)

    def _on_open_button_clicked(self) -> None:
        rows = self._selected_versions()
        if len(rows) == 1:
            self.open_version(rows[0].id)

    def _selected_versions(self) -> list[EaVersion]:
        rows = sorted({i.row() for i in self.versions_view.selectionModel().selectedRows()})
        return [v for v in (self.versions.version_at(r) for r in rows) if v is not None]

    def select_versions(self, *version_ids: str) -> None:
        """Select these versions in the list (for Compare)."""
        selection = self.versions_view.selectionModel()
        selection.clearSelection()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for version_id in version_ids:
            selection.select(self.versions.index(self.versions.row_of(version_id), 0), flags)

    def _on_compare_button_clicked(self) -> None:
        chosen = self._selected_versions()
        if len(chosen) == 1 and self.version is not None and chosen[0].id != self.version.id:
            chosen.append(self.version)
        listed = self.versions.versions()
        if len(chosen) != 2 and len(listed) >= 2:
            chosen = listed[:2]
        if len(chosen) != 2 or self.project is None:
            return
        older, newer = sorted(chosen, key=lambda v: v.version_number)
        self.diff_dialog = DiffDialog(self._ctx, self.project, listed, older.id, newer.id, self)
        self.diff_dialog.open()

    def _on_new_button_clicked(self) -> None:
        self.template_dialog = TemplateDialog(self._ctx, self)
        self.template_dialog.created.connect(self._on_template_dialog_created)
        self.template_dialog.open()

    def _on_template_dialog_created(self, project: EaProject) -> None:
        self.template_dialog = None
        if self.has_unsaved_changes():
            self.reload(select_project=self.project.id if self.project else None)
            self._ctx.bridge.info(f"Created {project.name}; your unsaved edits are still open here.")
            return
        self.project = None
        self.reload(select_project=project.id)

    def _on_job_button_clicked(self, job_type: JobType) -> None:
        self.panel.enqueue(job_type, symbol=self.pane.symbol_edit.text(),
                           timeframe=self.pane.timeframe_box.currentText())

    def _on_panel_diagnostic_activated(self, line: int, column: int) -> None:
        self.editor.go_to(line, column)

    def _on_panel_diagnostics_shown(self, items: list[Diagnostic]) -> None:
        self.editor.set_marks([LineMark(d.line, d.column, d.severity, d.message) for d in items])

    def _on_panel_version_changed(self, version_id: str) -> None:
        if self.versions.find(version_id) is not None:
            self._reload_versions()

    def _on_panel_running_changed(self, _running: bool) -> None:
        self._refresh_state()

    def _on_versions_selection_changed(self, _selected: object, _deselected: object) -> None:
        self._refresh_state()

    def _on_document_modification_changed(self, _modified: bool) -> None:
        self._refresh_state()

    # State ----------------------------------------------------------------------------------

    def _refresh_state(self) -> None:
        self.pane.show_state(self.project, self.version, self.has_unsaved_changes(), running=self.panel.ea_running)
        selected = len(self._selected_versions())
        self.open_button.setEnabled(selected == 1)
        self.compare_button.setEnabled(self.versions.rowCount() >= 2)


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-weight: 600; margin-top: 4px")
    return label
