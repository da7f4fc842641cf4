"""The terminal tests' simulator fixtures, for the tests of choosing a terminal adapter."""

from tests.terminal.conftest import served, state_file

__all__ = ["served", "state_file"]
