"""From the ``MetaTrader5`` package's records to the port's values.

The records may be the package's own named tuples, an ``mt5linux`` proxy's or the simulator's:
only their attributes are read. Server times become aware UTC datetimes by subtracting the
trade server's offset.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.port import (
    AccountMode,
    AccountSnapshot,
    Candle,
    Deal,
    DealEntry,
    DealKind,
    FillingMode,
    OrderRecord,
    PendingKind,
    Position,
    Side,
    SymbolSpec,
    Timeframe,
    TradeMode,
)

TIMEFRAMES: dict[Timeframe, int] = {
    Timeframe.M1: mt5.TIMEFRAME_M1, Timeframe.M5: mt5.TIMEFRAME_M5, Timeframe.M15: mt5.TIMEFRAME_M15,
    Timeframe.M30: mt5.TIMEFRAME_M30, Timeframe.H1: mt5.TIMEFRAME_H1, Timeframe.H4: mt5.TIMEFRAME_H4,
    Timeframe.D1: mt5.TIMEFRAME_D1, Timeframe.W1: mt5.TIMEFRAME_W1, Timeframe.MN1: mt5.TIMEFRAME_MN1,
}
FILLING_CODES: dict[FillingMode, int] = {FillingMode.FOK: mt5.ORDER_FILLING_FOK, FillingMode.IOC: mt5.ORDER_FILLING_IOC,
                                         FillingMode.RETURN: mt5.ORDER_FILLING_RETURN}
_TRADE_MODES = {mt5.SYMBOL_TRADE_MODE_DISABLED: TradeMode.DISABLED, mt5.SYMBOL_TRADE_MODE_LONGONLY: TradeMode.LONG_ONLY,
                mt5.SYMBOL_TRADE_MODE_SHORTONLY: TradeMode.SHORT_ONLY,
                mt5.SYMBOL_TRADE_MODE_CLOSEONLY: TradeMode.CLOSE_ONLY, mt5.SYMBOL_TRADE_MODE_FULL: TradeMode.FULL}
_ENTRIES = {mt5.DEAL_ENTRY_IN: DealEntry.IN, mt5.DEAL_ENTRY_OUT: DealEntry.OUT, mt5.DEAL_ENTRY_INOUT: DealEntry.INOUT,
            mt5.DEAL_ENTRY_OUT_BY: DealEntry.OUT_BY}
_KINDS = {mt5.DEAL_TYPE_BUY: DealKind.BUY, mt5.DEAL_TYPE_SELL: DealKind.SELL, mt5.DEAL_TYPE_BALANCE: DealKind.BALANCE,
          mt5.DEAL_TYPE_CREDIT: DealKind.CREDIT}


def utc(server_ms: int, offset: timedelta) -> datetime:
    """Return the UTC moment of a trade-server time in milliseconds."""
    return datetime.fromtimestamp(server_ms / 1000, UTC) - offset


def server_seconds(moment: datetime, offset: timedelta) -> int:
    """Return a UTC moment as trade-server seconds (what the history functions compare with)."""
    return int((moment + offset).timestamp())


def _level(value: float) -> float | None:
    return float(value) if value else None


def filling_modes(info: Any) -> tuple[FillingMode, ...]:
    """Return the filling modes a symbol accepts for market orders, fill-or-kill first."""
    flags = int(info.filling_mode)
    flagged = ((FillingMode.FOK, mt5.SYMBOL_FILLING_FOK), (FillingMode.IOC, mt5.SYMBOL_FILLING_IOC))
    modes = [mode for mode, flag in flagged if flags & flag]
    if int(info.trade_exemode) == mt5.SYMBOL_TRADE_EXECUTION_EXCHANGE or not modes:
        modes.append(FillingMode.RETURN)
    return tuple(modes)


# MT5's SYMBOL_CALC_MODE_* codes; the exchange modes (stocks, bonds, futures on exchanges) are 32 and up.
_CALC_MODES = {mt5.SYMBOL_CALC_MODE_FOREX: "forex", mt5.SYMBOL_CALC_MODE_FUTURES: "futures",
               mt5.SYMBOL_CALC_MODE_CFD: "cfd", mt5.SYMBOL_CALC_MODE_CFDINDEX: "cfd_index",
               mt5.SYMBOL_CALC_MODE_CFDLEVERAGE: "cfd_leverage",
               mt5.SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE: "forex_no_leverage"}


def symbol_spec(info: Any) -> SymbolSpec:
    """Return ``symbol_info()`` as a :class:`SymbolSpec`."""
    tick_value = float(info.trade_tick_value)
    return SymbolSpec(
        name=str(info.name), description=str(info.description), digits=int(info.digits), point=float(info.point),
        tick_size=float(info.trade_tick_size), tick_value=float(info.trade_tick_value_loss) or tick_value,
        tick_value_profit=float(info.trade_tick_value_profit) or tick_value,
        contract_size=float(info.trade_contract_size), volume_min=float(info.volume_min),
        volume_step=float(info.volume_step), volume_max=float(info.volume_max), filling_modes=filling_modes(info),
        stops_level=int(info.trade_stops_level), trade_mode=_TRADE_MODES.get(int(info.trade_mode), TradeMode.DISABLED),
        currency_base=str(info.currency_base), currency_profit=str(info.currency_profit),
        currency_margin=str(info.currency_margin), path=str(info.path),
        calc_mode=_CALC_MODES.get(int(info.trade_calc_mode), "exchange"), freeze_level=int(info.trade_freeze_level),
        pending_kinds=pending_kinds(info))


def pending_kinds(info: Any) -> tuple[PendingKind, ...]:
    """Return the pending order kinds a symbol accepts (its ``order_mode`` flags)."""
    flags = int(info.order_mode)
    kinds = ((PendingKind.LIMIT, mt5.SYMBOL_ORDER_LIMIT), (PendingKind.STOP, mt5.SYMBOL_ORDER_STOP),
             (PendingKind.STOP_LIMIT, mt5.SYMBOL_ORDER_STOP_LIMIT))
    return tuple(kind for kind, flag in kinds if flags & flag)


_ACCOUNT_MODES = {mt5.ACCOUNT_TRADE_MODE_DEMO: AccountMode.DEMO, mt5.ACCOUNT_TRADE_MODE_CONTEST: AccountMode.CONTEST,
                  mt5.ACCOUNT_TRADE_MODE_REAL: AccountMode.REAL}


def account(info: Any) -> AccountSnapshot:
    """Return ``account_info()`` as an :class:`AccountSnapshot`."""
    return AccountSnapshot(
        login=int(info.login), server=str(info.server), company=str(info.company), name=str(info.name),
        currency=str(info.currency), leverage=int(info.leverage), balance=float(info.balance),
        equity=float(info.equity), margin=float(info.margin), free_margin=float(info.margin_free),
        margin_level=float(info.margin_level), profit=float(info.profit), mode=_ACCOUNT_MODES.get(
            int(getattr(info, "trade_mode", mt5.ACCOUNT_TRADE_MODE_REAL)), AccountMode.REAL))


def position(record: Any, offset: timedelta) -> Position:
    """Return a ``TradePosition`` as a :class:`Position`."""
    return Position(
        ticket=int(record.ticket), symbol=str(record.symbol),
        side=Side.BUY if int(record.type) == mt5.POSITION_TYPE_BUY else Side.SELL, volume=float(record.volume),
        price_open=float(record.price_open), price_current=float(record.price_current), sl=_level(record.sl),
        tp=_level(record.tp), profit=float(record.profit), swap=float(record.swap), magic=int(record.magic),
        comment=str(record.comment), opened_at=utc(int(record.time_msc), offset))


def order(record: Any, offset: timedelta) -> OrderRecord:
    """Return a ``TradeOrder`` as an :class:`OrderRecord`."""
    done = int(record.time_done_msc)
    expires = int(record.time_expiration)
    return OrderRecord(
        ticket=int(record.ticket), symbol=str(record.symbol), order_type=int(record.type), state=int(record.state),
        volume_initial=float(record.volume_initial), volume_current=float(record.volume_current),
        price_open=float(record.price_open), sl=_level(record.sl), tp=_level(record.tp), magic=int(record.magic),
        comment=str(record.comment), position_id=int(record.position_id),
        setup_at=utc(int(record.time_setup_msc), offset), done_at=utc(done, offset) if done else None,
        stoplimit=_level(record.price_stoplimit), expires_at=utc(expires * 1000, offset) if expires else None)


def deal(record: Any, offset: timedelta) -> Deal:
    """Return a ``TradeDeal`` as a :class:`Deal`."""
    return Deal(
        ticket=int(record.ticket), order=int(record.order), position_id=int(record.position_id),
        symbol=str(record.symbol), kind=_KINDS.get(int(record.type), DealKind.OTHER),
        entry=_ENTRIES.get(int(record.entry), DealEntry.IN), volume=float(record.volume), price=float(record.price),
        profit=float(record.profit), commission=float(record.commission), swap=float(record.swap),
        fee=float(record.fee), magic=int(record.magic), comment=str(record.comment), reason=int(record.reason),
        time=utc(int(record.time_msc), offset))


def candles(rates: Any, offset: timedelta) -> tuple[Candle, ...]:
    """Return a rates array as :class:`Candle` values."""
    return tuple(Candle(time=utc(int(row["time"]) * 1000, offset), open=float(row["open"]), high=float(row["high"]),
                        low=float(row["low"]), close=float(row["close"]), tick_volume=int(row["tick_volume"]),
                        spread=int(row["spread"])) for row in rates)
