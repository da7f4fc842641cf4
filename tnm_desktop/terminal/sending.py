"""Sending orders and changes, and telling what became of them.

The symbol's allowed filling mode goes first and the next one is tried on 10030 (some brokers
misreport theirs, and 10030 means nothing was executed); requotes and moved prices are retried
a few times with a fresh tick; refusals that another try cannot cure (no money, invalid stops,
market closed, trading disabled) are returned as they are; anything that leaves the order's
fate open (no answer, 10012, 10031, an IPC error) is ``UNKNOWN``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tnm_desktop.errors import OperationalError, TransientError
from tnm_desktop.terminal import convert
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.port import (
    ChangeOutcome,
    ChangeStatus,
    FillingMode,
    FillStatus,
    OrderOutcome,
    PendingKind,
    PendingOrder,
    Side,
    SymbolSpec,
)

log = logging.getLogger(__name__)

NOT_LOGGED_IN = ("MetaTrader 5 is not logged in to a trading account. Log in to your account in the terminal "
                 "(File \u2192 Login to Trade Account), then resume the agent.")
OFFLINE = "MetaTrader 5 has no connection to the broker's trade server; nothing was sent."
AUTO_TRADING_OFF = ("Auto-trading is disabled in MetaTrader 5. Press the \u201cAlgo Trading\u201d button in the "
                    "terminal's toolbar, then resume the agent.")
_PRICE_MOVED = frozenset({mt5.TRADE_RETCODE_REQUOTE, mt5.TRADE_RETCODE_PRICE_CHANGED, mt5.TRADE_RETCODE_PRICE_OFF})
_UNCLEAR = frozenset({mt5.TRADE_RETCODE_TIMEOUT, mt5.TRADE_RETCODE_CONNECTION, mt5.TRADE_RETCODE_PLACED})
_CHANGE_UNCLEAR = frozenset({mt5.TRADE_RETCODE_TIMEOUT, mt5.TRADE_RETCODE_CONNECTION})
_PENDING_TYPES = {
    (Side.BUY, PendingKind.LIMIT): mt5.ORDER_TYPE_BUY_LIMIT, (Side.SELL, PendingKind.LIMIT): mt5.ORDER_TYPE_SELL_LIMIT,
    (Side.BUY, PendingKind.STOP): mt5.ORDER_TYPE_BUY_STOP, (Side.SELL, PendingKind.STOP): mt5.ORDER_TYPE_SELL_STOP,
    (Side.BUY, PendingKind.STOP_LIMIT): mt5.ORDER_TYPE_BUY_STOP_LIMIT,
    (Side.SELL, PendingKind.STOP_LIMIT): mt5.ORDER_TYPE_SELL_STOP_LIMIT,
}


class OrderSender:
    """Sends market orders through ``api``.

    Args:
        api: The MetaTrader5 API.
        get: Runs a call and raises the port's error when it returns ``None``.
        lost: Called when the terminal connection is lost (the adapter initializes again later).
        price_retries: How many requotes or moved prices are retried.
    """

    def __init__(self, api: mt5.Mt5Api, get: Callable[[str, Callable[[], Any]], Any], lost: Callable[[], None],
                 price_retries: int) -> None:
        self._api = api
        self._get = get
        self._lost = lost
        self._price_retries = price_retries
        # A hedging account (read from the account by the adapter): a market order that opens a
        # position opens its own, whose id is the order's ticket. Otherwise the deal says which.
        self.hedging = False

    def send(self, spec: SymbolSpec, side: Side, volume: float, *, sl: float | None, tp: float | None,
             deviation: int, magic: int, comment: str, position: int, tick: Any | None = None) -> OrderOutcome:
        """Send a market order for ``volume`` lots (closing ``position`` when given) and classify the result.

        ``tick``: a tick just read for the symbol, used for the first try (later tries read afresh).
        """
        # Allowed modes first; then the others, for brokers whose symbol data misstate them.
        modes = [*spec.filling_modes, *(m for m in FillingMode if m not in spec.filling_modes)]
        mode = 0
        moved = 0
        attempts = 0
        while True:
            attempts += 1
            filling = modes[mode]
            if attempts > 1 or tick is None:
                tick = self._get(f"read {spec.name}'s prices", lambda: self._api.symbol_info_tick(spec.name))
            request: dict[str, Any] = {
                "action": mt5.TRADE_ACTION_DEAL, "symbol": spec.name, "volume": volume,
                "type": mt5.ORDER_TYPE_BUY if side is Side.BUY else mt5.ORDER_TYPE_SELL,
                "price": float(tick.ask if side is Side.BUY else tick.bid), "deviation": deviation, "magic": magic,
                "comment": comment, "type_time": mt5.ORDER_TIME_GTC, "type_filling": convert.FILLING_CODES[filling]}
            if sl:
                request["sl"] = sl
            if tp:
                request["tp"] = tp
            if position:
                request["position"] = position
            result = self._api.order_send(request)
            if result is None:
                return self._unanswered(volume, attempts, filling)
            retcode = int(result.retcode)
            message = str(result.comment) or mt5.RETCODE_COMMENTS.get(retcode, f"retcode {retcode}")
            if retcode in (mt5.TRADE_RETCODE_DONE, mt5.TRADE_RETCODE_DONE_PARTIAL):
                return self._filled(result, volume, attempts, filling, position)
            if retcode in _PRICE_MOVED and moved < self._price_retries:
                moved += 1
                log.info("%s %s: %s; retrying with a fresh price", side.value, spec.name, message)
                if retcode == mt5.TRADE_RETCODE_PRICE_OFF:
                    self._api.symbol_select(spec.name, True)
                continue
            if retcode == mt5.TRADE_RETCODE_INVALID_FILL and mode + 1 < len(modes):
                mode += 1
                log.info("%s refuses filling mode %s; trying %s", spec.name, filling.value, modes[mode].value)
                continue
            if retcode == mt5.TRADE_RETCODE_CONNECTION and self._offline():
                # The terminal has no link to the trade server: the request went nowhere.
                raise TransientError(OFFLINE, code="terminal_offline")
            if retcode in _UNCLEAR:
                return OrderOutcome(FillStatus.UNKNOWN, retcode, f"{message}: the broker may or may not have the "
                                    f"order; it must be looked up before anything is sent again.", volume,
                                    attempts=attempts, filling=filling)
            if retcode == mt5.TRADE_RETCODE_CLIENT_DISABLES_AT:
                raise OperationalError(AUTO_TRADING_OFF, code="auto_trading_disabled")
            if retcode == mt5.TRADE_RETCODE_SERVER_DISABLES_AT:
                raise OperationalError("The broker has disabled automated trading on this account.",
                                       code="auto_trading_disabled_by_broker")
            return OrderOutcome(FillStatus.REJECTED, retcode, message, volume, attempts=attempts, filling=filling)

    def _filled(self, result: Any, volume: float, attempts: int, filling: FillingMode, position: int) -> OrderOutcome:
        filled = float(result.volume) or volume
        partial = int(result.retcode) == mt5.TRADE_RETCODE_DONE_PARTIAL or filled < volume - 1e-9
        order = int(result.order)
        if not position and self.hedging:
            position = order
        elif not position:
            deals = self._api.history_deals_get(ticket=order)  # netting: the order may add to a position
            position = int(deals[0].position_id) if deals else order
        return OrderOutcome(FillStatus.PARTIAL if partial else FillStatus.FILLED, int(result.retcode),
                            str(result.comment), volume, order=order, deal=int(result.deal), position=position,
                            filled_volume=filled, price=float(result.price), attempts=attempts, filling=filling)

    def _offline(self) -> bool:
        info = self._api.terminal_info()
        return info is not None and not info.connected

    def _unanswered(self, volume: float, attempts: int, filling: FillingMode) -> OrderOutcome:
        code, message = self._api.last_error()
        if code == mt5.RES_E_AUTH_FAILED:  # not logged in: the terminal could not have sent it
            raise OperationalError(NOT_LOGGED_IN, code="terminal_not_logged_in")
        if code == mt5.RES_E_INVALID_PARAMS:  # refused by the package itself: nothing left this machine
            return OrderOutcome(FillStatus.REJECTED, None, f"MetaTrader 5 refused the request: {message}", volume,
                                attempts=attempts, filling=filling)
        if code in mt5.IPC_ERRORS:
            self._lost()
        return OrderOutcome(FillStatus.UNKNOWN, None, f"MetaTrader 5 did not answer ({message}); the order may "
                            f"have been filled and must be looked up before anything is sent again.", volume,
                            attempts=attempts, filling=filling)

    def send_pending(self, spec: SymbolSpec, order: PendingOrder, expiration: int | None) -> OrderOutcome:
        """Place a pending order (``expiration``: trade-server seconds, or ``None`` for good till cancelled).

        Pending orders are usually placed with "return" filling; a broker that refuses it (10030)
        gets the symbol's market filling modes instead.
        """
        modes = [FillingMode.RETURN, *(m for m in spec.filling_modes if m is not FillingMode.RETURN)]
        request: dict[str, Any] = {
            "action": mt5.TRADE_ACTION_PENDING, "symbol": spec.name, "volume": order.volume,
            "type": _PENDING_TYPES[(order.side, order.kind)], "price": order.price, "magic": order.magic,
            "comment": order.comment,
            "type_time": mt5.ORDER_TIME_GTC if expiration is None else mt5.ORDER_TIME_SPECIFIED}
        if expiration is not None:
            request["expiration"] = expiration
        if order.kind is PendingKind.STOP_LIMIT and order.stoplimit is not None:
            request["stoplimit"] = order.stoplimit
        if order.sl:
            request["sl"] = order.sl
        if order.tp:
            request["tp"] = order.tp
        for attempt, filling in enumerate(modes, start=1):
            result = self._api.order_send({**request, "type_filling": convert.FILLING_CODES[filling]})
            if result is None:
                return self._unanswered(order.volume, attempt, filling)
            retcode = int(result.retcode)
            message = str(result.comment) or mt5.RETCODE_COMMENTS.get(retcode, f"retcode {retcode}")
            if retcode in (mt5.TRADE_RETCODE_PLACED, mt5.TRADE_RETCODE_DONE):
                return OrderOutcome(FillStatus.PLACED, retcode, message, order.volume, order=int(result.order),
                                    attempts=attempt, filling=filling)
            if retcode == mt5.TRADE_RETCODE_INVALID_FILL and attempt < len(modes):
                continue
            if retcode in _CHANGE_UNCLEAR:
                return OrderOutcome(FillStatus.UNKNOWN, retcode, f"{message}: the broker may or may not have the "
                                    f"order; it must be looked up before anything is sent again.", order.volume,
                                    attempts=attempt, filling=filling)
            self._refuse_disabled(retcode)
            return OrderOutcome(FillStatus.REJECTED, retcode, message, order.volume, attempts=attempt, filling=filling)
        raise AssertionError("unreachable: the last filling mode returns")

    def change(self, request: dict[str, Any]) -> ChangeOutcome:
        """Send a request that changes what exists (new SL/TP, a removal) and classify the answer.

        "No changes" (10025) is success: what was asked is what the broker has.
        """
        result = self._api.order_send(request)
        if result is None:
            code, message = self._api.last_error()
            if code == mt5.RES_E_INVALID_PARAMS:
                return ChangeOutcome(ChangeStatus.REJECTED, None, f"MetaTrader 5 refused the request: {message}")
            if code in mt5.IPC_ERRORS:
                self._lost()
            return ChangeOutcome(ChangeStatus.UNKNOWN, None, f"MetaTrader 5 did not answer ({message}).")
        retcode = int(result.retcode)
        message = str(result.comment) or mt5.RETCODE_COMMENTS.get(retcode, f"retcode {retcode}")
        if retcode in (mt5.TRADE_RETCODE_DONE, mt5.TRADE_RETCODE_NO_CHANGES, mt5.TRADE_RETCODE_PLACED):
            return ChangeOutcome(ChangeStatus.DONE, retcode, message)
        if retcode in _CHANGE_UNCLEAR:
            return ChangeOutcome(ChangeStatus.UNKNOWN, retcode, message)
        self._refuse_disabled(retcode)
        return ChangeOutcome(ChangeStatus.REJECTED, retcode, message)

    @staticmethod
    def _refuse_disabled(retcode: int) -> None:
        if retcode == mt5.TRADE_RETCODE_CLIENT_DISABLES_AT:
            raise OperationalError(AUTO_TRADING_OFF, code="auto_trading_disabled")
        if retcode == mt5.TRADE_RETCODE_SERVER_DISABLES_AT:
            raise OperationalError("The broker has disabled automated trading on this account.",
                                   code="auto_trading_disabled_by_broker")
