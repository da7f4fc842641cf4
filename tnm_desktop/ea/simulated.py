"""The simulated toolchain, for computers without MetaTrader 5 (Linux, the local workspace, tests).

Nothing here pretends. Compiling runs the MQL5 checker of :mod:`tnm_desktop.ea.checker` and
writes its findings as a MetaEditor log (UTF-16, the same lines, read back by the same parser),
headed ``Simulated compiler — MetaEditor was not run``. A clean check leaves a placeholder
``.ex5`` that says what it is. Deploy, run and stop work on a simulated terminal folder under
the working directory and write the very configuration files the real toolchain would hand to
MetaTrader, so the trader sees what would happen; nothing is started. A test writes the tester
configuration and returns a report with no figures, because no MQL5 was executed.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from tnm_desktop.ea.checker import check_source
from tnm_desktop.ea.compile_log import format_diagnostic, format_result, read_log
from tnm_desktop.ea.config_files import (
    EXPERTS_SUBFOLDER,
    check_inputs,
    check_symbol,
    check_test_request,
    check_timeframe,
    expert_name,
    project_stem,
    set_file_text,
    startup_config,
    strategy_tester_config,
    write_utf16,
)
from tnm_desktop.ea.metaeditor import compile_result
from tnm_desktop.ea.port import (
    SIMULATED_COMPILER,
    SIMULATED_TERMINAL,
    SIMULATED_TESTER,
    CompileResult,
    DeployResult,
    RunRequest,
    RunResult,
    StopResult,
    TestReport,
    TestRequest,
    ToolchainKind,
)
from tnm_desktop.errors import UserError

PLACEHOLDER_EX5 = (f"{SIMULATED_COMPILER}.\r\nThis file is a placeholder written by TNM Desktop's simulated "
                   "compiler after a clean check. It is not an MQL5 program and MetaTrader 5 cannot load it.\r\n")
NO_FIGURES = ("The Strategy Tester of MetaTrader 5 did not run on this computer, so there are no results: no "
              "profit, trades or drawdown are shown rather than invented ones. Run the test on an agent on "
              "Windows with MetaTrader 5 to get them.")


class SimulatedToolchain:
    """Check, and show what would be done, without MetaTrader 5."""

    def __init__(self, workdir: Path, *, reason: str = "") -> None:
        """Keep builds and the simulated terminal folder under ``workdir``.

        Args:
            workdir: A folder of TNM Desktop's own.
            reason: Why the real toolchain is not used (shown in :attr:`description`).
        """
        self.workdir = workdir
        self.reason = reason

    @property
    def kind(self) -> ToolchainKind:
        """Say this is the simulated toolchain."""
        return ToolchainKind.SIMULATED

    @property
    def description(self) -> str:
        """Say plainly that MetaTrader is not used, and why."""
        why = f" ({self.reason})" if self.reason else ""
        return f"Simulated toolchain: MetaEditor and MetaTrader 5 are not used on this computer{why}"

    def terminal_dir(self) -> Path:
        """Return the simulated terminal data folder (it holds ``MQL5``)."""
        return self.workdir / "simulated-terminal"

    def compile(self, project: str, source: str) -> CompileResult:
        """Check the source and write a MetaEditor-format log of the findings."""
        stem = project_stem(project)
        folder = self.workdir / "build" / stem
        source_path, log_path, ex5_path = (folder / f"{stem}{ext}" for ext in (".mq5", ".log", ".ex5"))
        write_utf16(source_path, source)
        ex5_path.unlink(missing_ok=True)
        started = time.perf_counter()
        checked = check_source(source, str(source_path))
        elapsed = round((time.perf_counter() - started) * 1000)
        lines = [SIMULATED_COMPILER, f"{source_path} : information: compiling {source_path}"]
        lines += [f"{source_path} : information: {note}" for note in checked.notes]
        lines += [format_diagnostic(d) for d in checked.diagnostics]
        lines.append(format_result(checked.errors, checked.warnings, elapsed))
        write_utf16(log_path, "\r\n".join(lines) + "\r\n")
        if checked.errors == 0:
            ex5_path.write_bytes(PLACEHOLDER_EX5.encode("utf-8"))
        return compile_result(project, read_log(log_path), ex5_path, simulated=True)

    def deploy(self, project: str) -> DeployResult:
        """Copy the placeholder build into the simulated terminal's ``MQL5\\Experts\\TNM``."""
        stem = project_stem(project)
        built = self.workdir / "build" / stem / f"{stem}.ex5"
        if not built.is_file():
            raise UserError(f"“{project}” has no build yet. Compile it without errors first.", code="ea_not_compiled")
        destination = self._deployed_path(project)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, destination)
        return DeployResult(project=project, expert=expert_name(project), destination=destination, simulated=True,
                            message=f"{SIMULATED_TERMINAL}. The build was copied into the simulated terminal folder "
                                    f"({destination}). With MetaTrader 5 the compiled .ex5 would be copied to "
                                    f"MQL5\\Experts\\{EXPERTS_SUBFOLDER}\\{stem}.ex5 in the terminal's data folder.")

    def run(self, request: RunRequest) -> RunResult:
        """Write the start-up configuration MetaTrader would be given; start nothing."""
        check_symbol(request.symbol)
        timeframe = check_timeframe(request.timeframe)
        check_inputs(request.inputs)
        self._require_deployed(request.project)
        stem = project_stem(request.project)
        set_name = None
        if request.inputs:
            set_name = f"TNM_{stem}.set"
            write_utf16(self.terminal_dir() / "MQL5" / "Presets" / set_name, set_file_text(request.inputs))
        config_path = self.workdir / "run" / f"start-{stem}.ini"
        config_text = startup_config(request, set_name)
        write_utf16(config_path, config_text)
        runs = self._runs()
        runs[stem] = {"symbol": request.symbol, "timeframe": timeframe, "at": datetime.now(UTC).isoformat()}
        self._save_runs(runs)
        return RunResult(project=request.project, symbol=request.symbol, timeframe=timeframe, started=False,
                         simulated=True, config_path=config_path,
                         message=f"{SIMULATED_TERMINAL}; nothing was started. With MetaTrader 5, the terminal would "
                                 f"be started with /config:\"{config_path}\" to open {request.symbol} {timeframe} "
                                 f"with {expert_name(request.project)} on the chart:\r\n{config_text}")

    def stop(self, project: str) -> StopResult:
        """Forget the simulated run; say what stopping would do."""
        stem = project_stem(project)
        runs = self._runs()
        if runs.pop(stem, None) is None:
            return StopResult(project, stopped=False, simulated=True,
                              message=f"{SIMULATED_TERMINAL}. {project} was not run, so there is nothing to stop.")
        self._save_runs(runs)
        return StopResult(project, stopped=False, simulated=True,
                          message=f"{SIMULATED_TERMINAL}; nothing was running. With MetaTrader 5 the terminal "
                                  f"started for {project} would now be closed, which removes it from its chart.")

    def test(self, request: TestRequest) -> TestReport:
        """Write the tester configuration MetaTrader would be given; report no figures."""
        check_test_request(request)
        self._require_deployed(request.project)
        stem = project_stem(request.project)
        report = f"reports\\{EXPERTS_SUBFOLDER}\\{stem}.{request.report_format.value}"
        config_text = strategy_tester_config(request, report)
        config_path = self.workdir / "run" / f"tester-{stem}.ini"
        write_utf16(config_path, config_text)
        return TestReport(project=request.project, simulated=True, note=f"{SIMULATED_TESTER}. {NO_FIGURES}",
                          log=f"{SIMULATED_TESTER}. The terminal would be started with /config:\"{config_path}\":"
                              f"\r\n{config_text}")

    def _deployed_path(self, project: str) -> Path:
        return self.terminal_dir() / "MQL5" / "Experts" / EXPERTS_SUBFOLDER / f"{project_stem(project)}.ex5"

    def _require_deployed(self, project: str) -> None:
        if not self._deployed_path(project).is_file():
            raise UserError(f"“{project}” is not deployed yet. Compile and deploy it first.", code="ea_not_deployed")

    def _runs(self) -> dict[str, object]:
        try:
            loaded = json.loads((self.workdir / "run" / "simulated-runs.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _save_runs(self, runs: dict[str, object]) -> None:
        path = self.workdir / "run" / "simulated-runs.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(runs, indent=2, sort_keys=True), encoding="utf-8")
