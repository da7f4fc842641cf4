"""The main window's views; each is ``View(ctx, parent=None)`` and is listed in ``gui/pages.py``."""
