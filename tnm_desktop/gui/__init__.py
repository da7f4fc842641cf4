"""The Qt GUI (the only package that imports PySide6)."""

from tnm_desktop.gui import compat as _compat

_compat.pin_singletons()  # before any Qt call: PySide6 6.12 under-counts None on Python 3.11
