"""One small exception taxonomy, shared by every layer.

Adapters translate library errors (psycopg, supabase, httpx, MetaTrader5) into these at the
boundary with ``raise … from e``. What to do with each kind:

* :class:`UserError` — the user can fix it; show ``message`` as is.
* :class:`TransientError` — may work if tried again later; retry with backoff, show "offline".
* :class:`OperationalError` — needs the user to act before anything can continue (auto-trading
  disabled, terminal not logged in, pairing key rejected); stop and tell them.
* :class:`Cancelled` — the user cancelled; say nothing.
"""

from __future__ import annotations


class TnmError(Exception):
    """Base of every error TNM Desktop raises on purpose.

    Args:
        message: A sentence a trader understands; shown as is.
        code: A short stable identifier for tests, logs and the UI's choices.
    """

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message


class UserError(TnmError):
    """Something the user can correct: wrong password, invalid input, not allowed, in use."""


class TransientError(TnmError):
    """Temporary trouble: offline, timeout, database restarting. Retry later."""


class OperationalError(TnmError):
    """A condition that stops work until the user acts."""


class Cancelled(TnmError):
    """The user cancelled; nothing to report."""


class LeaseLost(TnmError):
    """The agent no longer holds the job it tried to report on (stale claim)."""
