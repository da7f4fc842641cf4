"""MetaEditor's compile log: the real formats (see fixtures/README.md) and the one we write."""

from __future__ import annotations

from pathlib import Path

import pytest
from tnm_desktop.ea.compile_log import format_diagnostic, format_result, parse_compile_log, read_log
from tnm_desktop.ea.port import Diagnostic, Severity

FIXTURES = Path(__file__).parent / "fixtures"
USER_FOLDER = r"C:\Users\Jane Trader\AppData\Roaming\MetaQuotes\Terminal\D0E8209F77C8CF37AD8BF550E51FF075"


def test_the_fixture_is_utf16_with_a_bom_as_metaeditor_writes_it() -> None:
    raw = (FIXTURES / "metaeditor_errors.log").read_bytes()
    assert raw[:2] == b"\xff\xfe"
    assert b"\r\x00\n\x00" in raw


def test_errors_warnings_and_the_result_line_are_read_from_a_utf16_log() -> None:
    log = parse_compile_log(read_log(FIXTURES / "metaeditor_errors.log"))
    source = USER_FOLDER + r"\MQL5\Experts\TNM (test)\MA Cross.mq5"
    assert log.diagnostics == (
        Diagnostic(source, 42, 13, 256, Severity.ERROR, "'InpFastPeriodd' - undeclared identifier"),
        Diagnostic(source, 57, 4, 143, Severity.ERROR, "'Print' - semicolon expected"),
        Diagnostic(source, 88, 19, 43, Severity.WARNING,
                   "possible loss of data due to type conversion from 'long' to 'int'"),
        Diagnostic("", 1, 1, 161, Severity.ERROR, "unexpected end of program"),
    )
    assert (log.errors, log.warnings, log.elapsed_ms, log.has_result) == (3, 1, 123, True)
    assert log.text.startswith(source + " : information: compiling ")


def test_the_newer_result_line_and_progress_lines_are_understood() -> None:
    log = parse_compile_log(read_log(FIXTURES / "metaeditor_clean.log"))
    assert (log.errors, log.warnings, log.elapsed_ms) == (0, 1, 724)
    assert [(d.line, d.column, d.code, d.severity) for d in log.diagnostics] == [(120, 23, 43, Severity.WARNING)]


def test_an_older_utf8_log_without_codes_is_read_too() -> None:
    log = parse_compile_log(read_log(FIXTURES / "metaeditor_utf8.log"))
    assert (log.errors, log.warnings, log.elapsed_ms) == (2, 0, None)
    assert [(d.file, d.line, d.column, d.code) for d in log.diagnostics] == [
        ("MA_Cross.mq5", 12, 5, 256), ("MA_Cross.mq5", 30, 1, None)]
    assert log.diagnostics[1].message == "'}' - unbalanced parentheses"


def test_a_log_cut_short_counts_its_lines_and_says_it_has_no_result() -> None:
    log = parse_compile_log("a.mq5(3,1) : error 256: 'x' - undeclared identifier\r\n"
                            "a.mq5(4,2) : warning 43: possible loss of data\r\n")
    assert (log.errors, log.warnings, log.has_result) == (1, 1, False)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig", "utf-8"])
def test_the_log_file_is_decoded_whatever_its_encoding(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "x.log"
    path.write_bytes("é.mq5(1,2) : error 256: 'ü' - undeclared identifier\r\nResult: 1 errors, 0 warnings\r\n"
                     .encode(encoding))
    log = parse_compile_log(read_log(path))
    assert log.diagnostics[0].file == "é.mq5"
    assert log.diagnostics[0].message == "'ü' - undeclared identifier"
    assert log.errors == 1


def test_what_we_write_is_read_back_unchanged() -> None:
    diagnostic = Diagnostic(r"C:\a (1)\b.mq5", 7, 3, 256, Severity.ERROR, "'Foo' - undeclared identifier")
    text = format_diagnostic(diagnostic) + "\r\n" + format_result(1, 0, 5)
    assert format_diagnostic(diagnostic) == r"C:\a (1)\b.mq5(7,3) : error 256: 'Foo' - undeclared identifier"
    log = parse_compile_log(text)
    assert log.diagnostics == (diagnostic,)
    assert (log.errors, log.warnings, log.elapsed_ms) == (1, 0, 5)


def test_the_json_shape_is_what_ea_studio_reads() -> None:
    diagnostic = Diagnostic("b.mq5", 7, 3, 256, Severity.ERROR, "'Foo' - undeclared identifier")
    assert diagnostic.to_json() == {"file": "b.mq5", "line": 7, "column": 3, "code": "256", "severity": "error",
                                    "message": "'Foo' - undeclared identifier"}
