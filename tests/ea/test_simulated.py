"""The simulated toolchain: real checks, MetaEditor's log format, and no pretending."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from tnm_desktop.ea.compile_log import parse_compile_log, read_log
from tnm_desktop.ea.port import (
    SIMULATED_COMPILER,
    SIMULATED_TERMINAL,
    SIMULATED_TESTER,
    EaInput,
    RunRequest,
    Severity,
    TestRequest,
    ToolchainKind,
)
from tnm_desktop.ea.simulated import PLACEHOLDER_EX5, SimulatedToolchain
from tnm_desktop.ea.templates import get_template, render_template
from tnm_desktop.errors import UserError

BROKEN = "void OnTick()\n{\n   double lots = 0.1\n   Print(lots, Foo);\n}\n"


@pytest.fixture
def toolchain(tmp_path: Path) -> SimulatedToolchain:
    return SimulatedToolchain(tmp_path, reason="no MetaTrader 5 terminal is configured")


def test_it_says_what_it_is(toolchain: SimulatedToolchain) -> None:
    assert toolchain.kind is ToolchainKind.SIMULATED
    assert toolchain.description == ("Simulated toolchain: MetaEditor and MetaTrader 5 are not used on this computer "
                                     "(no MetaTrader 5 terminal is configured)")


def test_a_clean_template_compiles_with_a_labelled_log_and_a_placeholder(toolchain: SimulatedToolchain,
                                                                          tmp_path: Path) -> None:
    source = render_template(get_template("atr_breakout"), {})
    result = toolchain.compile("ATR Breakout", source)
    assert (result.success, result.errors, result.warnings, result.simulated) == (True, 0, 0, True)
    assert result.log.splitlines()[0] == SIMULATED_COMPILER
    assert result.artefact == tmp_path / "build" / "ATR_Breakout" / "ATR_Breakout.ex5"
    assert result.artefact.read_bytes() == PLACEHOLDER_EX5.encode("utf-8")
    source_file = tmp_path / "build" / "ATR_Breakout" / "ATR_Breakout.mq5"
    assert source_file.read_bytes()[:2] == b"\xff\xfe"
    assert source_file.read_bytes().decode("utf-16") == source


def test_errors_come_back_as_metaeditor_would_write_them(toolchain: SimulatedToolchain, tmp_path: Path) -> None:
    result = toolchain.compile("Broken EA", BROKEN)
    source = str(tmp_path / "build" / "Broken_EA" / "Broken_EA.mq5")
    assert not result.success and result.artefact is None
    assert [(d.file, d.line, d.column, d.code, d.severity, d.message) for d in result.diagnostics] == [
        (source, 4, 4, 143, Severity.ERROR, "'Print' - semicolon expected"),
        (source, 4, 16, 256, Severity.ERROR, "'Foo' - undeclared identifier"),
    ]
    assert result.errors == 2
    # The log on disk is MetaEditor's format, UTF-16 with a BOM, read by the same parser.
    log_file = tmp_path / "build" / "Broken_EA" / "Broken_EA.log"
    assert log_file.read_bytes()[:2] == b"\xff\xfe"
    parsed = parse_compile_log(read_log(log_file))
    assert parsed.diagnostics == result.diagnostics
    assert f"{source}(4,16) : error 256: 'Foo' - undeclared identifier" in result.log.splitlines()
    assert result.log.splitlines()[-1].startswith("Result: 2 errors, 0 warnings, ")


def test_a_failed_compile_removes_the_previous_build(toolchain: SimulatedToolchain) -> None:
    good = toolchain.compile("EA", "void OnTick() { Print(1); }\n")
    assert good.artefact is not None and good.artefact.is_file()
    assert not toolchain.compile("EA", BROKEN).success
    assert not good.artefact.exists()


def test_the_job_result_carries_the_log_and_the_diagnostics(toolchain: SimulatedToolchain) -> None:
    data = toolchain.compile("Broken EA", BROKEN).to_json()
    assert data["success"] is False and data["simulated"] is True
    assert data["log"].startswith(SIMULATED_COMPILER)
    assert data["diagnostics"][0] | {"file": ""} == {"file": "", "line": 4, "column": 4, "code": "143",
                                                     "severity": "error", "message": "'Print' - semicolon expected"}


def test_deploy_run_stop_and_test_record_what_would_happen(toolchain: SimulatedToolchain, tmp_path: Path) -> None:
    toolchain.compile("MA Cross", render_template(get_template("ma_cross"), {}))
    deployed = toolchain.deploy("MA Cross")
    assert deployed.expert == r"TNM\MA_Cross"
    assert deployed.destination == tmp_path / "simulated-terminal" / "MQL5" / "Experts" / "TNM" / "MA_Cross.ex5"
    assert deployed.destination.is_file() and deployed.simulated
    assert deployed.message.startswith(SIMULATED_TERMINAL)

    run = toolchain.run(RunRequest("MA Cross", "EURUSD", "h1", (EaInput("InpRiskPercent", 0.5),)))
    assert (run.started, run.simulated, run.timeframe, run.process_id) == (False, True, "H1", None)
    assert run.message.startswith(f"{SIMULATED_TERMINAL}; nothing was started.")
    assert run.config_path is not None
    assert run.config_path.read_bytes().decode("utf-16").split("\r\n")[:3] == [
        "[StartUp]", r"Expert=TNM\MA_Cross", "ExpertParameters=TNM_MA_Cross.set"]
    preset = tmp_path / "simulated-terminal" / "MQL5" / "Presets" / "TNM_MA_Cross.set"
    assert "InpRiskPercent=0.5" in preset.read_bytes().decode("utf-16")

    stopped = toolchain.stop("MA Cross")
    assert (stopped.stopped, stopped.simulated) == (False, True)
    assert "would now be closed" in stopped.message
    assert "nothing to stop" in toolchain.stop("MA Cross").message

    report = toolchain.test(TestRequest("MA Cross", "EURUSD", "H1", date(2024, 1, 1), date(2024, 3, 1), 10_000.0))
    assert report.simulated and report.note.startswith(SIMULATED_TESTER)
    assert "no MQL5 was executed" in report.note and "no results" in report.note
    figures = (report.net_profit, report.gross_profit, report.gross_loss, report.profit_factor, report.total_trades,
               report.win_rate, report.max_drawdown, report.max_drawdown_percent, report.sharpe_ratio)
    assert figures == (None,) * 9
    assert report.balance_points == () and report.report_path is None
    assert r"Report=reports\TNM\MA_Cross.htm" in report.log
    assert report.to_json()["net_profit"] is None


def test_steps_out_of_order_are_refused_clearly(toolchain: SimulatedToolchain) -> None:
    with pytest.raises(UserError, match=re.escape("“New EA” has no build yet. Compile it without errors first.")):
        toolchain.deploy("New EA")
    toolchain.compile("New EA", "void OnTick() { Print(1); }\n")
    with pytest.raises(UserError, match="is not deployed yet"):
        toolchain.run(RunRequest("New EA", "EURUSD", "H1"))
    with pytest.raises(UserError, match="is not deployed yet"):
        toolchain.test(TestRequest("New EA", "EURUSD", "H1", date(2024, 1, 1), date(2024, 2, 1), 100.0))
    toolchain.deploy("New EA")
    with pytest.raises(UserError, match="“H2O” is not a timeframe"):
        toolchain.run(RunRequest("New EA", "EURUSD", "H2O"))


def test_a_name_with_nothing_usable_is_refused(toolchain: SimulatedToolchain) -> None:
    with pytest.raises(UserError, match="at least one letter or digit"):
        toolchain.compile("!!!", "void OnTick() {}")
