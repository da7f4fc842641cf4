"""The log a trader attaches to a support request: one file per run, in the data folder's
``logs``, the newest runs kept, nothing secret in it, and a folder that cannot be written costs
only the file."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tnm_desktop import runlog
from tnm_desktop.gui.shell.app import setup_logging
from tnm_desktop.profiles import log_dir

STARTED = datetime(2026, 12, 5, 9, 30, 12, tzinfo=UTC)


@pytest.fixture
def logging_run() -> Iterator[list[logging.Handler]]:
    """Handlers setup_logging adds are removed and closed after the test, as run() does."""
    added: list[logging.Handler] = []
    yield added
    for handler in added:
        logging.getLogger().removeHandler(handler)
        handler.close()
    runlog.use(None)


def test_the_log_folder_is_in_the_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TNM_LOG_DIR")
    monkeypatch.setenv("TNM_DATA_DIR", str(tmp_path / "data"))
    assert log_dir() == tmp_path / "data" / "logs"


def test_each_run_writes_a_file_of_its_own_and_never_a_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               logging_run: list[logging.Handler]) -> None:
    monkeypatch.setenv("TNM_LOG_DIR", str(tmp_path / "logs"))
    first, handler = setup_logging()
    logging_run.append(handler)
    assert runlog.current() == first and first.parent == tmp_path / "logs"
    assert list(runlog.run_files(first.parent)) == [first.name.removesuffix(".log")]  # named for its run
    assert first.name.endswith(f"-{os.getpid()}.log")
    logging.getLogger("tnm_desktop.test").info("paired with key pk_0123abcd0123456789abcdef")
    handler.flush()
    text = first.read_text(encoding="utf-8")
    assert "paired with key pk_0123abcd…" in text and "0123456789abcdef" not in text
    # The next run (the same process here, so a name one second on) gets another file.
    logging.getLogger().removeHandler(handler)
    handler.close()
    logging_run.clear()
    later = datetime.now().astimezone() + timedelta(seconds=1)
    second = runlog.start(tmp_path / "logs", later, os.getpid())
    assert second != first and first.is_file()


def test_the_newest_runs_are_kept_and_other_files_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    runs = [runlog.file_name(STARTED + timedelta(minutes=n), 100 + n) for n in range(12)]
    for name in runs:
        (folder / name).write_text("a run\n", encoding="utf-8")
    (folder / (runs[0] + ".1")).write_text("the first run's rotated part\n", encoding="utf-8")
    (folder / "notes.txt").write_text("the trader's own\n", encoding="utf-8")
    (folder / "tnm-desktop.log").write_text("an earlier version's log\n", encoding="utf-8")
    this_run = runlog.start(folder, STARTED + timedelta(hours=1), 999)
    assert this_run == folder / runlog.file_name(STARTED + timedelta(hours=1), 999)
    left = sorted(p.name for p in folder.iterdir())
    kept = runs[-(runlog.KEEP_RUNS - 1):]  # with this run's, KEEP_RUNS runs
    assert left == sorted([*kept, "notes.txt", "tnm-desktop.log"])
    assert list(runlog.run_files(folder)) == [name.removesuffix(".log") for name in kept]


def test_a_log_folder_that_cannot_be_written_costs_only_the_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        logging_run: list[logging.Handler]) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be\n", encoding="utf-8")
    monkeypatch.setenv("TNM_LOG_DIR", str(blocker / "logs"))
    _path, handler = setup_logging()
    logging_run.append(handler)
    assert isinstance(handler, logging.NullHandler) and runlog.current() is None
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("tnm-desktop: no log file: ") and str(blocker) in line
