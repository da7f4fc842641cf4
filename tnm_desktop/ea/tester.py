"""The terminal's command line: the Strategy Tester run from a configuration file.

``terminal64.exe /config:"<tester.ini>"`` starts the terminal, which runs the test its
``[Tester]`` section describes, writes the report named by ``Report`` into its data folder and,
with ``ShutdownTerminal=1``, closes. The report's extension picks HTML (``.htm``) or XML.

Where the data folder is: with ``/portable`` it is the installation folder; otherwise it is
``%APPDATA%\\MetaQuotes\\Terminal\\<id>``, the one whose ``origin.txt`` (UTF-16) names the
installation folder. A terminal that is already running from the installation ignores the
configuration file, so the test produces no report: the error then says to close it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePath

from tnm_desktop.ea.config_files import (
    EXPERTS_SUBFOLDER,
    check_test_request,
    decode_text,
    project_stem,
    strategy_tester_config,
    write_utf16,
)
from tnm_desktop.ea.port import TestReport, TestRequest
from tnm_desktop.ea.report import parse_report
from tnm_desktop.ea.winproc import quote, require_windows, run_to_end, switch
from tnm_desktop.errors import OperationalError, UserError


def terminal_command(terminal: PurePath, config: PurePath, *, portable: bool = False) -> str:
    """Return the command line that starts the terminal with a configuration file."""
    parts = [quote(terminal)]
    if portable:
        parts.append("/portable")
    parts.append(switch("config", config))
    return " ".join(parts)


def _same_folder(a: str, b: str) -> bool:
    # Windows paths: case-insensitive, either separator, trailing separators ignored.
    def norm(path: str) -> str:
        return path.strip().replace("/", "\\").rstrip("\\").casefold()
    return norm(a) == norm(b)


def find_data_dir(install_dir: Path, *, portable: bool, appdata: Path | None = None) -> Path | None:
    """Return the terminal's data folder (the one holding ``MQL5``), or None when it cannot be told.

    Args:
        install_dir: The folder of ``terminal64.exe``.
        portable: Whether the terminal is started with ``/portable``.
        appdata: The user's roaming application data folder (``%APPDATA%`` when None).
    """
    if portable:
        return install_dir
    root = appdata or (Path(os.environ["APPDATA"]) if os.environ.get("APPDATA") else None)
    if root is not None:
        for origin in sorted((root / "MetaQuotes" / "Terminal").glob("*/origin.txt")):
            if _same_folder(decode_text(origin.read_bytes()), str(install_dir)):
                return origin.parent
    # A terminal once started with /portable keeps MQL5 in its own folder.
    return install_dir if (install_dir / "MQL5").is_dir() else None


@dataclass(frozen=True, slots=True)
class Terminal:
    """A MetaTrader 5 terminal installation and its data folder.

    Attributes:
        executable: ``terminal64.exe``.
        data_dir: The data folder (holding ``MQL5``), when known.
        portable: Start the terminal with ``/portable``.
        test_timeout: Seconds a test may take before the terminal is stopped.
    """

    executable: Path
    data_dir: Path | None
    portable: bool = False
    test_timeout: float = 3600.0

    def check_available(self) -> None:
        """Raise an OperationalError saying what is missing when the terminal cannot run here."""
        if not self.executable.is_file():
            raise OperationalError(f"The MetaTrader 5 terminal was not found at {self.executable}. Set the path "
                                   "of terminal64.exe in the agent's settings.", code="ea_terminal_missing")
        require_windows("The MetaTrader 5 terminal")

    def require_data_dir(self) -> Path:
        """Return the data folder, or raise an OperationalError saying how to make it known."""
        if self.data_dir is None or not (self.data_dir / "MQL5").is_dir():
            raise OperationalError(
                f"Cannot find the data folder of the terminal at {self.executable} (the folder with MQL5 in it). "
                "Start that terminal once, or set its data folder (File → Open Data Folder) in the agent's settings.",
                code="ea_data_folder")
        return self.data_dir

    def experts_dir(self) -> Path:
        """Return the folder our experts are deployed to (``MQL5\\Experts\\TNM``)."""
        return self.require_data_dir() / "MQL5" / "Experts" / EXPERTS_SUBFOLDER

    def deployed(self, project: str) -> Path:
        """Return the deployed ``.ex5`` of a project, or raise a UserError asking to deploy it first."""
        path = self.experts_dir() / f"{project_stem(project)}.ex5"
        if not path.is_file():
            raise UserError(f"“{project}” is not deployed to the terminal yet. Compile and deploy it first.",
                            code="ea_not_deployed")
        return path

    def run_test(self, request: TestRequest, config_dir: Path) -> TestReport:
        """Run one test to its end and summarise the report it wrote.

        Raises:
            UserError: The request is invalid, or the expert is not deployed.
            OperationalError: The terminal cannot run here, or wrote no report.
            TransientError: The test did not finish within ``test_timeout``.
        """
        self.check_available()
        check_test_request(request)
        self.deployed(request.project)
        data_dir = self.require_data_dir()
        stem = project_stem(request.project)
        relative = f"reports\\{EXPERTS_SUBFOLDER}\\{stem}.{request.report_format.value}"
        report_path = data_dir / "reports" / EXPERTS_SUBFOLDER / f"{stem}.{request.report_format.value}"
        report_path.parent.mkdir(parents=True, exist_ok=True)  # the tester does not create folders
        report_path.unlink(missing_ok=True)  # a stale report must never pass for this run's
        config_text = strategy_tester_config(request, relative)
        config_path = config_dir / f"tester-{stem}.ini"
        write_utf16(config_path, config_text)
        command = terminal_command(self.executable, config_path, portable=self.portable)
        exit_code = run_to_end(command, timeout=self.test_timeout, program="The Strategy Tester")
        log = f"{command}\r\n\r\n{config_text}\r\nThe terminal exited with code {exit_code}.\r\n"
        if not report_path.is_file():
            raise OperationalError(
                "The Strategy Tester wrote no report. If MetaTrader 5 was already open, close it and try again: "
                "a running terminal ignores a start with a tester configuration. The tester's journal "
                f"({data_dir / 'Tester' / 'logs'}) says more.", code="ea_no_report")
        figures = parse_report(report_path)
        note = ("Figures from the Strategy Tester's report." if figures.recognised else
                "The report's labels were not recognised (is the terminal's language English?); "
                "open the report file to read the results.")
        return TestReport(
            project=request.project, simulated=False, note=note, net_profit=figures.net_profit,
            gross_profit=figures.gross_profit, gross_loss=figures.gross_loss, profit_factor=figures.profit_factor,
            total_trades=figures.total_trades, win_rate=figures.win_rate, max_drawdown=figures.max_drawdown,
            max_drawdown_percent=figures.max_drawdown_percent, sharpe_ratio=figures.sharpe_ratio,
            balance_points=figures.balance_points, report_path=report_path, log=log)
