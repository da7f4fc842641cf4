"""The real toolchain: the command lines and files it hands to MetaTrader, and its refusals.

MetaEditor and the terminal are Windows programs that cannot run here; what is tested is
everything up to starting them, and how their outputs are judged.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path, PureWindowsPath

import pytest
from tnm_desktop.ea import winproc
from tnm_desktop.ea.config_files import set_file_text, startup_config, strategy_tester_config
from tnm_desktop.ea.metaeditor import NO_EX5_NOTE, MetaEditor, compile_result, metaeditor_command
from tnm_desktop.ea.port import EaInput, ReportFormat, RunRequest, TestRequest, TickModel
from tnm_desktop.ea.real import RealToolchain
from tnm_desktop.ea.tester import Terminal, find_data_dir, terminal_command
from tnm_desktop.errors import OperationalError, UserError

INSTALL = PureWindowsPath(r"C:\Program Files\MetaTrader 5")
DATA = PureWindowsPath(r"C:\Users\Jane Trader\AppData\Roaming\MetaQuotes\Terminal\D0E8209F77C8CF37AD8BF550E51FF075")
BUILD = PureWindowsPath(r"C:\Users\Jane Trader\AppData\Local\tnm-desktop\ea\build\MA_Cross")


def test_the_metaeditor_command_quotes_each_path_after_its_colon() -> None:
    command = metaeditor_command(INSTALL / "MetaEditor64.exe", BUILD / "MA_Cross.mq5", BUILD / "MA_Cross.log",
                                 DATA / "MQL5")
    assert command == (
        r'"C:\Program Files\MetaTrader 5\MetaEditor64.exe"'
        r' /compile:"C:\Users\Jane Trader\AppData\Local\tnm-desktop\ea\build\MA_Cross\MA_Cross.mq5"'
        r' /log:"C:\Users\Jane Trader\AppData\Local\tnm-desktop\ea\build\MA_Cross\MA_Cross.log"'
        r' /inc:"C:\Users\Jane Trader\AppData\Roaming\MetaQuotes\Terminal\D0E8209F77C8CF37AD8BF550E51FF075\MQL5"')


def test_a_portable_metaeditor_without_a_known_data_folder() -> None:
    command = metaeditor_command(PureWindowsPath(r"D:\MT5\metaeditor64.exe"), PureWindowsPath(r"D:\b\x.mq5"),
                                 PureWindowsPath(r"D:\b\x.log"), portable=True)
    assert command == r'"D:\MT5\metaeditor64.exe" /portable /compile:"D:\b\x.mq5" /log:"D:\b\x.log"'


def test_the_terminal_command_starts_it_with_a_config_file() -> None:
    config = PureWindowsPath(r"C:\Users\Jane Trader\AppData\Local\tnm-desktop\ea\run\tester-MA_Cross.ini")
    assert terminal_command(INSTALL / "terminal64.exe", config) == (
        r'"C:\Program Files\MetaTrader 5\terminal64.exe"'
        r' /config:"C:\Users\Jane Trader\AppData\Local\tnm-desktop\ea\run\tester-MA_Cross.ini"')
    assert terminal_command(INSTALL / "terminal64.exe", config, portable=True).split(" /")[1] == "portable"


def test_a_path_with_a_double_quote_is_refused() -> None:
    with pytest.raises(OperationalError, match="double quote"):
        metaeditor_command(INSTALL / "MetaEditor64.exe", PureWindowsPath('C:\\a"b\\x.mq5'), BUILD / "x.log")


def test_the_tester_config_runs_one_test_and_closes_the_terminal() -> None:
    request = TestRequest(project="MA Cross", symbol="EURUSD.m", timeframe="h1", date_from=date(2024, 1, 1),
                          date_to=date(2024, 6, 30), deposit=10_000, model=TickModel.REAL_TICKS, currency="USD",
                          leverage=100, inputs=(EaInput("InpFastPeriod", 12), EaInput("InpRiskPercent", 0.5),
                                                EaInput("InpCloseOnOpposite", True), EaInput("InpComment", "cross")))
    text = strategy_tester_config(request, r"reports\TNM\MA_Cross.htm")
    assert text.split("\r\n") == [
        "[Tester]", r"Expert=TNM\MA_Cross", "Symbol=EURUSD.m", "Period=H1", "Optimization=0", "Model=4",
        "FromDate=2024.01.01", "ToDate=2024.06.30", "ForwardMode=0", "Deposit=10000.0", "Currency=USD",
        "Leverage=1:100", "Visual=0", r"Report=reports\TNM\MA_Cross.htm", "ReplaceReport=1", "ShutdownTerminal=1",
        "", "[TesterInputs]", "InpFastPeriod=12", "InpRiskPercent=0.5", "InpCloseOnOpposite=true",
        "InpComment=cross", ""]


@pytest.mark.parametrize(("change", "message"), [
    ({"timeframe": "H7"}, "“H7” is not a timeframe"),
    ({"symbol": "EURUSD\nShutdownTerminal=0"}, "is not a symbol name"),
    ({"date_to": date(2023, 12, 31)}, "must end after it starts"),
    ({"deposit": 0}, "positive amount"),
    ({"currency": "dollars"}, "not a currency code"),
    ({"inputs": (EaInput("Inp Risk", 1),)}, "not the name of an input"),
    ({"inputs": (EaInput("InpComment", "a\nb"),)}, "line break"),
])
def test_a_test_request_that_would_corrupt_the_config_is_refused(change: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"project": "MA Cross", "symbol": "EURUSD", "timeframe": "H1",
                                 "date_from": date(2024, 1, 1), "date_to": date(2024, 2, 1), "deposit": 1000.0}
    values.update(change)
    with pytest.raises(UserError, match=message):
        strategy_tester_config(TestRequest(**values), "r.htm")  # type: ignore[arg-type]


def test_the_startup_config_opens_a_chart_with_the_expert_and_its_inputs() -> None:
    request = RunRequest("MA Cross", "GBPUSD", "M15", (EaInput("InpRiskPercent", 1.25),))
    assert startup_config(request, "TNM_MA_Cross.set").split("\r\n") == [
        "[StartUp]", r"Expert=TNM\MA_Cross", "ExpertParameters=TNM_MA_Cross.set", "Symbol=GBPUSD", "Period=M15", ""]
    assert set_file_text(request.inputs).split("\r\n")[1:] == ["InpRiskPercent=1.25", ""]


def test_success_is_judged_by_the_log_and_the_ex5_not_by_the_exit_code(tmp_path: Path) -> None:
    ex5 = tmp_path / "x.ex5"
    warnings_only = "x.mq5(3,4) : warning 43: possible loss of data\r\nResult: 0 errors, 1 warnings, 9 msec elapsed\r\n"
    assert not compile_result("X", warnings_only, ex5).success  # no .ex5 was written
    assert NO_EX5_NOTE in compile_result("X", warnings_only, ex5).log
    ex5.write_bytes(b"EX5\x00compiled")
    result = compile_result("X", warnings_only, ex5)
    assert (result.success, result.artefact, result.warnings) == (True, ex5, 1)
    failed = compile_result("X", "x.mq5(3,4) : error 256: 'a' - undeclared identifier\r\nResult: 1 errors, 0 warnings",
                            ex5)
    assert (failed.success, failed.artefact, failed.errors) == (False, None, 1)
    assert not compile_result("X", "", ex5).success  # a log without its Result line


def test_data_folder_found_through_origin_txt(tmp_path: Path) -> None:
    install = tmp_path / "Program Files" / "MetaTrader 5"
    install.mkdir(parents=True)
    for instance, origin in (("AAAA", tmp_path / "Other"), ("D0E8", install)):
        folder = tmp_path / "AppData" / "MetaQuotes" / "Terminal" / instance
        (folder / "MQL5").mkdir(parents=True)
        (folder / "origin.txt").write_bytes(b"\xff\xfe" + (str(origin) + "\\").upper().encode("utf-16-le"))
    found = find_data_dir(install, portable=False, appdata=tmp_path / "AppData")
    assert found == tmp_path / "AppData" / "MetaQuotes" / "Terminal" / "D0E8"
    assert find_data_dir(install, portable=True, appdata=tmp_path / "AppData") == install
    assert find_data_dir(tmp_path / "Elsewhere", portable=False, appdata=tmp_path / "AppData") is None


def real_toolchain(tmp_path: Path, *, create: bool) -> RealToolchain:
    install = tmp_path / "MetaTrader 5"
    if create:
        install.mkdir()
        for name in ("terminal64.exe", "MetaEditor64.exe"):
            (install / name).write_bytes(b"MZ")
    return RealToolchain(MetaEditor(install / "MetaEditor64.exe"), Terminal(install / "terminal64.exe", None),
                         tmp_path / "work")


def test_missing_executables_are_named_in_the_refusal(tmp_path: Path) -> None:
    toolchain = real_toolchain(tmp_path, create=False)
    with pytest.raises(OperationalError, match=r"MetaEditor was not found at .*MetaEditor64\.exe") as raised:
        toolchain.compile("MA Cross", "void OnTick() {}")
    assert raised.value.code == "ea_metaeditor_missing"
    for call in (lambda: toolchain.deploy("MA Cross"), lambda: toolchain.run(RunRequest("MA Cross", "EURUSD", "H1")),
                 lambda: toolchain.stop("MA Cross"),
                 lambda: toolchain.test(TestRequest("MA Cross", "EURUSD", "H1", date(2024, 1, 1), date(2024, 2, 1),
                                                    1000.0, report_format=ReportFormat.XML))):
        with pytest.raises(OperationalError, match=r"terminal was not found at .*terminal64\.exe"):
            call()


def test_the_real_programs_are_refused_outside_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pin the platform: the refusal must read the same whichever machine runs this test.
    monkeypatch.setattr(sys, "platform", "linux")
    toolchain = real_toolchain(tmp_path, create=True)
    with pytest.raises(OperationalError, match="MetaEditor runs only on Windows, and this computer runs linux"):
        toolchain.compile("MA Cross", "void OnTick() {}")
    with pytest.raises(OperationalError, match="terminal runs only on Windows"):
        toolchain.deploy("MA Cross")
    with pytest.raises(OperationalError, match="only on Windows"):
        winproc.run_to_end('"x.exe"', timeout=1, program="x")
    assert not (tmp_path / "work" / "build").exists() or not any((tmp_path / "work" / "build").rglob("*.log"))


def test_a_terminal_without_a_known_data_folder_says_how_to_set_it(tmp_path: Path) -> None:
    terminal = Terminal(tmp_path / "terminal64.exe", None)
    with pytest.raises(OperationalError, match="Cannot find the data folder") as raised:
        terminal.require_data_dir()
    assert raised.value.code == "ea_data_folder"
