"""The application shell: the app's lifecycle, its windows over time, navigation and the status bar.

The shell builds the pages (:mod:`tnm_desktop.gui.pages`) and hands them a view context; both use
the shared toolkit (:mod:`tnm_desktop.gui.widgets`).
"""
