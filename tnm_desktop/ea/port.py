"""The EA toolchain port: compile, deploy, run, stop and test an MQL5 Expert Advisor.

Two adapters implement :class:`EaToolchain`. The real one drives MetaEditor's and the terminal's
command lines (Windows only) and parses what they write. The simulated one, for machines without
MetaTrader, checks the source itself and says in every result that nothing of MetaTrader ran.
Every method blocks (subprocesses, file copies): callers run them in a worker thread.

What ``run`` and ``stop`` can really do. MetaTrader 5 has no interface for attaching an Expert
Advisor to a chart of an already running terminal from outside. The documented route is to start
the terminal with ``/config:<file>`` whose ``[StartUp]`` section names the expert, its inputs (a
``.set`` file), the symbol and the period: the terminal opens that chart with the expert on it.
So ``run`` starts a terminal that way, and ``stop`` closes the terminal it started. The limits:

* a terminal already running from the same installation ignores the config file and only comes to
  the front, so it must be closed before ``run`` (the agent's own connection reconnects later);
* the terminal remembers open charts in its profile, so the chart may reopen with the expert the
  next time the trader starts MetaTrader by hand; removing it there is the trader's choice;
* whether the expert may trade is the terminal's "Algo Trading" switch, which stays the trader's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any, Protocol

SIMULATED_COMPILER = "Simulated compiler — MetaEditor was not run"
SIMULATED_TERMINAL = "Simulated terminal — MetaTrader 5 was not started"
SIMULATED_TESTER = "Simulated tester — no MQL5 was executed"

InputValue = bool | int | float | str


class ToolchainKind(StrEnum):
    """Which adapter a toolchain is."""

    REAL = "real"
    SIMULATED = "simulated"


class Severity(StrEnum):
    """How bad a compiler message is."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One compiler message, positioned as MetaEditor positions it (1-based line and column)."""

    file: str
    line: int
    column: int
    code: int | None
    severity: Severity
    message: str

    def to_json(self) -> dict[str, Any]:
        """Return the shape a compile job's ``result["diagnostics"]`` carries."""
        return {"file": self.file, "line": self.line, "column": self.column,
                "code": "" if self.code is None else str(self.code),
                "severity": self.severity.value, "message": self.message}


@dataclass(frozen=True, slots=True)
class CompileResult:
    """What one compile produced.

    Attributes:
        project: The project name the caller gave.
        success: True only when there were no errors and the ``.ex5`` exists.
        diagnostics: Errors and warnings, in the order the compiler wrote them.
        errors: The error count (from the log's ``Result:`` line when there is one).
        warnings: The warning count, likewise.
        log: The whole compile log, as the compiler wrote it.
        artefact: The compiled ``.ex5``, or None.
        simulated: True when MetaEditor did not run.
        elapsed_ms: The compile time the log reports, if any.
    """

    project: str
    success: bool
    diagnostics: tuple[Diagnostic, ...]
    errors: int
    warnings: int
    log: str
    artefact: Path | None
    simulated: bool
    elapsed_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the job result EA Studio reads (``log`` and ``diagnostics`` among it)."""
        return {"project": self.project, "success": self.success, "errors": self.errors,
                "warnings": self.warnings, "log": self.log, "simulated": self.simulated,
                "artefact": str(self.artefact) if self.artefact else None, "elapsed_ms": self.elapsed_ms,
                "diagnostics": [d.to_json() for d in self.diagnostics]}


@dataclass(frozen=True, slots=True)
class EaInput:
    """One ``input`` variable of the expert and the value to give it."""

    name: str
    value: InputValue


@dataclass(frozen=True, slots=True)
class DeployResult:
    """Where the compiled expert was put.

    Attributes:
        expert: The expert's name as the terminal knows it (relative to ``MQL5\\Experts``).
        destination: The ``.ex5`` file in the terminal's (or the simulation's) Experts folder.
    """

    project: str
    expert: str
    destination: Path
    simulated: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        """Return the job result."""
        return {"project": self.project, "expert": self.expert, "destination": str(self.destination),
                "simulated": self.simulated, "log": self.message}


@dataclass(frozen=True, slots=True)
class RunRequest:
    """Put a deployed expert on a chart (see the module notes for what that really means)."""

    project: str
    symbol: str
    timeframe: str
    inputs: tuple[EaInput, ...] = ()


@dataclass(frozen=True, slots=True)
class RunResult:
    """What ``run`` did.

    Attributes:
        started: Whether a terminal was really started with the expert (never when simulated).
        config_path: The ``[StartUp]`` file written for the terminal.
        process_id: The started terminal's process id, when one was started.
    """

    project: str
    symbol: str
    timeframe: str
    started: bool
    simulated: bool
    message: str
    config_path: Path | None = None
    process_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the job result."""
        return {"project": self.project, "symbol": self.symbol, "timeframe": self.timeframe,
                "started": self.started, "simulated": self.simulated, "log": self.message,
                "config_path": str(self.config_path) if self.config_path else None,
                "process_id": self.process_id}


@dataclass(frozen=True, slots=True)
class StopResult:
    """What ``stop`` did (``stopped`` is False when nothing of ours ran, and always when simulated)."""

    project: str
    stopped: bool
    simulated: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        """Return the job result."""
        return {"project": self.project, "stopped": self.stopped, "simulated": self.simulated,
                "log": self.message}


class TickModel(IntEnum):
    """How the Strategy Tester generates ticks (the ``[Tester] Model`` values)."""

    EVERY_TICK = 0
    OHLC_M1 = 1
    OPEN_PRICES = 2
    MATH = 3
    REAL_TICKS = 4


class ReportFormat(StrEnum):
    """The report file the tester writes; the ``Report`` extension chooses it."""

    HTML = "htm"
    XML = "xml"


@dataclass(frozen=True, slots=True)
class TestRequest:
    """One Strategy Tester run of a deployed expert.

    Attributes:
        date_from: First day of the test (inclusive).
        date_to: Last day of the test.
        deposit: The initial deposit, in ``currency`` (the account's when None).
        leverage: ``100`` means 1:100; None keeps the tester's default.
    """

    __test__ = False  # a request, not a pytest test class

    project: str
    symbol: str
    timeframe: str
    date_from: date
    date_to: date
    deposit: float
    inputs: tuple[EaInput, ...] = ()
    model: TickModel = TickModel.OHLC_M1
    currency: str | None = None
    leverage: int | None = None
    report_format: ReportFormat = ReportFormat.HTML


@dataclass(frozen=True, slots=True)
class BalancePoint:
    """The balance after one deal, as the report's Deals table lists it (trade-server time)."""

    time: datetime
    balance: float


@dataclass(frozen=True, slots=True)
class TestReport:
    """The summary of a Strategy Tester run. A figure is None when the report does not give it.

    Attributes:
        note: What the figures are (or why there are none).
        win_rate: Profit trades as a percentage of all trades.
        max_drawdown: The maximal equity drawdown in money (balance drawdown when absent).
        max_drawdown_percent: The same drawdown as a percentage.
        balance_points: The balance after each deal. MetaTrader draws the equity curve as an
            image only; the Deals table is the curve's data the report does contain.
        report_path: The report file the tester wrote.
        log: What was run, for the job's output.
    """

    __test__ = False  # a report, not a pytest test class

    project: str
    simulated: bool
    note: str
    net_profit: float | None = None
    gross_profit: float | None = None
    gross_loss: float | None = None
    profit_factor: float | None = None
    total_trades: int | None = None
    win_rate: float | None = None
    max_drawdown: float | None = None
    max_drawdown_percent: float | None = None
    sharpe_ratio: float | None = None
    balance_points: tuple[BalancePoint, ...] = ()
    report_path: Path | None = None
    log: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the job result."""
        return {"project": self.project, "simulated": self.simulated, "note": self.note,
                "net_profit": self.net_profit, "gross_profit": self.gross_profit,
                "gross_loss": self.gross_loss, "profit_factor": self.profit_factor,
                "total_trades": self.total_trades, "win_rate": self.win_rate,
                "max_drawdown": self.max_drawdown, "max_drawdown_percent": self.max_drawdown_percent,
                "sharpe_ratio": self.sharpe_ratio,
                "balance_points": [[p.time.isoformat(), p.balance] for p in self.balance_points],
                "report_path": str(self.report_path) if self.report_path else None, "log": self.log}


class EaToolchain(Protocol):
    """Build, place, start, stop and test Expert Advisors. Every method blocks.

    Errors: :class:`~tnm_desktop.errors.UserError` for a request the user can fix (unknown
    timeframe, nothing deployed yet); :class:`~tnm_desktop.errors.OperationalError` when the tools
    cannot run here (not Windows, executable missing); :class:`~tnm_desktop.errors.TransientError`
    when a tool did not finish in time. A source with errors is not an exception: it is a
    :class:`CompileResult` with ``success`` False.
    """

    @property
    def kind(self) -> ToolchainKind:
        """Say whether this is the real or the simulated toolchain."""
        ...

    @property
    def description(self) -> str:
        """Describe, in a sentence for the trader, what this toolchain drives."""
        ...

    def compile(self, project: str, source: str) -> CompileResult:
        """Compile one MQL5 source file of an Expert Advisor."""
        ...

    def deploy(self, project: str) -> DeployResult:
        """Copy the project's last compiled ``.ex5`` into the terminal's ``MQL5\\Experts`` folder."""
        ...

    def run(self, request: RunRequest) -> RunResult:
        """Start a terminal with the deployed expert on a chart."""
        ...

    def stop(self, project: str) -> StopResult:
        """Close the terminal that ``run`` started for the project."""
        ...

    def test(self, request: TestRequest) -> TestReport:
        """Run the deployed expert in the Strategy Tester and summarise its report."""
        ...
