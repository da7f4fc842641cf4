"""The marks an order carries so it can be found again: a comment token and a magic number."""

from __future__ import annotations

TOKEN_PREFIX = "tnm-"  # noqa: S105 — a comment marker, not a secret
DEFAULT_MAGIC = 7730  # jobs that come from no strategy (the GUI's manual closes)


def token_for(job_id: str) -> str:
    """The comment token of a job: 20 characters, well inside MT5's 31."""
    return TOKEN_PREFIX + job_id.replace("-", "")[:16]


def magic_for(strategy_id: str | None) -> int:
    """A strategy's magic number (stable, fits MT5's 32-bit field), so a close touches only its positions."""
    if not strategy_id:
        return DEFAULT_MAGIC
    return int(strategy_id.replace("-", "")[:7], 16)


def rule_token(rule_id: str, seq: int) -> str:
    """The comment token of a position rule's change (a partial close at a target): at most 22 characters."""
    return f"tnmr-{rule_id.replace('-', '')[:12]}-{seq}"
