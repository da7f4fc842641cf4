"""Compile with MetaEditor's command line and read its log.

``metaeditor64.exe /compile:"<file.mq5>" /log:"<file.log>" /inc:"<MQL5 folder>"`` compiles one file
and writes the ``.ex5`` beside it. Facts the code below relies on, as tools that drive MetaEditor
have recorded them:

* the exit code means nothing (1 after a clean compile, 0 after a failed one or a command line
  it did not understand), so success is read from the log and the ``.ex5`` on disk;
* a failed compile deletes an older ``.ex5`` but not always, so we delete it before compiling;
* ``/inc`` *replaces* the include root: it must name a data folder's ``MQL5`` folder (whose
  ``Include`` holds ``Trade\\Trade.mqh``), not the ``Include`` folder itself;
* ``/portable`` makes MetaEditor use its installation folder as the data folder.

The source is written as UTF-16 LE with a byte-order mark, MetaEditor's own file format, so
non-ASCII text in string literals survives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePath

from tnm_desktop.ea.compile_log import parse_compile_log, read_log
from tnm_desktop.ea.config_files import project_stem, write_utf16
from tnm_desktop.ea.port import CompileResult
from tnm_desktop.ea.winproc import quote, require_windows, run_to_end, switch
from tnm_desktop.errors import OperationalError

NO_EX5_NOTE = "TNM Desktop: MetaEditor reported no errors but wrote no .ex5 file; the compile did not succeed."


def metaeditor_command(editor: PurePath, source: PurePath, log: PurePath, include: PurePath | None = None,
                       *, portable: bool = False) -> str:
    """Return the command line that compiles ``source`` and writes its log to ``log``.

    Args:
        editor: ``metaeditor64.exe``.
        source: The ``.mq5`` file.
        log: Where MetaEditor writes its log.
        include: The data folder's ``MQL5`` folder, when known (else MetaEditor's own is used).
        portable: Start MetaEditor in portable mode (its installation folder is the data folder).
    """
    parts = [quote(editor)]
    if portable:
        parts.append("/portable")
    parts += [switch("compile", source), switch("log", log)]
    if include is not None:
        parts.append(switch("inc", include))
    return " ".join(parts)


@dataclass(frozen=True, slots=True)
class MetaEditor:
    """MetaEditor as installed with a terminal.

    Attributes:
        executable: ``metaeditor64.exe``.
        mql5_dir: The terminal data folder's ``MQL5`` folder (for ``/inc``), when known.
        portable: Whether the terminal runs in portable mode.
        timeout: Seconds a compile may take before it is stopped.
    """

    executable: Path
    mql5_dir: Path | None = None
    portable: bool = False
    timeout: float = 120.0

    def check_available(self) -> None:
        """Raise an OperationalError saying what is missing when MetaEditor cannot run here."""
        if not self.executable.is_file():
            raise OperationalError(f"MetaEditor was not found at {self.executable}. Set the path of "
                                   "metaeditor64.exe (it sits beside terminal64.exe) in the agent's settings.",
                                   code="ea_metaeditor_missing")
        require_windows("MetaEditor")

    def compile(self, project: str, source: str, build_root: Path) -> CompileResult:
        """Write ``source`` to ``build_root/<name>/<name>.mq5``, compile it and read the outcome.

        Raises:
            OperationalError: MetaEditor cannot run here, or wrote no log at all.
            TransientError: It did not finish in time.
        """
        self.check_available()
        stem = project_stem(project)
        folder = build_root / stem
        source_path, log_path, ex5_path = (folder / f"{stem}{ext}" for ext in (".mq5", ".log", ".ex5"))
        write_utf16(source_path, source)
        for stale in (log_path, ex5_path):
            stale.unlink(missing_ok=True)
        command = metaeditor_command(self.executable, source_path, log_path, self.mql5_dir, portable=self.portable)
        exit_code = run_to_end(command, timeout=self.timeout, program="MetaEditor")
        if not log_path.is_file():
            raise OperationalError(f"MetaEditor wrote no compile log (exit code {exit_code}). Check that "
                                   f"{self.executable} is MetaTrader 5's metaeditor64.exe.", code="ea_no_log")
        return compile_result(project, read_log(log_path), ex5_path)


def compile_result(project: str, log_text: str, ex5_path: Path, *, simulated: bool = False) -> CompileResult:
    """Judge a compile by its log and by the ``.ex5`` it should have left behind."""
    parsed = parse_compile_log(log_text)
    artefact = ex5_path if ex5_path.is_file() and ex5_path.stat().st_size > 0 else None
    success = parsed.has_result and parsed.errors == 0 and artefact is not None
    text = parsed.text
    if parsed.errors == 0 and artefact is None:
        text = text.rstrip("\r\n") + "\r\n" + NO_EX5_NOTE + "\r\n"
    return CompileResult(project=project, success=success, diagnostics=parsed.diagnostics, errors=parsed.errors,
                         warnings=parsed.warnings, log=text, artefact=artefact if success else None,
                         simulated=simulated, elapsed_ms=parsed.elapsed_ms)
