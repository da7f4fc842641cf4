"""The composition root: the one place that builds the runtime of each mode.

Nothing else constructs adapters; the rest of the program receives its collaborators. Importing
this package is cheap (each mode's module imports what it needs), so ``tnm-desktop db up`` never
loads Qt.
"""
