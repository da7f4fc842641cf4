"""The real toolchain: MetaEditor compiles, the terminal runs and tests (Windows only).

Sources are built in a folder of our own (``<workdir>/build/<name>``), never in the terminal's,
so a failed compile cannot disturb a deployed expert; ``deploy`` then copies the ``.ex5`` into
``MQL5\\Experts\\TNM``. ``run`` and ``stop`` follow the model in :mod:`tnm_desktop.ea.port`; the
terminals ``run`` started are remembered in ``<workdir>/run/started.json`` so that ``stop`` works
after the agent restarts.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from tnm_desktop.ea.config_files import (
    check_inputs,
    check_symbol,
    check_timeframe,
    expert_name,
    project_stem,
    set_file_text,
    startup_config,
    write_utf16,
)
from tnm_desktop.ea.metaeditor import MetaEditor
from tnm_desktop.ea.port import (
    CompileResult,
    DeployResult,
    RunRequest,
    RunResult,
    StopResult,
    TestReport,
    TestRequest,
    ToolchainKind,
)
from tnm_desktop.ea.tester import Terminal, terminal_command
from tnm_desktop.ea.winproc import close_process, image_of, start_detached
from tnm_desktop.errors import UserError

RUN_LIMITS = ("MetaTrader may reopen this chart with the expert the next time it is started by hand (it keeps "
              "open charts in its profile), and the expert trades only while the terminal's Algo Trading is on.")


class RealToolchain:
    """Drive MetaEditor and the MetaTrader 5 terminal on this Windows machine."""

    def __init__(self, editor: MetaEditor, terminal: Terminal, workdir: Path, *, close_wait: float = 30.0) -> None:
        """Use these programs; keep builds and run records under ``workdir``.

        Args:
            editor: MetaEditor, with the data folder's ``MQL5`` as its include root.
            terminal: The terminal that deploys, runs and tests.
            workdir: A folder of TNM Desktop's own.
            close_wait: Seconds ``stop`` waits for the terminal to close before ending it.
        """
        self.editor = editor
        self.terminal = terminal
        self.workdir = workdir
        self.close_wait = close_wait

    @property
    def kind(self) -> ToolchainKind:
        """Say this is the real toolchain."""
        return ToolchainKind.REAL

    @property
    def description(self) -> str:
        """Describe the programs this toolchain drives."""
        return f"MetaTrader 5 at {self.terminal.executable.parent} (MetaEditor and the Strategy Tester)"

    def compile(self, project: str, source: str) -> CompileResult:
        """Compile with MetaEditor (see :meth:`MetaEditor.compile`)."""
        return self.editor.compile(project, source, self.workdir / "build")

    def deploy(self, project: str) -> DeployResult:
        """Copy the last successful build into ``MQL5\\Experts\\TNM`` of the terminal's data folder."""
        self.terminal.check_available()
        stem = project_stem(project)
        built = self.workdir / "build" / stem / f"{stem}.ex5"
        if not built.is_file():
            raise UserError(f"“{project}” has no compiled .ex5 yet. Compile it without errors first.",
                            code="ea_not_compiled")
        destination = self.terminal.experts_dir() / f"{stem}.ex5"
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, destination)
        return DeployResult(project=project, expert=expert_name(project), destination=destination, simulated=False,
                            message=f"Copied {built} to {destination}. The terminal lists it under Experts → "
                                    f"TNM as {stem}.")

    def run(self, request: RunRequest) -> RunResult:
        """Start the terminal with the deployed expert on a chart of ``symbol``/``timeframe``."""
        self.terminal.check_available()
        check_symbol(request.symbol)
        timeframe = check_timeframe(request.timeframe)
        check_inputs(request.inputs)
        self.terminal.deployed(request.project)
        stem = project_stem(request.project)
        set_name = None
        if request.inputs:
            set_name = f"TNM_{stem}.set"
            write_utf16(self.terminal.require_data_dir() / "MQL5" / "Presets" / set_name, set_file_text(request.inputs))
        config_path = self.workdir / "run" / f"start-{stem}.ini"
        write_utf16(config_path, startup_config(request, set_name))
        command = terminal_command(self.terminal.executable, config_path, portable=self.terminal.portable)
        pid = start_detached(command, program="The MetaTrader 5 terminal")
        self._remember(stem, {"pid": pid, "symbol": request.symbol, "timeframe": timeframe,
                              "started_at": datetime.now(UTC).isoformat()})
        return RunResult(project=request.project, symbol=request.symbol, timeframe=timeframe, started=True,
                         simulated=False, config_path=config_path, process_id=pid,
                         message=f"Started {command} (process {pid}) to open {request.symbol} {timeframe} with "
                                 f"{expert_name(request.project)}. If MetaTrader 5 was already open, it ignored "
                                 f"this start: close it and run again. {RUN_LIMITS}")

    def stop(self, project: str) -> StopResult:
        """Close the terminal that :meth:`run` started for the project (forcing it after ``close_wait``)."""
        self.terminal.check_available()
        stem = project_stem(project)
        record = self._started().get(stem)
        if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
            return StopResult(project, stopped=False, simulated=False,
                              message=f"TNM Desktop did not start {project} on this computer. To stop it, remove it "
                                      "from its chart in MetaTrader 5 (right-click the chart → Expert list → Remove).")
        pid = int(record["pid"])
        if (image_of(pid) or "").casefold() != self.terminal.executable.name.casefold():
            self._forget(stem)
            return StopResult(project, stopped=False, simulated=False,
                              message=f"The terminal started for {project} (process {pid}) has already closed.")
        close_process(pid, force=False)
        deadline = time.monotonic() + self.close_wait
        while image_of(pid) is not None and time.monotonic() < deadline:
            time.sleep(1.0)
        forced = image_of(pid) is not None
        if forced:
            close_process(pid, force=True)
        self._forget(stem)
        how = "It did not close in time and was ended." if forced else "It closed normally."
        return StopResult(project, stopped=True, simulated=False,
                          message=f"Closed the terminal (process {pid}) running {project}. {how} {RUN_LIMITS}")

    def test(self, request: TestRequest) -> TestReport:
        """Run the Strategy Tester (see :meth:`Terminal.run_test`)."""
        return self.terminal.run_test(request, self.workdir / "run")

    def _state_path(self) -> Path:
        return self.workdir / "run" / "started.json"

    def _started(self) -> dict[str, object]:
        try:
            loaded = json.loads(self._state_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _remember(self, stem: str, record: dict[str, object]) -> None:
        started = self._started()
        started[stem] = record
        self._write_state(started)

    def _forget(self, stem: str) -> None:
        started = self._started()
        started.pop(stem, None)
        self._write_state(started)

    def _write_state(self, started: dict[str, object]) -> None:
        path = self._state_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(started, indent=2, sort_keys=True), encoding="utf-8")
        temporary.replace(path)  # never leave a half-written record behind
