"""The files MetaTrader reads: start-up and tester configurations, ``.set`` input files.

Both toolchains write the very same files (the simulated one to show what would have been run),
so the request checks live here too: a value with a line break could otherwise inject a line
into a configuration file.

The terminal's own ``.ini`` and ``.set`` files are UTF-16 LE with a byte-order mark; we write
ours the same way, which also keeps non-ASCII paths (a Windows user name) intact.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from tnm_desktop.ea.port import EaInput, InputValue, RunRequest, TestRequest
from tnm_desktop.errors import UserError

EXPERTS_SUBFOLDER = "TNM"
# ENUM_TIMEFRAMES without the PERIOD_ prefix: what the [StartUp]/[Tester] Period key accepts.
TIMEFRAMES = ("M1", "M2", "M3", "M4", "M5", "M6", "M10", "M12", "M15", "M20", "M30",
              "H1", "H2", "H3", "H4", "H6", "H8", "H12", "D1", "W1", "MN1")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SYMBOL = re.compile(r"^[A-Za-z0-9._#&+\-]{1,32}$")
_CURRENCY = re.compile(r"^[A-Z]{3,4}$")


def project_stem(project: str) -> str:
    """Return the file name (without extension) a project's source and ``.ex5`` get.

    Only letters, digits, ``_`` and ``-`` are kept: the name travels through command lines and
    configuration files, where quotes, spaces and separators cause trouble.

    Raises:
        UserError: When nothing usable is left of the name.
    """
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", project.strip()).strip("_")[:64]
    if not stem:
        raise UserError("Give the Expert Advisor a name with at least one letter or digit.", code="ea_name")
    return stem


def expert_name(project: str) -> str:
    """Return the expert as the terminal names it: relative to ``MQL5\\Experts``, no extension."""
    return f"{EXPERTS_SUBFOLDER}\\{project_stem(project)}"


def check_symbol(symbol: str) -> str:
    """Return the symbol, or raise a UserError saying why it cannot be one."""
    if not _SYMBOL.match(symbol):
        raise UserError(f"“{symbol}” is not a symbol name MetaTrader accepts (letters, digits and . _ # & + -).",
                        code="ea_symbol")
    return symbol


def check_timeframe(timeframe: str) -> str:
    """Return the timeframe in MetaTrader's spelling (``h1`` → ``H1``), or raise a UserError."""
    value = timeframe.strip().upper().removeprefix("PERIOD_")
    if value not in TIMEFRAMES:
        raise UserError(f"“{timeframe}” is not a timeframe; use one of {', '.join(TIMEFRAMES)}.",
                        code="ea_timeframe")
    return value


def input_text(value: InputValue) -> str:
    """Return an input value as MetaTrader reads it in ``.set`` and ``[TesterInputs]`` lines."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UserError(f"{value} is not a number an input can take.", code="ea_input")
        # Plain decimals: the terminal does not read exponents such as 1e-05.
        text = f"{value:.10f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    if "\n" in value or "\r" in value:
        raise UserError("An input text cannot contain a line break.", code="ea_input")
    return value


def check_inputs(inputs: tuple[EaInput, ...]) -> list[tuple[str, str]]:
    """Return the inputs as (name, text) lines, refusing bad names and values."""
    lines: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in inputs:
        if not _IDENTIFIER.match(item.name):
            raise UserError(f"“{item.name}” is not the name of an input variable.", code="ea_input")
        if item.name in seen:
            raise UserError(f"The input {item.name} is given twice.", code="ea_input")
        seen.add(item.name)
        lines.append((item.name, input_text(item.value)))
    return lines


def set_file_text(inputs: tuple[EaInput, ...]) -> str:
    """Return a ``.set`` file giving the expert's inputs (the format of the Inputs tab's Save)."""
    body = "".join(f"{name}={text}\r\n" for name, text in check_inputs(inputs))
    return "; saved by TNM Desktop\r\n" + body


def startup_config(request: RunRequest, set_file_name: str | None) -> str:
    """Return the ``/config:`` file that opens a chart with the expert on it.

    Args:
        request: What to run where.
        set_file_name: The ``.set`` file in ``MQL5\\Presets`` holding the inputs, if any.
    """
    lines = ["[StartUp]", f"Expert={expert_name(request.project)}"]
    if set_file_name:
        lines.append(f"ExpertParameters={set_file_name}")
    lines += [f"Symbol={check_symbol(request.symbol)}", f"Period={check_timeframe(request.timeframe)}"]
    return "\r\n".join(lines) + "\r\n"


def check_test_request(request: TestRequest) -> None:
    """Refuse a tester request the tester would reject or misread, saying why."""
    check_symbol(request.symbol)
    check_timeframe(request.timeframe)
    if request.date_from >= request.date_to:
        raise UserError("The test must end after it starts.", code="ea_test_dates")
    if not (math.isfinite(request.deposit) and request.deposit > 0):
        raise UserError("The initial deposit must be a positive amount.", code="ea_test_deposit")
    if request.currency is not None and not _CURRENCY.match(request.currency):
        raise UserError(f"“{request.currency}” is not a currency code such as USD.", code="ea_test_currency")
    if request.leverage is not None and not 1 <= request.leverage <= 10_000:
        raise UserError("Leverage must be between 1:1 and 1:10000.", code="ea_test_leverage")
    check_inputs(request.inputs)


def strategy_tester_config(request: TestRequest, report: str) -> str:
    """Return the ``/config:`` file that runs one test and closes the terminal afterwards.

    Args:
        request: The test to run (checked here).
        report: The report file, relative to the terminal's data folder; its extension chooses
            the format (``.htm`` or ``.xml``).
    """
    check_test_request(request)
    lines = ["[Tester]", f"Expert={expert_name(request.project)}", f"Symbol={request.symbol}",
             f"Period={check_timeframe(request.timeframe)}", "Optimization=0", f"Model={int(request.model)}",
             f"FromDate={request.date_from:%Y.%m.%d}", f"ToDate={request.date_to:%Y.%m.%d}", "ForwardMode=0",
             f"Deposit={input_text(float(request.deposit))}"]
    if request.currency:
        lines.append(f"Currency={request.currency}")
    if request.leverage:
        lines.append(f"Leverage=1:{request.leverage}")
    lines += ["Visual=0", f"Report={report}", "ReplaceReport=1", "ShutdownTerminal=1"]
    inputs = check_inputs(request.inputs)
    if inputs:
        lines += ["", "[TesterInputs]", *(f"{name}={text}" for name, text in inputs)]
    return "\r\n".join(lines) + "\r\n"


def write_utf16(path: Path, text: str) -> None:
    """Write a file as the terminal writes its own: UTF-16 LE with a byte-order mark."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))


def decode_text(data: bytes) -> str:
    """Decode a file MetaTrader wrote: UTF-16 (with or without BOM) or UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    sample = data[:200]
    # ASCII text in UTF-16 LE without a BOM has a NUL after every character.
    if len(sample) >= 2 and sample[1::2].count(0) > len(sample) // 4:
        return data.decode("utf-16-le", errors="replace")
    return data.decode("utf-8", errors="replace")
