"""Table views set up for big models, with column widths that survive a restart.

Fixed row heights and interactive column widths: per NOTES_QT, ``ResizeToContents`` costs a second
per append at 10k rows, while a fixed height keeps any insert a few milliseconds.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView


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


def remember_columns(view: QTableView, settings: QSettings, key: str) -> None:
    """Restore the column widths saved under ``key`` and save them whenever they change.

    Call after the model is set: the header's state only applies to a known column count.
    """
    header = view.horizontalHeader()
    saved = settings.value(f"columns/{key}")
    if isinstance(saved, QByteArray | bytes):
        header.restoreState(QByteArray(saved))

    def save() -> None:
        settings.setValue(f"columns/{key}", header.saveState())

    header.sectionResized.connect(save)
    header.sectionMoved.connect(save)
