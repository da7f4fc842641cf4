"""Programmed faults: which calls they hit, and checks on how they are programmed.

Each fault hits the next ``count`` calls of ``function`` (for ``order_send``, optionally only
requests on ``symbol``). Kinds:

* ``requote`` (10004), ``price_changed`` (10020), ``price_off`` (10021): refused, nothing filled.
* ``reject``: refused with ``retcode`` (10006 unless given) and the broker's ``message``.
* ``partial``: only ``volume`` lots (half the request if not given) are filled, 10010. A
  fill-or-kill request cannot be partly filled, so it is rejected (10006) instead.
* ``timeout`` (10012) and ``connection`` (10031): the answer says so; ``filled`` says whether the
  order was executed anyway.
* ``lose_reply``: the order is executed but the reply is lost: ``None`` and ``(-10005, 'IPC timeout')``.
* ``disconnect``: the terminal drops (``filled``: after executing an order); every call then fails
  with an IPC error until the control API reconnects it and the caller initializes again.
* ``ipc_timeout``: the call fails with ``(-10005, 'IPC timeout')`` and has no effect.
"""

from __future__ import annotations

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator.model import FaultRec, SimState

ORDER_FAULTS = frozenset({"requote", "price_changed", "price_off", "reject", "partial", "timeout", "connection",
                          "lose_reply"})
ANY_CALL_FAULTS = frozenset({"disconnect", "ipc_timeout"})
KINDS = ORDER_FAULTS | ANY_CALL_FAULTS

REFUSALS = {"requote": mt5.TRADE_RETCODE_REQUOTE, "price_changed": mt5.TRADE_RETCODE_PRICE_CHANGED,
            "price_off": mt5.TRADE_RETCODE_PRICE_OFF, "reject": mt5.TRADE_RETCODE_REJECT}
UNCLEAR = {"timeout": mt5.TRADE_RETCODE_TIMEOUT, "connection": mt5.TRADE_RETCODE_CONNECTION}


def check(fault: FaultRec) -> FaultRec:
    """Return ``fault`` if it is well programmed.

    Raises:
        ValueError: unknown kind or function, a count below one, or an order fault on another call.
    """
    if fault.kind not in KINDS:
        raise ValueError(f"unknown fault kind {fault.kind!r}; use one of {', '.join(sorted(KINDS))}")
    if fault.function not in mt5.FUNCTIONS or fault.function == "last_error":
        raise ValueError(f"cannot inject faults into {fault.function!r}")
    if fault.kind in ORDER_FAULTS and fault.function != "order_send":
        raise ValueError(f"a {fault.kind!r} fault only applies to order_send")
    if fault.count < 1:
        raise ValueError("a fault must apply to at least one call")
    if fault.retcode is not None and not 10004 <= fault.retcode <= 10045:
        raise ValueError(f"{fault.retcode} is not a trade server retcode")
    return fault


def take(state: SimState, function: str, symbol: str | None) -> FaultRec | None:
    """Return the first fault programmed for this call, counting it as used."""
    for fault in state.faults:
        if fault.function == function and (fault.symbol is None or fault.symbol == symbol):
            fault.count -= 1
            if fault.count <= 0:
                state.faults.remove(fault)
            return fault
    return None
