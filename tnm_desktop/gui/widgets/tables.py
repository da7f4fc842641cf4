"""Table views set up for big models, with column widths that survive a restart.

Fixed row heights and interactive column widths: per NOTES_QT, ``ResizeToContents`` costs a second
per append at 10k rows, while a fixed height keeps any insert a few milliseconds.

Columns fit their table: when the table is narrower than its columns (a 1280 × 800 window), they
shrink together, none below what its header needs, so no column is cut off at the right edge; when
it is wider, the stretch column takes the rest. Once the user sizes a column, the widths are theirs:
kept as they are, and remembered.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, Qt, QTimer
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyle, QTableView
from shiboken6 import Shiboken


def setup_table(view: QTableView, *, widths: dict[int, int] | None = None, stretch: int | None = None) -> None:
    """Make ``view`` a row-selecting table with fixed row heights and interactive columns.

    ``stretch`` names the column that takes the spare width (the last one when None).
    """
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(False)
    view.setWordWrap(False)
    view.setShowGrid(False)
    view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    rows = view.verticalHeader()
    rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    rows.setDefaultSectionSize(view.fontMetrics().height() + 10)
    rows.hide()
    columns = view.horizontalHeader()
    columns.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    columns.setStretchLastSection(stretch is None)
    if stretch is not None:
        columns.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    columns.setHighlightSections(False)
    for column, width in (widths or {}).items():
        view.setColumnWidth(column, width)
    _ColumnFitter(view, widths or {})


class _ColumnFitter(QObject):
    # Watches the table's viewport; after each resize (once the layout settled) it shrinks the
    # columns that overflow it, each in proportion to what it can give — until the user (or a
    # restored layout) sizes a column.

    def __init__(self, view: QTableView, widths: dict[int, int]) -> None:
        super().__init__(view)
        self._view = view
        self._widths = dict(widths)  # the widths wanted when there is room
        self._pending = False
        self.fitting = False
        self.user_sized = False
        view.viewport().installEventFilter(self)
        header = view.horizontalHeader()
        header.sectionCountChanged.connect(self._schedule)
        header.sectionResized.connect(self._on_header_section_resized)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        if event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self._schedule()
        return False

    def _on_header_section_resized(self, section: int, _old: int, _new: int) -> None:
        header = self._view.horizontalHeader()
        automatic = header.sectionResizeMode(section) is QHeaderView.ResizeMode.Stretch or (
            header.stretchLastSection() and section == header.count() - 1)
        if not self.fitting and not automatic:
            self.user_sized = True

    def _schedule(self, *_args: object) -> None:
        if not self._pending:
            self._pending = True
            QTimer.singleShot(0, self._fit)

    def _fit(self) -> None:
        self._pending = False
        if self.user_sized or not shiboken_valid(self._view):
            return
        self.fitting = True
        try:
            fit_columns(self._view, self._widths)
        finally:
            self.fitting = False


def shiboken_valid(view: QTableView) -> bool:
    """Whether the view still exists (a queued fit may come after its window was deleted)."""
    return bool(Shiboken.isValid(view))


def header_width(view: QTableView, column: int) -> int:
    """The width a column's header text needs, margins included."""
    text = str(view.model().headerData(column, Qt.Orientation.Horizontal) or "") if view.model() else ""
    header = view.horizontalHeader()
    margin = header.style().pixelMetric(QStyle.PixelMetric.PM_HeaderMargin, None, header)
    return header.fontMetrics().horizontalAdvance(text) + 2 * margin + 8


def fit_columns(view: QTableView, wanted: dict[int, int] | None = None) -> None:
    """Give ``view``'s columns their ``wanted`` widths (the header's default for the others),
    shrunk to the view's width if they would overflow it — none below what its header needs."""
    header = view.horizontalHeader()
    shown = [c for c in range(header.count()) if not header.isSectionHidden(c)]
    stretched = [c for c in shown if header.sectionResizeMode(c) is QHeaderView.ResizeMode.Stretch]
    columns = [c for c in shown if c not in stretched]
    stretch_need = sum(header_width(view, c) for c in stretched)
    last = header.count() - 1
    if header.stretchLastSection() and last in columns:  # Qt sizes the last section itself...
        columns.remove(last)
        need = header_width(view, last)
        stretch_need += need
        if header.sectionSize(last) < view.viewport().width() // 2:
            # ...never narrower than it was before stretching (100 px by default): make that its
            # header's width, so it may give way to the others in a narrow table.
            header.resizeSection(last, need)
    sizes = {c: (wanted or {}).get(c, header.defaultSectionSize()) for c in columns}
    excess = sum(sizes.values()) + stretch_need - view.viewport().width()
    floors = {c: min(sizes[c], header_width(view, c)) for c in columns}
    spare = sum(sizes[c] - floors[c] for c in columns)
    share = 0.0 if excess <= 0 or spare <= 0 else min(1.0, excess / spare)
    for c in columns:
        width = sizes[c] - math.ceil((sizes[c] - floors[c]) * share)  # up: the total must fit
        if header.sectionSize(c) != width:
            header.resizeSection(c, width)


def remember_columns(view: QTableView, settings: QSettings, key: str) -> None:
    """Restore the column widths saved under ``key`` and save them whenever they change.

    Call after the model is set: the header's state only applies to a known column count.
    """
    header = view.horizontalHeader()
    fitter = view.findChild(_ColumnFitter)
    saved = settings.value(f"columns/{key}")
    if isinstance(saved, QByteArray | bytes):
        header.restoreState(QByteArray(saved))
        if fitter is not None:
            fitter.user_sized = True  # the user's widths: no fitting from now on

    def save() -> None:
        if fitter is None or fitter.user_sized:  # what fitting did is redone next time, not saved
            settings.setValue(f"columns/{key}", header.saveState())

    header.sectionResized.connect(save)
    header.sectionMoved.connect(save)
