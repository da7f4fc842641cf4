"""Folders that cannot be used and damaged files: one clear line from every command, never a
traceback, nothing on disk overwritten and nothing left running. Through the real commands."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tnm_desktop.errors import OperationalError
from tnm_desktop.keystore import FileKeyring
from tnm_desktop.profiles import ProfileStore
from tnm_desktop.workspace import Workspace

from tests.conftest import reachable_tmpdir
from tests.procs import kill_all_under, wait_until_none_under


@pytest.fixture(scope="module")
def workspace_dir() -> Iterator[Path]:
    """A real workspace (the headless demo's), stopped, to be damaged by the tests."""
    root = reachable_tmpdir("tnm-damaged-")
    demo = subprocess.Popen([sys.executable, "-m", "tnm_desktop", "demo", "--headless", "--dir", str(root / "ws"),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=_env())
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            if line.startswith("webhook.Gold"):
                break
        demo.terminate()
        assert demo.wait(60) == 0
        demo.stdout.close()
        yield root / "ws"
    finally:
        kill_all_under(root)
        shutil.rmtree(root, ignore_errors=True)


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env.pop("TNM_OWNER_PID", None)
    return env


def tnm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tnm_desktop", *args], capture_output=True, text=True,
                          timeout=180, check=False, env=_env())


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The command failed and said why in one line (log lines aside): return it."""
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr, result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("tnm-desktop: ")]
    assert len(said) == 1, result.stderr
    return said[0]


@contextlib.contextmanager
def read_only_folder(parent: Path) -> Iterator[Path]:
    """A folder nobody may write into: 0555 for a normal user; root ignores that, so for root it
    is made immutable (chattr +i)."""
    folder = parent / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    locked = False
    if os.access(folder, os.W_OK):  # root
        locked = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False).returncode == 0
        if not locked:
            pytest.skip("running as root where chattr +i is not allowed: no folder root cannot write into")
    try:
        yield folder
    finally:
        if locked:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        folder.chmod(0o755)


COMMANDS: dict[str, Callable[[Path], tuple[str, ...]]] = {
    "demo": lambda d: ("demo", "--headless", "--dir", str(d), "--port", "0"),
    "db up": lambda d: ("db", "up", "--dir", str(d)),
    "agent": lambda d: ("agent", "--dir", str(d)),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_file_where_a_folder_belongs(pg_tmpdir: Path, command: str) -> None:
    path = pg_tmpdir / "notes.txt"
    path.write_text("my notes")
    line = one_line(tnm(*COMMANDS[command](path)))
    assert str(path) in line and ("not a folder" in line or "a file is in the way" in line), line
    assert path.read_text() == "my notes"
    assert sorted(p.name for p in pg_tmpdir.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("command", ["demo", "db up"])
def test_a_folder_that_cannot_be_written_into(pg_tmpdir: Path, command: str) -> None:
    with read_only_folder(pg_tmpdir) as folder:
        line = one_line(tnm(*COMMANDS[command](folder / "new")))
        assert line.startswith("tnm-desktop: Cannot use the ") and str(folder / "new") in line, line
        assert list(folder.iterdir()) == []
    assert not wait_until_none_under(pg_tmpdir, within=5)


def test_an_agent_on_a_damaged_workspace_file_says_so_leaves_it_and_stops_its_database(workspace_dir: Path) -> None:
    settings = workspace_dir / "workspace.json"
    kept = settings.read_bytes()
    try:
        for damage in (b'{"agent_id": "x"', b'{"receiver_port": "eighty"}', b"\xff\xfe\x00", b"[1, 2]"):
            settings.write_bytes(damage)
            line = one_line(tnm("agent", "--dir", str(workspace_dir)))
            assert line.startswith(f"tnm-desktop: The workspace settings file {settings} is damaged ("), line
            assert "left as it is" in line
            assert settings.read_bytes() == damage
            assert not (left := wait_until_none_under(workspace_dir, within=10)), left
    finally:
        settings.write_bytes(kept)


def test_the_demo_on_a_damaged_workspace_file_overwrites_nothing(workspace_dir: Path) -> None:
    settings = workspace_dir / "workspace.json"
    kept = settings.read_bytes()
    try:
        settings.write_bytes(b'{"demo_user_id": 12}')
        line = one_line(tnm("demo", "--headless", "--dir", str(workspace_dir), "--port", "0"))
        assert "workspace settings file" in line and "damaged" in line, line
        assert settings.read_bytes() == b'{"demo_user_id": 12}'
        assert not (left := wait_until_none_under(workspace_dir, within=10)), left
    finally:
        settings.write_bytes(kept)


def test_a_damaged_keyring_file_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    for damage in ("not json", "[1]", '{"tnm-desktop": {"key": 5}}'):
        path.write_text(damage)
        keyring = FileKeyring(path)
        with pytest.raises(OperationalError, match=r"keyring file .* is damaged") as refused:
            keyring.set_password("tnm-desktop", "agent", "pk_secret")
        assert refused.value.code == "damaged_file"
        assert path.read_text() == damage


def test_a_damaged_profiles_file_and_a_damaged_workspace_say_which_file(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles.json")
    for damage in ('{"profiles": [{"id": 1}]}', '{"profiles": [{"id": "a", "name": "x", "kind": "ftp"}]}', "{"):
        store.path.write_text(damage)
        with pytest.raises(OperationalError, match=r"connection profiles file .* is damaged"):
            store.load()
        assert store.path.read_text() == damage
    workspace = Workspace(tmp_path / "ws")
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "workspace.json").mkdir()  # a folder where the file belongs
    with pytest.raises(OperationalError, match=r"workspace settings file .*: it is a folder"):
        workspace.settings()
    with pytest.raises(OperationalError, match="workspace settings file"):
        workspace.update_settings(agent_id="a")
