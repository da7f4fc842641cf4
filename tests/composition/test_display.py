"""Where no window can open, the app says so in one line instead of Qt's abort (rc 134); the
libraries Qt's X11 plugin needs are the ones `.ci/run` installs, and with them a window opens."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tnm_desktop import __version__
from tnm_desktop.composition.display import XCB_LIBRARIES, check_display, missing_xcb_packages
from tnm_desktop.errors import OperationalError

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tnm_desktop", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def _without_display() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    return env


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    done = _cli("--version", env=dict(os.environ), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"tnm-desktop {__version__}"
    assert version("tnm-desktop") == __version__  # the metadata a wheel carries says the same


@pytest.mark.parametrize("args", [[], ["--demo"], ["gui"]])
def test_without_a_display_the_app_exits_with_one_line(tmp_path: Path, args: list[str]) -> None:
    env = _without_display() | {"TNM_CONFIG_DIR": str(tmp_path / "config"), "TNM_DATA_DIR": str(tmp_path / "data"),
                                "TNM_LOG_DIR": str(tmp_path / "logs")}
    done = _cli(*args, env=env, cwd=tmp_path)
    assert done.returncode == 2  # not 134, Qt's abort
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("tnm-desktop: No display:")
    assert "demo --headless" in lines[0]
    assert not (tmp_path / "data" / "demo").exists()  # nothing was started before it gave up


def test_a_display_that_does_not_answer_is_named() -> None:
    with pytest.raises(OperationalError, match=r"DISPLAY=:97 does not answer") as caught:
        check_display({"DISPLAY": ":97"}, platform="linux", loads=lambda _soname: True, connect=lambda _d: False)
    assert caught.value.code == "no_display"


def test_missing_libraries_are_named_as_the_packages_to_install() -> None:
    gone = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}

    def loads(soname: str) -> bool:
        return soname not in gone

    assert missing_xcb_packages(loads) == ["libxcb-icccm4", "libxcb-keysyms1"]
    with pytest.raises(OperationalError, match=r"sudo apt-get install libxcb-icccm4 libxcb-keysyms1$"):
        check_display({"DISPLAY": ":0"}, platform="linux", loads=loads, connect=lambda _d: True)


@pytest.mark.parametrize(("env", "platform"), [
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux"),
    ({}, "win32"),
    ({}, "darwin"),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "linux"),
])
def test_where_a_window_can_open_nothing_is_refused(env: dict[str, str], platform: str) -> None:
    check_display(env, platform=platform, loads=lambda _soname: False, connect=lambda _d: False)


def _plugin_libraries() -> list[Path]:
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    return [qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6XcbQpa.so.6"]


def test_every_library_qts_x11_plugin_needs_is_installed_and_listed() -> None:
    """`.ci/run` installs XCB_LIBRARIES' packages: a library Qt needs beyond them fails here."""
    needed: dict[str, str] = {}
    for library in _plugin_libraries():
        out = subprocess.run(["ldd", str(library)], capture_output=True, text=True, check=True, timeout=60).stdout
        for name, where in re.findall(r"^\s*(\S+) => (.+?)(?: \(0x[0-9a-f]+\))?$", out, re.MULTILINE):
            needed[name] = where
    x11 = {name for name in needed if re.match(r"lib(xcb|X11|xkbcommon)", name)}
    assert x11 <= set(XCB_LIBRARIES), f"Qt needs X11 libraries not listed: {sorted(x11 - set(XCB_LIBRARIES))}"
    missing = sorted(name for name, where in needed.items() if where == "not found")
    assert missing == [], f"not installed: {missing} (see XCB_LIBRARIES for their packages)"
    assert missing_xcb_packages() == []


@pytest.fixture
def x_server() -> Iterator[str]:
    """A virtual X server (Xvfb, installed by `.ci/run`) on a display number it picks itself."""
    xvfb = shutil.which("Xvfb")
    assert xvfb is not None, "Xvfb is not installed (.ci/run installs the xvfb package)"
    read, write = os.pipe()
    server = subprocess.Popen([xvfb, "-displayfd", str(write), "-nolisten", "tcp", "-screen", "0", "1024x768x24"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(30)


def test_on_an_x_server_the_check_passes_and_a_qt_window_opens(x_server: str, tmp_path: Path) -> None:
    env = _without_display() | {"DISPLAY": x_server, "QT_QPA_PLATFORM": "xcb"}
    check_display(env, platform="linux")
    probe = ("from PySide6.QtWidgets import QApplication, QLabel\n"
             "app = QApplication([])\n"
             "label = QLabel('TNM Desktop'); label.show(); app.processEvents()\n"
             "print(app.platformName(), label.isVisible(), label.windowHandle() is not None)\n")
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["xcb", "True", "True"]


def test_ci_installs_exactly_the_packages_the_app_names() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    listed = re.search(r"^xcb=\(([^)]*)\)", script, re.MULTILINE)
    assert listed is not None
    assert listed.group(1).split() == list(XCB_LIBRARIES.values())
