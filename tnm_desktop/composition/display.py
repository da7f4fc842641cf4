"""Can a window open here? Asked before Qt is started, because Qt aborts the process (rc 134)
when it finds no display or its X11 platform plugin cannot load its libraries.

Only Linux and the other X11/Wayland systems can lack one; Windows and macOS always have a
desktop when a trader starts the app.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping

from tnm_desktop.errors import OperationalError

# Qt's X11 plugin (libqxcb.so and libQt6XcbQpa.so.6 of the PySide6 wheel) needs these shared
# libraries, which the wheel does not carry: the soname, and the Debian/Ubuntu package that has it.
# `.ci/run` installs exactly these packages, and tests/composition/test_display.py checks with
# ldd that nothing else is missing.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}

# Qt platforms that draw without a desktop session.
_NO_DISPLAY_NEEDED = {"offscreen", "minimal", "minimalegl", "vnc", "eglfs", "linuxfb", "vkkhrdisplay"}


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_xcb_packages(loads: Callable[[str], bool] = _loads) -> list[str]:
    """The Debian packages whose libraries Qt's X11 plugin needs and cannot load, in order."""
    return [package for soname, package in XCB_LIBRARIES.items() if not loads(soname)]


def x_server_answers(display: str) -> bool:
    """Whether the X server named by ``display`` accepts a connection (asked through libxcb)."""
    xcb = ctypes.CDLL("libxcb.so.1")
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        return connection is not None and xcb.xcb_connection_has_error(connection) == 0
    finally:
        if connection is not None:
            xcb.xcb_disconnect(connection)  # safe on a failed connection too


def check_display(env: Mapping[str, str] | None = None, platform: str | None = None,
                  loads: Callable[[str], bool] = _loads,
                  connect: Callable[[str], bool] | None = x_server_answers) -> None:
    """Raise with one sentence when the desktop app cannot open its window here.

    Args:
        env: The environment (default: this process's).
        platform: ``sys.platform`` (default: this one).
        loads: Whether a shared library loads (the test's seam; default: ``ctypes.CDLL``).
        connect: Whether the X server answers (None: do not ask).

    Raises:
        OperationalError: No display, or the X11 plugin's libraries are missing; the message says
            what to do (code ``no_display`` or ``qt_libraries``).
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if platform in ("win32", "darwin"):
        return
    chosen = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip().lower()
    if chosen in _NO_DISPLAY_NEEDED:
        return
    wayland = bool(env.get("WAYLAND_DISPLAY"))
    x11 = bool(env.get("DISPLAY"))
    if (chosen == "wayland" and not wayland) or (chosen == "xcb" and not x11) or (not chosen and not (x11 or wayland)):
        raise OperationalError(
            "No display: TNM Desktop's window needs a desktop session (none was found: DISPLAY and "
            "WAYLAND_DISPLAY are not set). Start it from the desktop, or run `tnm-desktop demo --headless` "
            "for the demo without a window.", code="no_display")
    if chosen == "wayland" or (not chosen and wayland and (not x11 or env.get("XDG_SESSION_TYPE") == "wayland")):
        return  # Qt's Wayland plugin; its libraries come with every Wayland desktop
    missing = missing_xcb_packages(loads)
    if missing:
        raise OperationalError(
            f"The window cannot open: Qt needs system libraries that are not installed. On Debian or "
            f"Ubuntu: sudo apt-get install {' '.join(missing)}", code="qt_libraries")
    if connect is not None and not connect(env.get("DISPLAY", "")):
        raise OperationalError(
            f"No display: the X server of DISPLAY={env.get('DISPLAY', '')} does not answer. Start TNM Desktop "
            "from the desktop, or run `tnm-desktop demo --headless` for the demo without a window.",
            code="no_display")

