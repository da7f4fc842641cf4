"""A side-by-side diff of two texts: two read-only editors scrolled together.

:func:`side_by_side` lines the two texts up with :mod:`difflib`; equal rows sit side by side,
removed lines face a blank on the right, added lines a blank on the left, and replaced runs are
paired line by line as "changed" (with the changed characters tinted). The blank filler rows keep
both panes the same height, so one scroll bar position means the same row in both.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from PySide6.QtGui import QColor, QTextDocumentFragment
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from tnm_desktop.gui.widgets.code_editor import CodeEditor
from tnm_desktop.gui.widgets.mql5_highlighter import is_dark


class RowKind(StrEnum):
    """How one row of the diff differs."""

    EQUAL = "equal"
    REMOVED = "removed"
    ADDED = "added"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class DiffRow:
    """One row of a side-by-side diff; a side's number is None where that side has no line."""

    kind: RowKind
    left_no: int | None
    left: str
    right_no: int | None
    right: str


def side_by_side(old: str, new: str) -> list[DiffRow]:
    """Line ``old`` and ``new`` up in rows (1-based line numbers)."""
    a, b = old.splitlines(), new.splitlines()
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [DiffRow(RowKind.EQUAL, i + 1, a[i], j + 1, b[j]) for i, j in zip(range(i1, i2), range(j1, j2),
                                                                                        strict=True)]
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        rows += [DiffRow(RowKind.CHANGED, i1 + k + 1, a[i1 + k], j1 + k + 1, b[j1 + k]) for k in range(paired)]
        rows += [DiffRow(RowKind.REMOVED, i + 1, a[i], None, "") for i in range(i1 + paired, i2)]
        rows += [DiffRow(RowKind.ADDED, None, "", j + 1, b[j]) for j in range(j1 + paired, j2)]
    return rows


def changed_spans(left: str, right: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The (start, length) stretches that differ between two paired lines, on each side."""
    ours: list[tuple[int, int]] = []
    theirs: list[tuple[int, int]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, left, right, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i2 > i1:
            ours.append((i1, i2 - i1))
        if j2 > j1:
            theirs.append((j1, j2 - j1))
    return ours, theirs


# Tints that read on a white and on a dark background alike (alpha over the base colour).
_TINTS = {RowKind.REMOVED: (214, 69, 69), RowKind.ADDED: (46, 157, 91), RowKind.CHANGED: (212, 154, 26)}
_FILLER = (128, 128, 128)


def _tint(rgb: tuple[int, int, int], alpha: int) -> QColor:
    return QColor(rgb[0], rgb[1], rgb[2], alpha)


class DiffView(QWidget):
    """Two versions of a source, side by side, with their differences coloured.

    Args:
        parent: Qt parent.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[DiffRow] = []
        self.left = CodeEditor(highlight_current_line=False)
        self.right = CodeEditor(highlight_current_line=False)
        self.left_title = QLabel()
        self.right_title = QLabel()
        self.summary = QLabel()
        self.summary.setObjectName("diffSummary")
        panes = QHBoxLayout()
        for title, pane in ((self.left_title, self.left), (self.right_title, self.right)):
            pane.setReadOnly(True)
            title.setStyleSheet("font-weight: 600")
            column = QVBoxLayout()
            column.addWidget(title)
            column.addWidget(pane)
            panes.addLayout(column)
        for pane in (self.left, self.right):
            pane.set_mql5_highlighting()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addLayout(panes, 1)
        # Either pane's scroll bars drive the other's (setValue to the same value does not re-emit).
        for one, other in ((self.left, self.right), (self.right, self.left)):
            one.verticalScrollBar().valueChanged.connect(other.verticalScrollBar().setValue)
            one.horizontalScrollBar().valueChanged.connect(other.horizontalScrollBar().setValue)

    def set_texts(self, old: str, new: str, *, old_title: str = "", new_title: str = "") -> None:
        """Show the diff of ``old`` (left) and ``new`` (right)."""
        self.rows = side_by_side(old, new)
        self.left_title.setText(old_title)
        self.right_title.setText(new_title)
        dark = is_dark(self.palette())
        alpha, strong = (70, 130) if dark else (45, 95)
        for side, pane in (("left", self.left), ("right", self.right)):
            texts = [row.left if side == "left" else row.right for row in self.rows]
            numbers = [row.left_no if side == "left" else row.right_no for row in self.rows]
            pane.setPlainText("\n".join(texts))
            pane.set_line_labels(["" if n is None else str(n) for n in numbers])
            backgrounds: dict[int, QColor] = {}
            spans: list[tuple[int, int, int, QColor]] = []
            for index, row in enumerate(self.rows):
                if numbers[index] is None:
                    backgrounds[index] = _tint(_FILLER, 30)
                elif row.kind is not RowKind.EQUAL:
                    backgrounds[index] = _tint(_TINTS[row.kind], alpha)
                if row.kind is RowKind.CHANGED:
                    ours, theirs = changed_spans(row.left, row.right)
                    for start, length in ours if side == "left" else theirs:
                        spans.append((index, start, length, _tint(_TINTS[RowKind.CHANGED], strong)))
            pane.set_line_backgrounds(backgrounds)
            pane.set_char_spans(spans)
        counts = Counter(row.kind for row in self.rows)
        if counts[RowKind.CHANGED] + counts[RowKind.ADDED] + counts[RowKind.REMOVED] == 0:
            self.summary.setText("No differences.")
            return
        # The counts double as the legend: each on the tint its lines have.
        parts = [f"<span style='background-color: {_tint(_TINTS[kind], strong).name(QColor.NameFormat.HexArgb)}'>"
                 f"&nbsp;{counts[kind]} {kind.value}&nbsp;</span>"
                 for kind in (RowKind.CHANGED, RowKind.ADDED, RowKind.REMOVED)]
        self.summary.setText("Lines: " + " ".join(parts))

    @property
    def summary_text(self) -> str:
        """The summary without its markup."""
        return QTextDocumentFragment.fromHtml(self.summary.text()).toPlainText().replace("\xa0", " ").strip()

    def row_kind_at(self, row: int) -> RowKind:
        """What kind of difference the 0-based row shows."""
        return self.rows[row].kind
