"""EA Studio's item models: projects, a project's versions, and a compile's diagnostics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont

from tnm_desktop.domain import EaProject, EaVersion, VersionOrigin
from tnm_desktop.gui.widgets import fmt, theme

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


class ProjectListModel(QAbstractListModel):
    """The trader's EA projects by name."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._projects: list[EaProject] = []

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._projects)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._projects):
            return None
        project = self._projects[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            market = " ".join(x for x in (project.symbol, project.timeframe) if x)
            return f"{project.name}  ({market})" if market else project.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return project.description or project.name
        if role == Qt.ItemDataRole.UserRole:
            return project.id
        return None

    def set_projects(self, projects: list[EaProject]) -> None:
        """Replace the list."""
        self.beginResetModel()
        self._projects = sorted(projects, key=lambda p: p.name.casefold())
        self.endResetModel()

    def project_at(self, row: int) -> EaProject | None:
        """The project at a row."""
        return self._projects[row] if 0 <= row < len(self._projects) else None

    def row_of(self, project_id: str) -> int:
        """The row of a project, or -1."""
        return next((i for i, p in enumerate(self._projects) if p.id == project_id), -1)

    def update_project(self, project: EaProject) -> None:
        """Replace one project's row (after a switch changed its current version)."""
        row = self.row_of(project.id)
        if row >= 0:
            self._projects[row] = project
            index = self.index(row)
            self.dataChanged.emit(index, index)


ORIGIN_TEXT = {VersionOrigin.MANUAL: "By hand", VersionOrigin.GENERATED: "Template",
               VersionOrigin.IMPORTED: "Imported"}
ORIGIN_PHRASE = {VersionOrigin.MANUAL: "written by hand", VersionOrigin.GENERATED: "generated from a template",
                 VersionOrigin.IMPORTED: "imported"}
COMPILE_TEXT = {"not_compiled": ("Not compiled", "idle"), "queued": ("Queued", "idle"),
                "compiling": ("Compiling…", "warn"), "success": ("Compiled", "good"),
                "failed": ("Errors", "bad")}
COMPILE_PHRASE = {"not_compiled": "not compiled", "queued": "compile queued", "compiling": "compiling…",
                  "success": "compiled", "failed": "compile errors"}


class VersionTableModel(QAbstractTableModel):
    """A project's versions, newest first; the open (current) one in bold."""

    HEADERS = ("Version", "Compile", "Made", "Created", "Note")
    COL_VERSION, COL_COMPILE, COL_ORIGIN, COL_CREATED, COL_NOTE = range(5)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._versions: list[EaVersion] = []
        self._current: str | None = None
        self.deployed_id: str | None = None  # the version the agent last put in the terminal (▲)

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._versions)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._versions):
            return None
        version, col = self._versions[index.row()], index.column()
        current = version.id == self._current
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.COL_VERSION:
                name = f"● v{version.version_number}" if current else f"v{version.version_number}"
                return name + (" ▲" if version.id == self.deployed_id else "")
            if col == self.COL_CREATED:
                return version.created_at.astimezone().strftime("%d %b %H:%M")
            if col == self.COL_ORIGIN:
                return ORIGIN_TEXT.get(version.origin, version.origin.value)
            if col == self.COL_COMPILE:
                return COMPILE_TEXT.get(version.compile_status, (version.compile_status, "idle"))[0]
            return version.note
        if role == Qt.ItemDataRole.FontRole and current:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and col == self.COL_COMPILE:
            return theme.state_color(COMPILE_TEXT.get(version.compile_status, ("", "idle"))[1])
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [f"Version {version.version_number}, saved {fmt.moment(version.created_at)}"]
            if version.parameters:
                lines.append("Parameters: " + ", ".join(f"{k} = {v}" for k, v in version.parameters.items()))
            if version.compiled_at:
                lines.append(f"Compiled {fmt.moment(version.compiled_at)}")
            if version.id == self.deployed_id:
                lines.append("▲ The version deployed to the terminal")
            return "\n".join(lines)
        if role == Qt.ItemDataRole.UserRole:
            return version.id
        return None

    def set_versions(self, versions: list[EaVersion], current_id: str | None) -> None:
        """Replace the list."""
        self.beginResetModel()
        self._versions = sorted(versions, key=lambda v: -v.version_number)
        self._current = current_id
        self.endResetModel()

    def set_current(self, version_id: str | None) -> None:
        """Mark another version as the open one."""
        self._current = version_id
        if self._versions:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._versions) - 1, len(self.HEADERS) - 1))

    @property
    def current_id(self) -> str | None:
        """The open version's id."""
        return self._current

    def version_at(self, row: int) -> EaVersion | None:
        """The version at a row."""
        return self._versions[row] if 0 <= row < len(self._versions) else None

    def find(self, version_id: str) -> EaVersion | None:
        """A listed version by id."""
        return next((v for v in self._versions if v.id == version_id), None)

    def row_of(self, version_id: str) -> int:
        """The row of a version, or -1."""
        return next((i for i, v in enumerate(self._versions) if v.id == version_id), -1)

    def versions(self) -> list[EaVersion]:
        """Every listed version, newest first."""
        return list(self._versions)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One compiler message, as a compile job's result carries it (1-based line and column)."""

    severity: str
    line: int
    column: int
    message: str
    code: str = ""
    file: str = ""

    @classmethod
    def from_json(cls, item: Any) -> Diagnostic | None:
        """Read one entry of ``result["diagnostics"]``; None when it is not one."""
        if not isinstance(item, dict) or "message" not in item:
            return None
        try:
            return cls(severity=str(item.get("severity") or "error"), line=int(item.get("line") or 1),
                       column=int(item.get("column") or 1), message=str(item["message"]),
                       code=str(item.get("code") or ""), file=str(item.get("file") or ""))
        except (TypeError, ValueError):
            return None


class DiagnosticModel(QAbstractTableModel):
    """A compile's errors and warnings, errors first, in line order."""

    HEADERS = ("", "Line", "Column", "Code", "Message")
    COL_SEVERITY, COL_LINE, COL_COLUMN, COL_CODE, COL_MESSAGE = range(5)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[Diagnostic] = []

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item, col = self._items[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (item.severity.capitalize(), str(item.line), str(item.column), item.code, item.message)[col]
        if role == Qt.ItemDataRole.ForegroundRole and col == self.COL_SEVERITY:
            return theme.state_color({"error": "bad", "warning": "warn"}.get(item.severity, "idle"))
        if role == Qt.ItemDataRole.ToolTipRole and col == self.COL_MESSAGE:
            return f"{item.file}({item.line},{item.column}): {item.message}" if item.file else item.message
        if role == Qt.ItemDataRole.UserRole:
            return (item.line, item.column)
        return None

    def set_diagnostics(self, items: list[Diagnostic]) -> None:
        """Replace the list."""
        order = {"error": 0, "warning": 1}
        self.beginResetModel()
        self._items = sorted(items, key=lambda d: (order.get(d.severity, 2), d.line, d.column))
        self.endResetModel()

    def item_at(self, row: int) -> Diagnostic | None:
        """The diagnostic at a row."""
        return self._items[row] if 0 <= row < len(self._items) else None

    def items(self) -> list[Diagnostic]:
        """Every diagnostic shown."""
        return list(self._items)
