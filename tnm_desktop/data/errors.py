"""Database errors in words a trader understands, the same for both adapters.

psycopg gives a SQLSTATE and the constraint; PostgREST gives the same SQLSTATE in ``code`` and the
constraint inside ``message``. Both end up here.
"""

from __future__ import annotations

import re

from tnm_desktop.errors import LeaseLost, OperationalError, TnmError, TransientError, UserError

# Constraint → what the user did wrong.
_CONSTRAINTS = {
    "tv_strategies_broker_connection_fk": (
        "in_use", "This broker connection is still used by strategies. Move them to another "
                  "connection or delete them first."),
    "tv_strategies_user_id_name_key": ("duplicate", "You already have a strategy with that name."),
    "ea_projects_user_id_name_key": ("duplicate", "You already have an EA project with that name."),
    "trading_accounts_user_id_login_server_key": ("duplicate", "That account is already listed."),
    "users_email_key": ("duplicate", "An account with this email already exists."),
    "tv_strategies_risk_override_pct_check": (
        "invalid", "The risk override must be more than 0 % and at most 100 %."),
    "user_settings_risk_percent_check": ("invalid", "Risk per trade must be more than 0 % and at most 100 %."),
    "broker_connections_symbol_map_check": ("invalid", "The symbol mapping must be pairs of symbols."),
}

_GENERIC = {
    "42501": ("not_allowed", "You are not allowed to do that."),
    "23503": ("not_found", "That refers to something that no longer exists."),
    "23505": ("duplicate", "That already exists."),
    "23514": ("invalid", "A value is out of the allowed range."),
    "23502": ("invalid", "A required value is missing."),
    "22P02": ("invalid", "A value has the wrong format."),
    "22003": ("invalid", "A number is too large."),
    "22001": ("invalid", "A text is too long."),
}


def _constraint_in(message: str) -> str | None:
    match = re.search(r'constraint "([^"]+)"', message)
    return match.group(1) if match else None


def translate(sqlstate: str | None, message: str, constraint: str | None = None) -> TnmError | None:
    """Map a database error to the taxonomy; None when it is not one we expect (a bug)."""
    state = sqlstate or ""
    constraint = constraint or _constraint_in(message)
    if state == "TNA01":
        return OperationalError(message, code="agent_key_rejected")
    if state == "TNL01":
        return LeaseLost(message, code="lease_lost")
    if state in ("TNV01", "P0001"):
        return UserError(message, code="invalid")
    if state == "P0002":
        return UserError(message, code="not_found")
    if state in ("57014", "55P03"):
        return TransientError("The database took too long to answer. Trying again may help.",
                              code="timeout")
    if state.startswith("08") or state in ("57P01", "57P02", "57P03", "53300"):
        return TransientError("The database cannot be reached right now.", code="offline")
    if constraint and constraint in _CONSTRAINTS:
        code, text = _CONSTRAINTS[constraint]
        return UserError(text, code=code)
    if state in _GENERIC:
        code, text = _GENERIC[state]
        return UserError(text, code=code)
    return None
