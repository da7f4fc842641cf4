"""MetaEditor's compile log: read it, and write one in the same format.

The log MetaEditor writes with ``/log`` is UTF-16 LE with a byte-order mark and CRLF line ends.
Its lines, as public tools that parse it record them across builds::

    C:\\...\\MyEA.mq5 : information: compiling C:\\...\\MyEA.mq5      (older builds: 'MyEA.mq5')
    C:\\...\\MyEA.mq5 : information: including C:\\...\\Include\\Trade\\Trade.mqh
    C:\\...\\MyEA.mq5(12,5) : error 256: 'Foo' - undeclared identifier
    C:\\...\\MyEA.mq5(20,10) : warning 43: possible loss of data due to type conversion
    (1,1) : error 161: unexpected end of program                   (no file at all)
     : information: generating code 50%
    Result: 2 errors, 1 warnings, 123 msec elapsed                 (newer: "… 724 ms elapsed, cpu='X64 Regular'")

Paths may contain parentheses, so the position is the *last* ``(line,column)`` before
``: error``/``: warning``. The simulated compiler writes its log with :func:`format_diagnostic`
and :func:`format_result`, so this one parser reads both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tnm_desktop.ea.config_files import decode_text
from tnm_desktop.ea.port import Diagnostic, Severity

_DIAGNOSTIC = re.compile(
    r"^(?P<file>.*)\((?P<line>\d+),(?P<column>\d+)\)\s*:\s*(?P<severity>error|warning)"
    r"(?:\s+(?P<code>\d+))?\s*:\s*(?P<message>.*?)\s*$", re.IGNORECASE)
_RESULT = re.compile(
    r"^\s*Result:\s*(?P<errors>\d+)\s+error(?:s|\(s\))?,\s*(?P<warnings>\d+)\s+warning(?:s|\(s\))?"
    r"(?:,\s*(?P<elapsed>\d+)\s*(?:ms|msec)\s+elapsed)?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CompileLog:
    """A parsed compile log.

    Attributes:
        errors: From the ``Result:`` line, else the number of error lines.
        warnings: Likewise for warnings.
        has_result: Whether the log has its ``Result:`` line (a log without one was cut short).
    """

    text: str
    diagnostics: tuple[Diagnostic, ...]
    errors: int
    warnings: int
    elapsed_ms: int | None
    has_result: bool


def read_log(path: Path) -> str:
    """Read a compile log file whatever its encoding (UTF-16 with BOM as MetaEditor writes, or UTF-8)."""
    return decode_text(path.read_bytes())


def parse_compile_log(text: str) -> CompileLog:
    """Parse the text of a MetaEditor compile log (or the simulated compiler's)."""
    text = text.lstrip("\ufeff")
    diagnostics: list[Diagnostic] = []
    result: re.Match[str] | None = None
    for raw in text.splitlines():
        line = raw.strip("\r")
        found = _DIAGNOSTIC.match(line)
        if found:
            code = found.group("code")
            diagnostics.append(Diagnostic(
                file=found.group("file").strip(), line=int(found.group("line")), column=int(found.group("column")),
                code=int(code) if code else None, severity=Severity(found.group("severity").lower()),
                message=found.group("message")))
            continue
        result = _RESULT.match(line) or result
    counted_errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    counted_warnings = len(diagnostics) - counted_errors
    if result is None:
        return CompileLog(text, tuple(diagnostics), counted_errors, counted_warnings, None, has_result=False)
    elapsed = result.group("elapsed")
    return CompileLog(text, tuple(diagnostics), int(result.group("errors")), int(result.group("warnings")),
                      int(elapsed) if elapsed else None, has_result=True)


def format_diagnostic(diagnostic: Diagnostic) -> str:
    """Return the log line MetaEditor writes for a diagnostic."""
    code = "" if diagnostic.code is None else f" {diagnostic.code}"
    return (f"{diagnostic.file}({diagnostic.line},{diagnostic.column}) : "
            f"{diagnostic.severity.value}{code}: {diagnostic.message}")


def format_result(errors: int, warnings: int, elapsed_ms: int) -> str:
    """Return MetaEditor's closing ``Result:`` line."""
    return f"Result: {errors} errors, {warnings} warnings, {elapsed_ms} msec elapsed"
