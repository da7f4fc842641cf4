"""The Strategy Tester's report, HTML and XML (see fixtures/README.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tnm_desktop.ea.report import parse_report, parse_report_text
from tnm_desktop.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures"
BALANCES = [10_000.00, 10_000.00, 10_220.00, 10_220.00, 10_085.00, 10_085.00, 10_377.80, 10_377.80, 10_221.80]


@pytest.mark.parametrize("name", ["tester_report.htm", "tester_report.xml"])
def test_the_summary_figures_are_read(name: str) -> None:
    figures = parse_report(FIXTURES / name)
    assert figures.net_profit == pytest.approx(221.80)
    assert figures.gross_profit == pytest.approx(512.80)
    assert figures.gross_loss == pytest.approx(-291.00)
    assert figures.profit_factor == pytest.approx(1.76)
    assert figures.total_trades == 4
    assert figures.win_rate == pytest.approx(50.0)
    assert figures.max_drawdown == pytest.approx(201.35)  # the equity drawdown, not the balance one
    assert figures.max_drawdown_percent == pytest.approx(1.93)
    assert figures.sharpe_ratio == pytest.approx(2.87)
    assert figures.recognised


@pytest.mark.parametrize("name", ["tester_report.htm", "tester_report.xml"])
def test_the_balance_after_each_deal_is_read_up_to_the_totals_row(name: str) -> None:
    points = parse_report(FIXTURES / name).balance_points
    assert [p.balance for p in points] == pytest.approx(BALANCES)
    assert points[0].time == datetime(2024, 1, 1, tzinfo=UTC)
    assert points[-1].time == datetime(2024, 1, 23, 10, 0, tzinfo=UTC)


def test_the_html_report_is_utf16_and_also_read_when_saved_as_utf8(tmp_path: Path) -> None:
    raw = (FIXTURES / "tester_report.htm").read_bytes()
    assert raw[:2] == b"\xff\xfe"
    copy = tmp_path / "copy.html"
    copy.write_text(raw.decode("utf-16"), encoding="utf-8")
    assert parse_report(copy).net_profit == pytest.approx(221.80)


def test_the_xml_report_saved_as_utf16_is_read(tmp_path: Path) -> None:
    copy = tmp_path / "copy.xml"
    text = (FIXTURES / "tester_report.xml").read_text(encoding="utf-8")
    copy.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    assert parse_report(copy).total_trades == 4


def test_a_run_without_trades_leaves_what_it_does_not_state_empty() -> None:
    text = (FIXTURES / "tester_report.htm").read_bytes().decode("utf-16")
    text = text.replace("<b>2.87</b>", "<b>n/a</b>").replace("<b>1.76</b>", "<b></b>")
    figures = parse_report_text(text, xml=False)
    assert figures.sharpe_ratio is None
    assert figures.profit_factor is None
    assert figures.net_profit == pytest.approx(221.80)


def test_a_report_in_another_language_is_not_misread() -> None:
    text = (FIXTURES / "tester_report.htm").read_bytes().decode("utf-16")
    for english, german in (("Total Net Profit:", "Nettogewinn gesamt:"), ("Total Trades:", "Trades gesamt:")):
        text = text.replace(english, german)
    figures = parse_report_text(text, xml=False)
    assert figures.net_profit is None and figures.total_trades is None
    assert not figures.recognised


def test_an_optimisation_report_is_refused_with_a_reason() -> None:
    xml = ('<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet" '
           'xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet"><Worksheet ss:Name="Tester Optimizator Results">'
           '<Table><Row><Cell><Data ss:Type="String">Pass</Data></Cell><Cell><Data ss:Type="String">Result</Data>'
           '</Cell></Row></Table></Worksheet></Workbook>')
    with pytest.raises(UserError, match="optimisation report"):
        parse_report_text(xml, xml=True)


def test_an_xml_file_with_a_dtd_or_broken_xml_is_refused() -> None:
    with pytest.raises(UserError, match="DTD"):
        parse_report_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Workbook/>', xml=True)
    with pytest.raises(UserError, match="not well-formed"):
        parse_report_text("<Workbook><Row>", xml=True)
