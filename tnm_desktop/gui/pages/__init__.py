"""The main window's pages; each is ``View(ctx, parent=None)`` and is listed in ``gui/shell/navigation.py``.

Pages use the shared toolkit (:mod:`tnm_desktop.gui.widgets`) and never the shell.
"""
