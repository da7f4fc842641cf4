"""A guard against a reference-counting bug of PySide6 6.12 on Python 3.11.

Every Qt method that returns ``void`` hands Python ``None`` without taking a reference to it, so
each call from Python leaves ``None`` with one reference fewer (``QColor().setRed(1)`` in a loop
shows it with ``sys.getrefcount(None)``). Python 3.12 made ``None`` immortal, which hides the bug;
on 3.11 a few thousand such calls — one paint of a chart makes dozens — end in
"Fatal Python error: none_dealloc", at once or when the interpreter exits.

:func:`pin_singletons` gives ``None``, ``True`` and ``False`` a reference count no process can
wear down, which is what 3.12's immortal objects do. It runs when the GUI package is imported.
"""

from __future__ import annotations

import ctypes
import sys

_PINNED = 1 << 40  # references; a call drops at most one, so this outlasts any process
_done = False


def pin_singletons() -> bool:
    """Make None, True and False immortal on CPython before 3.12; return whether it was needed."""
    global _done
    if _done or sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    for obj in (None, True, False):
        # ob_refcnt is a PyObject's first field (a Py_ssize_t) in every non-debug CPython build.
        ctypes.c_ssize_t.from_address(id(obj)).value += _PINNED
    _done = True
    return True
