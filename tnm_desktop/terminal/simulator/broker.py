"""The simulated trade server's books: prices, money, and the effect of each trade request.

A :class:`Broker` wraps the state at one moment. ``execute`` applies a parsed request the way
an MT5 server does — the checks in order, then the deals, history orders and positions — and
answers with the retcode, tickets and prices of an ``OrderSendResult``.
"""

from __future__ import annotations

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator import feed, money, orders
from tnm_desktop.terminal.simulator.catalog import SymbolSpec
from tnm_desktop.terminal.simulator.model import DealRec, OrderRec, PositionRec, SimState
from tnm_desktop.terminal.simulator.requests import allowed_fillings, frozen, is_buy, stops_ok, volume_ok

_EPSILON = 1e-9


class Broker:
    """The trade server's books over ``state`` at ``now_ms`` (UTC milliseconds)."""

    def __init__(self, state: SimState, now_ms: int) -> None:
        self.state = state
        self.now_ms = now_ms
        # Equity and margin price every open position; one symbol's quote at one instant is the
        # same for all of them, so compute it once (the feed costs eight noise layers a quote).
        self._quotes: dict[tuple[str, int, int, int], tuple[float, float]] = {}

    # -- prices and money -------------------------------------------------------------------

    def quote(self, symbol: str, at_ms: int | None = None) -> tuple[float, float]:
        """Return ``(bid, ask)`` of ``symbol`` now (or at ``at_ms``)."""
        moment = self.now_ms if at_ms is None else at_ms
        shifts = self.state.shifts.get(symbol, [])
        holds = self.state.holds.get(symbol, [])
        key = (symbol, moment, len(shifts), len(holds))
        cached = self._quotes.get(key)
        if cached is not None:
            return cached
        spec = self.state.spec(symbol)
        if spec is None:
            raise KeyError(symbol)
        quote = feed.quote_one(spec, self.state.seed, shifts, holds, moment)
        self._quotes[key] = quote
        return quote

    def profit(self, spec: SymbolSpec, order_type: int, volume: float, price_open: float, price_close: float) -> float:
        """Return a trade's profit in the account currency at current conversion rates."""
        return money.profit(spec, order_type, volume, price_open, price_close, account=self.state.account.currency,
                            symbols=self.state.symbols, quote=self.quote)

    def margin(self, spec: SymbolSpec, volume: float, price: float) -> float:
        """Return the margin of ``volume`` lots at ``price`` in the account currency."""
        return money.margin(spec, volume, price, leverage=self.state.account.leverage,
                            account=self.state.account.currency, symbols=self.state.symbols, quote=self.quote)

    def close_price(self, position: PositionRec) -> float:
        """Return the price the position would close at now (bid for a buy, ask for a sell)."""
        bid, ask = self.quote(position.symbol)
        return bid if position.type == mt5.POSITION_TYPE_BUY else ask

    def floating(self, position: PositionRec) -> float:
        """Return the position's unrealised profit."""
        spec = self.spec(position.symbol)
        return self.profit(spec, position.type, position.volume, position.price_open, self.close_price(position))

    def used_margin(self) -> float:
        """Return the margin held by open positions (each leg counted, at its opening price)."""
        legs = [self.margin(self.spec(p.symbol), p.volume, p.price_open) for p in self.state.positions]
        return round(float(sum(legs)), 2)

    def equity(self) -> float:
        """Return balance + credit + floating profit and swaps."""
        floating = sum(self.floating(p) + p.swap for p in self.state.positions)
        return round(self.state.balance + self.state.credit + floating, 2)

    def spec(self, symbol: str) -> SymbolSpec:
        """Return the symbol's contract (it must exist)."""
        spec = self.state.spec(symbol)
        if spec is None:
            raise KeyError(symbol)
        return spec

    # -- requests --------------------------------------------------------------------------

    def result(self, retcode: int, request: mt5.TradeRequest, *, deal: int = 0, order: int = 0, volume: float = 0.0,
               price: float = 0.0, comment: str | None = None) -> mt5.OrderSendResult:
        """Build the server's answer, with the current quote of the request's symbol."""
        bid, ask = self.quote(request.symbol) if self.state.spec(request.symbol) else (0.0, 0.0)
        self.state.next_request += 1
        return mt5.OrderSendResult(retcode=retcode, deal=deal, order=order, volume=volume, price=price, bid=bid,
                                   ask=ask, comment=comment or mt5.RETCODE_COMMENTS.get(retcode, ""),
                                   request_id=self.state.next_request - 1, request=request)

    def execute(self, request: mt5.TradeRequest, *, fill_volume: float | None = None) -> mt5.OrderSendResult:
        """Apply a request; ``fill_volume`` fills a market order only partly (liquidity ran out)."""
        action = request.action
        if action == mt5.TRADE_ACTION_DEAL:
            return self._market(request, fill_volume)
        if action == mt5.TRADE_ACTION_PENDING:
            return orders.place_pending(self, request)
        if action == mt5.TRADE_ACTION_SLTP:
            return self._sltp(request)
        if action == mt5.TRADE_ACTION_MODIFY:
            return orders.modify_pending(self, request)
        if action == mt5.TRADE_ACTION_REMOVE:
            return orders.remove_pending(self, request)
        if action == mt5.TRADE_ACTION_CLOSE_BY:
            return orders.close_by(self, request)
        return self.result(mt5.TRADE_RETCODE_INVALID, request)

    def validate_market(self, request: mt5.TradeRequest) -> int | None:
        """Return the retcode that rejects a market request, or ``None`` when it can be filled."""
        spec = self.state.spec(request.symbol)
        if spec is None or request.type not in (mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_SELL):
            return mt5.TRADE_RETCODE_INVALID if spec is None else mt5.TRADE_RETCODE_INVALID_ORDER
        if spec.name in self.state.closed_markets:
            return mt5.TRADE_RETCODE_MARKET_CLOSED
        if spec.trade_mode == mt5.SYMBOL_TRADE_MODE_DISABLED:
            return mt5.TRADE_RETCODE_TRADE_DISABLED
        closing = self.position(request.position) if request.position else None
        if request.position and (closing is None or closing.symbol != spec.name
                                 or closing.type == request.type):
            return mt5.TRADE_RETCODE_INVALID
        if closing is None:
            if spec.trade_mode == mt5.SYMBOL_TRADE_MODE_CLOSEONLY:
                return mt5.TRADE_RETCODE_CLOSE_ONLY
            if spec.trade_mode == mt5.SYMBOL_TRADE_MODE_LONGONLY and request.type == mt5.ORDER_TYPE_SELL:
                return mt5.TRADE_RETCODE_LONG_ONLY
            if spec.trade_mode == mt5.SYMBOL_TRADE_MODE_SHORTONLY and request.type == mt5.ORDER_TYPE_BUY:
                return mt5.TRADE_RETCODE_SHORT_ONLY
        if not volume_ok(spec, request.volume):
            return mt5.TRADE_RETCODE_INVALID_VOLUME
        if closing is not None and request.volume > closing.volume + _EPSILON:
            return mt5.TRADE_RETCODE_INVALID_CLOSE_VOLUME
        if request.type_filling not in allowed_fillings(spec):
            return mt5.TRADE_RETCODE_INVALID_FILL
        bid, ask = self.quote(spec.name)
        market = ask if request.type == mt5.ORDER_TYPE_BUY else bid
        if spec.exemode == mt5.SYMBOL_TRADE_EXECUTION_INSTANT:
            if request.price <= 0:
                return mt5.TRADE_RETCODE_INVALID_PRICE
            if round(abs(request.price - market) / spec.point, 6) > request.deviation:
                return mt5.TRADE_RETCODE_REQUOTE
        if closing is None:
            position_type = mt5.POSITION_TYPE_BUY if request.type == mt5.ORDER_TYPE_BUY else mt5.POSITION_TYPE_SELL
            if not stops_ok(spec, position_type, bid, ask, request.sl, request.tp):
                return mt5.TRADE_RETCODE_INVALID_STOPS
            needed = self.margin(spec, request.volume, market)
            if self.equity() - self.used_margin() - needed < -_EPSILON:
                return mt5.TRADE_RETCODE_NO_MONEY
        return None

    def _market(self, request: mt5.TradeRequest, fill_volume: float | None) -> mt5.OrderSendResult:
        refused = self.validate_market(request)
        if refused is not None:
            return self.result(refused, request)
        spec = self.spec(request.symbol)
        if spec.name not in self.state.selected:
            self.state.selected.append(spec.name)  # trading a symbol subscribes the terminal to it
        bid, ask = self.quote(spec.name)
        price = ask if request.type == mt5.ORDER_TYPE_BUY else bid
        volume = request.volume if fill_volume is None else min(fill_volume, request.volume)
        ticket = self.state.take_order_ticket()
        closing = self.position(request.position) if request.position else None
        position_id = closing.ticket if closing is not None else ticket
        self.state.history_orders.append(OrderRec(
            ticket=ticket, symbol=spec.name, type=request.type,
            state=mt5.ORDER_STATE_FILLED if volume >= request.volume - _EPSILON else mt5.ORDER_STATE_PARTIAL,
            volume_initial=request.volume, volume_current=round(request.volume - volume, 8),
            price_open=request.price or price, sl=request.sl, tp=request.tp, magic=request.magic,
            comment=request.comment, time_setup_msc=self.now_ms, time_done_msc=self.now_ms,
            type_filling=request.type_filling, type_time=request.type_time, position_id=position_id,
            price_current=price))
        if closing is not None:
            deal = self.close_part(closing, volume, price, order=ticket, comment=request.comment,
                                   magic=request.magic, reason=mt5.DEAL_REASON_EXPERT)
        else:
            deal = self.open_position(spec, ticket, request.type, volume, price, sl=request.sl, tp=request.tp,
                                      magic=request.magic, comment=request.comment)
        retcode = mt5.TRADE_RETCODE_DONE if volume >= request.volume - _EPSILON else mt5.TRADE_RETCODE_DONE_PARTIAL
        return self.result(retcode, request, deal=deal, order=ticket, volume=volume, price=price)

    def _sltp(self, request: mt5.TradeRequest) -> mt5.OrderSendResult:
        position = self.position(request.position)
        if position is None or (request.symbol and request.symbol != position.symbol):
            return self.result(mt5.TRADE_RETCODE_INVALID, request)
        if (position.sl, position.tp) == (request.sl, request.tp):
            return self.result(mt5.TRADE_RETCODE_NO_CHANGES, request)
        spec = self.spec(position.symbol)
        bid, ask = self.quote(spec.name)
        # A buy's stops are measured from the bid it closes at, a sell's from the ask.
        sell = position.type == mt5.POSITION_TYPE_SELL
        if frozen(spec, position.sl, bid, ask, buy_side=sell) or frozen(spec, position.tp, bid, ask, buy_side=sell):
            return self.result(mt5.TRADE_RETCODE_FROZEN, request)
        if not stops_ok(spec, position.type, bid, ask, request.sl, request.tp):
            return self.result(mt5.TRADE_RETCODE_INVALID_STOPS, request)
        position.sl, position.tp = request.sl, request.tp
        position.time_update_msc = self.now_ms
        return self.result(mt5.TRADE_RETCODE_DONE, request)

    # -- book keeping shared with triggers and pending orders ---------------------------------

    def position(self, ticket: int) -> PositionRec | None:
        """Return the open position with ``ticket``."""
        return next((p for p in self.state.positions if p.ticket == ticket), None)

    def open_position(self, spec: SymbolSpec, ticket: int, order_type: int, volume: float, price: float, *, sl: float,
                      tp: float, magic: int, comment: str, at_ms: int | None = None) -> int:
        """Open a position from order ``ticket``; return the opening deal's ticket."""
        at = self.now_ms if at_ms is None else at_ms
        position_type = mt5.POSITION_TYPE_BUY if is_buy(order_type) else mt5.POSITION_TYPE_SELL
        self.state.positions.append(PositionRec(ticket=ticket, symbol=spec.name, type=position_type, volume=volume,
                                                price_open=price, sl=sl, tp=tp, magic=magic, comment=comment,
                                                time_msc=at, time_update_msc=at))
        deal = self.state.take_deal_ticket()
        self.state.deals.append(DealRec(
            ticket=deal, order=ticket, time_msc=at, type=position_type, entry=mt5.DEAL_ENTRY_IN, magic=magic,
            position_id=ticket, volume=volume, price=price, profit=0.0, symbol=spec.name, comment=comment))
        return deal

    def close_part(self, position: PositionRec, volume: float, price: float, *, order: int, comment: str,
                   magic: int, reason: int, entry: int = mt5.DEAL_ENTRY_OUT, at_ms: int | None = None) -> int:
        """Close ``volume`` of a position at ``price``; book the profit; return the closing deal's ticket."""
        at = self.now_ms if at_ms is None else at_ms
        spec = self.spec(position.symbol)
        result = self.profit(spec, position.type, volume, position.price_open, price)
        deal = self.state.take_deal_ticket()
        closing_type = mt5.DEAL_TYPE_SELL if position.type == mt5.POSITION_TYPE_BUY else mt5.DEAL_TYPE_BUY
        self.state.deals.append(DealRec(
            ticket=deal, order=order, time_msc=at, type=closing_type, entry=entry, magic=magic,
            position_id=position.ticket, volume=volume, price=price, profit=result, symbol=spec.name,
            comment=comment, reason=reason))
        self.state.balance = round(self.state.balance + result, 2)
        position.volume = round(position.volume - volume, 8)
        position.time_update_msc = at
        if position.volume <= _EPSILON:
            self.state.positions.remove(position)
        return deal
