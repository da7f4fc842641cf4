"""Read the Strategy Tester's report: the summary figures and the balance after each deal.

The tester writes the file named by ``[Tester] Report``; its extension picks the format:

* ``.htm`` — an HTML page, UTF-16 LE with a byte-order mark. Settings and Results are rows of
  label cells ending in ``:`` each followed by a value cell (``Total Net Profit:`` ``-180.60``),
  numbers with a space as the thousands separator (``10 000.00``), drawdowns as
  ``81.20 (0.81%)``; further down, the Orders and Deals tables.
* ``.xml`` — the same content as a SpreadsheetML workbook (``Workbook/Worksheet/Table/Row/Cell/Data``,
  what Excel 2003 reads), the values of plain numbers as ``ss:Type="Number"`` cells.

Both are flattened into rows of cell texts and read the same way. The labels are English: a
terminal running in another language writes other labels, and the figures then stay None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree as ET

from tnm_desktop.ea.config_files import decode_text
from tnm_desktop.ea.port import BalancePoint
from tnm_desktop.errors import UserError

_NUMBER = re.compile(r"^[\s\u00a0]*(-?[\d\s\u00a0,]*\.?\d+)")
_PERCENT = re.compile(r"\(\s*(-?[\d.]+)\s*%\s*\)")
_TIME = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})(?:\s+(\d{2}):(\d{2})(?::(\d{2}))?)?$")


@dataclass(frozen=True, slots=True)
class ReportFigures:
    """The summary of one report (None where the report has no such figure)."""

    net_profit: float | None
    gross_profit: float | None
    gross_loss: float | None
    profit_factor: float | None
    total_trades: int | None
    win_rate: float | None
    max_drawdown: float | None
    max_drawdown_percent: float | None
    sharpe_ratio: float | None
    balance_points: tuple[BalancePoint, ...]

    @property
    def recognised(self) -> bool:
        """Whether the report's labels were understood at all."""
        return self.net_profit is not None or self.total_trades is not None


def parse_report(path: Path) -> ReportFigures:
    """Read a tester report file (``.htm``/``.html`` or ``.xml``).

    Raises:
        UserError: The file is not a single-test report (an optimisation's, or not a report).
    """
    text = decode_text(path.read_bytes())
    if path.suffix.lower() == ".xml":
        return figures_from_rows(_xml_rows(text))
    return figures_from_rows(_html_rows(text))


def parse_report_text(text: str, *, xml: bool) -> ReportFigures:
    """Read a tester report already decoded to text."""
    return figures_from_rows(_xml_rows(text) if xml else _html_rows(text))


def figures_from_rows(rows: list[list[str]]) -> ReportFigures:
    """Pick the summary figures and the Deals table's balances out of a report's rows."""
    if any(row[:2] == ["Pass", "Result"] for row in rows[:3]):
        raise UserError("This is an optimisation report; it has no single test's figures.", code="ea_report")
    values = _labelled_values(rows)
    drawdown = values.get("Equity Drawdown Maximal") or values.get("Balance Drawdown Maximal")
    trades = _number(values.get("Total Trades"))
    return ReportFigures(
        net_profit=_number(values.get("Total Net Profit")), gross_profit=_number(values.get("Gross Profit")),
        gross_loss=_number(values.get("Gross Loss")), profit_factor=_number(values.get("Profit Factor")),
        total_trades=int(trades) if trades is not None else None,
        win_rate=_percent(values.get("Profit Trades (% of total)")),
        max_drawdown=_number(drawdown), max_drawdown_percent=_percent(drawdown),
        sharpe_ratio=_number(values.get("Sharpe Ratio")), balance_points=tuple(_balances(rows)))


def _labelled_values(rows: list[list[str]]) -> dict[str, str]:
    # "Label:" cells are followed by their value; the first occurrence of a label wins.
    values: dict[str, str] = {}
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            following = row[index + 1]
            if cell.endswith(":") and not following.endswith(":"):
                values.setdefault(cell[:-1].strip(), following)
    return values


def _number(text: str | None) -> float | None:
    if not text:
        return None
    found = _NUMBER.match(text)
    if not found:
        return None
    try:
        return float(re.sub(r"[\s\u00a0,]", "", found.group(1)))
    except ValueError:
        return None


def _percent(text: str | None) -> float | None:
    found = _PERCENT.search(text or "")
    return float(found.group(1)) if found else None


def _time(text: str) -> datetime | None:
    found = _TIME.match(text.strip())
    if not found:
        return None
    year, month, day, hour, minute, second = (int(part or 0) for part in found.groups())
    # Trade-server time: labelled UTC, as the MetaTrader5 package labels the times it returns.
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _balances(rows: list[list[str]]) -> list[BalancePoint]:
    points: list[BalancePoint] = []
    header: list[str] | None = None
    for row in rows:
        if header is None:
            if row[:2] == ["Time", "Deal"] and "Balance" in row:
                header = row
            continue
        moment = _time(row[0]) if row else None
        balance = _number(row[header.index("Balance")]) if len(row) == len(header) else None
        if moment is None or balance is None:
            if points:
                break  # the table's closing totals row, or the end of the table
            continue
        points.append(BalancePoint(moment, balance))
    return points


class _Cells(HTMLParser):
    # Flattens every table row of a page into the texts of its cells.
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._end_row()
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._end_cell()
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._end_cell()
        elif tag in ("tr", "table"):
            self._end_row()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def close(self) -> None:
        super().close()
        self._end_row()

    def _end_cell(self) -> None:
        if self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
        self._cell = None

    def _end_row(self) -> None:
        self._end_cell()
        if self._row:
            self.rows.append(self._row)
        self._row = None


def _html_rows(text: str) -> list[list[str]]:
    parser = _Cells()
    parser.feed(text)
    parser.close()
    return parser.rows


def _xml_rows(text: str) -> list[list[str]]:
    # A report has no business declaring a DTD; refusing one rules out entity expansion attacks.
    if re.search(r"<!DOCTYPE|<!ENTITY", text, re.IGNORECASE):
        raise UserError("This XML file declares a DTD; a tester report never does.", code="ea_report")
    try:
        root = ET.fromstring(text.lstrip("\ufeff"))  # noqa: S314 — DTDs refused above
    except ET.ParseError as e:
        raise UserError(f"The tester report is not well-formed XML ({e}).", code="ea_report") from e
    rows: list[list[str]] = []
    for row in root.iter():
        if not row.tag.endswith("Row"):
            continue
        cells: list[str] = []
        for cell in row:
            if not cell.tag.endswith("Cell"):
                continue
            index = next((v for k, v in cell.attrib.items() if k.endswith("Index")), None)
            if index and index.isdigit():
                cells.extend([""] * (int(index) - 1 - len(cells)))  # ss:Index skips empty columns
            data = next((d for d in cell if d.tag.endswith("Data")), None)
            text_value = "".join(data.itertext()) if data is not None else ""
            cells.append(" ".join(text_value.split()))
        if any(cells):
            rows.append(cells)
    return rows
