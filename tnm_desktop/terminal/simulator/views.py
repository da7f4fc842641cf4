"""The terminal's view of the books: MT5 records in trade-server time, and symbol group masks."""

from __future__ import annotations

import re
from functools import lru_cache

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator import money
from tnm_desktop.terminal.simulator.broker import Broker
from tnm_desktop.terminal.simulator.catalog import SymbolSpec
from tnm_desktop.terminal.simulator.model import DealRec, OrderRec, PositionRec, SimState

BUILD = 4755
VERSION = (500, BUILD, "13 Jan 2025")
_EXPIRATION_MODE = 1 | 2 | 4 | 8


@lru_cache(maxsize=256)
def _pattern(mask: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in mask.split("*")), re.IGNORECASE)


def match_group(name: str, group: str | None) -> bool:
    """Tell whether ``name`` passes an MT5 group mask such as ``"*USD*,!EUR*"``.

    Conditions apply in order: a pattern includes what it matches, a ``!pattern`` excludes it.
    """
    if group is None:
        return True
    included = False
    for condition in (c.strip() for c in group.split(",")):
        if not condition:
            continue
        negate = condition.startswith("!")
        if _pattern(condition.lstrip("!")).fullmatch(name):
            included = not negate
    return included


def server_s(state: SimState, utc_ms: int) -> int:
    """Return trade-server seconds for a UTC moment."""
    return utc_ms // 1000 + state.account.server_offset_s


def server_ms(state: SimState, utc_ms: int) -> int:
    """Return trade-server milliseconds for a UTC moment."""
    return utc_ms + state.account.server_offset_s * 1000


def position_record(broker: Broker, position: PositionRec) -> mt5.TradePosition:
    """Return an open position as ``positions_get`` reports it."""
    state = broker.state
    return mt5.TradePosition(
        ticket=position.ticket, time=server_s(state, position.time_msc), time_msc=server_ms(state, position.time_msc),
        time_update=server_s(state, position.time_update_msc),
        time_update_msc=server_ms(state, position.time_update_msc), type=position.type, magic=position.magic,
        identifier=position.identifier, reason=position.reason, volume=position.volume,
        price_open=position.price_open, sl=position.sl, tp=position.tp, price_current=broker.close_price(position),
        swap=position.swap, profit=broker.floating(position), symbol=position.symbol, comment=position.comment,
        external_id=position.external_id)


def order_record(broker: Broker, order: OrderRec, *, active: bool) -> mt5.TradeOrder:
    """Return an order as ``orders_get`` (active) or ``history_orders_get`` reports it."""
    state = broker.state
    price_current = order.price_current
    if active:
        bid, ask = broker.quote(order.symbol)
        price_current = ask if order.type in (mt5.ORDER_TYPE_BUY_LIMIT, mt5.ORDER_TYPE_BUY_STOP) else bid
    done = order.time_done_msc
    return mt5.TradeOrder(
        ticket=order.ticket, time_setup=server_s(state, order.time_setup_msc),
        time_setup_msc=server_ms(state, order.time_setup_msc), time_done=server_s(state, done) if done else 0,
        time_done_msc=server_ms(state, done) if done else 0, time_expiration=order.time_expiration, type=order.type,
        type_time=order.type_time, type_filling=order.type_filling, state=order.state, magic=order.magic,
        position_id=order.position_id, position_by_id=order.position_by_id, reason=order.reason,
        volume_initial=order.volume_initial, volume_current=order.volume_current, price_open=order.price_open,
        sl=order.sl, tp=order.tp, price_current=price_current, price_stoplimit=order.price_stoplimit,
        symbol=order.symbol, comment=order.comment, external_id=order.external_id)


def deal_record(state: SimState, deal: DealRec) -> mt5.TradeDeal:
    """Return a deal as ``history_deals_get`` reports it."""
    return mt5.TradeDeal(
        ticket=deal.ticket, order=deal.order, time=server_s(state, deal.time_msc),
        time_msc=server_ms(state, deal.time_msc), type=deal.type, entry=deal.entry, magic=deal.magic,
        position_id=deal.position_id, reason=deal.reason, volume=deal.volume, price=deal.price,
        commission=deal.commission, swap=deal.swap, profit=deal.profit, fee=deal.fee, symbol=deal.symbol,
        comment=deal.comment, external_id=deal.external_id)


def tick_record(broker: Broker, spec: SymbolSpec) -> mt5.Tick:
    """Return the symbol's last tick."""
    bid, ask = broker.quote(spec.name)
    return mt5.Tick(time=server_s(broker.state, broker.now_ms), bid=bid, ask=ask,
                    time_msc=server_ms(broker.state, broker.now_ms), flags=mt5.TICK_FLAG_BID | mt5.TICK_FLAG_ASK)


def symbol_record(broker: Broker, spec: SymbolSpec) -> mt5.SymbolInfo:
    """Return the symbol's contract data; quotes only flow for symbols in Market Watch."""
    state = broker.state
    selected = spec.name in state.selected
    bid, ask = broker.quote(spec.name) if selected else (0.0, 0.0)
    value, value_profit, value_loss = money.tick_values(spec, account=state.account.currency, symbols=state.symbols,
                                                        quote=broker.quote)
    return mt5.SymbolInfo(
        select=selected, visible=selected, time=server_s(state, broker.now_ms) if selected else 0, digits=spec.digits,
        spread=spec.spread, spread_float=True, trade_calc_mode=spec.calc_mode, trade_mode=spec.trade_mode,
        trade_stops_level=spec.stops_level, trade_freeze_level=spec.freeze_level, trade_exemode=spec.exemode,
        swap_mode=1, swap_rollover3days=3, expiration_mode=_EXPIRATION_MODE, filling_mode=spec.filling_flags,
        order_mode=spec.order_mode, bid=bid, bidhigh=bid, bidlow=bid, ask=ask, askhigh=ask, asklow=ask,
        point=spec.point, trade_tick_value=value, trade_tick_value_profit=value_profit,
        trade_tick_value_loss=value_loss, trade_tick_size=spec.tick_size, trade_contract_size=spec.contract_size,
        volume_min=spec.volume_min, volume_max=spec.volume_max, volume_step=spec.volume_step,
        swap_long=spec.swap_long, swap_short=spec.swap_short, margin_hedged=spec.contract_size,
        currency_base=spec.currency_base, currency_profit=spec.currency_profit, currency_margin=spec.currency_margin,
        description=spec.description, name=spec.name, path=spec.path)


def account_record(broker: Broker) -> mt5.AccountInfo:
    """Return the account with its balance, equity and margin now."""
    state = broker.state
    account = state.account
    margin = broker.used_margin()
    equity = broker.equity()
    return mt5.AccountInfo(
        login=account.login, trade_mode=mt5.ACCOUNT_TRADE_MODE_DEMO, leverage=account.leverage, limit_orders=200,
        margin_so_mode=mt5.ACCOUNT_STOPOUT_MODE_PERCENT, trade_allowed=True, trade_expert=True,
        margin_mode=mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING, currency_digits=2, balance=state.balance,
        credit=state.credit, profit=round(equity - state.balance - state.credit, 2), equity=equity, margin=margin,
        margin_free=round(equity - margin, 2), margin_level=round(equity / margin * 100, 2) if margin else 0.0,
        margin_so_call=account.margin_so_call, margin_so_so=account.margin_so_so, name=account.name,
        server=account.server, currency=account.currency, company=account.company)


def terminal_record(state: SimState) -> mt5.TerminalInfo:
    """Return the terminal's switches and identity."""
    terminal = state.terminal
    return mt5.TerminalInfo(
        connected=terminal.connected, trade_allowed=terminal.trade_allowed, build=BUILD, maxbars=100_000,
        codepage=1252, ping_last=25_000 if terminal.connected else 0, company=state.account.company,
        name="MetaTrader 5 (simulated)", language="English", path="C:\\Program Files\\TNM Simulator",
        data_path="C:\\Users\\trader\\AppData\\Roaming\\MetaQuotes\\Terminal\\TNMSIM",
        commondata_path="C:\\Users\\trader\\AppData\\Roaming\\MetaQuotes\\Terminal\\Common")
