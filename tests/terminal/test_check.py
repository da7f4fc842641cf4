"""The connection test's parts: the broker's suffix, where MetaTrader 5 is installed, and the
adapter's failures in a trader's words."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tnm_desktop.errors import OperationalError, TransientError
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.check import check_connection, symbol_suffix
from tnm_desktop.terminal.install import find_terminals
from tnm_desktop.terminal.mt5_adapter import Mt5Terminal, initialize_failure
from tnm_desktop.terminal.port import AccountMode, ConnectSettings
from tnm_desktop.terminal.simulator.api import SimulatedMt5


@pytest.mark.parametrize(("names", "suffix"), [
    (["EURUSD.m", "GBPUSD.m", "XAUUSD.m", "US30.cash"], ".m"),
    (["EURUSD", "GBPUSD", "USDJPY"], ""),
    (["EURUSDpro", "GBPUSDpro", "EURUSD.r"], "pro"),
    (["US30", "GER40"], ""),
    ([], ""),
])
def test_the_suffix_is_the_one_most_majors_carry(names: list[str], suffix: str) -> None:
    assert symbol_suffix(names) == suffix


def _terminal(folder: Path) -> Path:
    folder.mkdir(parents=True)
    exe = folder / "terminal64.exe"
    exe.write_bytes(b"MZ")
    return exe


def test_terminals_are_found_where_they_ran_and_where_brokers_install_them(tmp_path: Path) -> None:
    used = _terminal(tmp_path / "Brokers" / "Alpha MetaTrader 5")
    installed = _terminal(tmp_path / "Program Files" / "Beta MetaTrader 5")
    data = tmp_path / "AppData" / "MetaQuotes" / "Terminal"
    (data / "A1").mkdir(parents=True)
    (data / "A1" / "origin.txt").write_bytes("\ufeff".encode("utf-16-le") + str(used.parent).encode("utf-16-le"))
    (data / "B2").mkdir()
    (data / "B2" / "origin.txt").write_text(str(tmp_path / "Uninstalled MT5"), encoding="utf-8")  # gone since
    (data / "C3").mkdir()  # a data folder without origin.txt
    (data / "D4").mkdir()
    (data / "D4" / "origin.txt").write_text(str(installed.parent), encoding="utf-8")  # the same one twice
    os.utime(data / "A1", (2_000_000_000, 2_000_000_000))  # the most recently used
    env = {"APPDATA": str(tmp_path / "AppData"), "ProgramFiles": str(tmp_path / "Program Files")}
    assert find_terminals(env) == [used, installed]
    assert find_terminals({}) == []


def test_the_connection_test_reports_the_account_algo_trading_and_suffix() -> None:
    sim = SimulatedMt5()
    found = check_connection(Mt5Terminal(sim), ConnectSettings(login=51234567, server="TNM-Simulator"))
    assert (found.login, found.server, found.mode, found.live) == (51234567, "TNM-Simulator", AccountMode.DEMO, False)
    assert found.algo_trading and found.connected and found.suffix == ".m" and found.symbols >= 6
    sim.control.set_trade_allowed(False)
    assert not check_connection(Mt5Terminal(sim), ConnectSettings()).algo_trading


def test_a_terminal_that_is_not_running_is_named_in_a_traders_words() -> None:
    sim = SimulatedMt5()
    sim.control.disconnect()
    with pytest.raises(TransientError, match=r"^MetaTrader 5 could not be started where it is installed \(IPC "
                                             r"initialize failed.*Check that MetaTrader 5 \(64-bit\) is installed"):
        check_connection(Mt5Terminal(sim), ConnectSettings())


@pytest.mark.parametrize(("code", "kind", "says"), [
    (mt5.RES_E_AUTH_FAILED, OperationalError, "could not log in to account 7 on Srv"),
    (mt5.RES_E_INTERNAL_FAIL_INIT, TransientError, r"could not be started from C:\MT5\terminal64.exe"),
    (mt5.RES_E_INTERNAL_FAIL_TIMEOUT, TransientError, "did not answer in time"),
    (mt5.RES_E_INVALID_VERSION, OperationalError, "too old for the MetaTrader5 package"),
    (mt5.RES_E_INTERNAL_FAIL_CONNECT, TransientError, "is not running or cannot be reached"),
])
def test_each_initialize_failure_of_the_package_has_its_message(code: int, kind: type[Exception], says: str) -> None:
    settings = ConnectSettings(path=r"C:\MT5\terminal64.exe", login=7, server="Srv")
    error = initialize_failure(settings, code, mt5.ERROR_MESSAGES[code])
    assert isinstance(error, kind)
    assert says in error.message
