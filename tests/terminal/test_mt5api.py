"""The MT5 surface matches the official package: record fields in order, constants, the function list."""

from __future__ import annotations

import inspect

import pytest
from tnm_desktop.terminal import mt5api

# Field orders as the official package prints its named tuples (mql5.com reference examples).
OFFICIAL_FIELDS = {
    "TradePosition": "ticket time time_msc time_update time_update_msc type magic identifier reason volume "
                     "price_open sl tp price_current swap profit symbol comment external_id",
    "TradeOrder": "ticket time_setup time_setup_msc time_done time_done_msc time_expiration type type_time "
                  "type_filling state magic position_id position_by_id reason volume_initial volume_current "
                  "price_open sl tp price_current price_stoplimit symbol comment external_id",
    "TradeDeal": "ticket order time time_msc type entry magic position_id reason volume price commission swap "
                 "profit fee symbol comment external_id",
    "TradeRequest": "action magic order symbol volume price stoplimit sl tp deviation type type_filling type_time "
                    "expiration comment position position_by",
    "OrderSendResult": "retcode deal order volume price bid ask comment request_id retcode_external request",
    "OrderCheckResult": "retcode balance equity profit margin margin_free margin_level comment request",
    "Tick": "time bid ask last volume time_msc flags volume_real",
    "AccountInfo": "login trade_mode leverage limit_orders margin_so_mode trade_allowed trade_expert margin_mode "
                   "currency_digits fifo_close balance credit profit equity margin margin_free margin_level "
                   "margin_so_call margin_so_so margin_initial margin_maintenance assets liabilities "
                   "commission_blocked name server currency company",
    "TerminalInfo": "community_account community_connection connected dlls_allowed trade_allowed tradeapi_disabled "
                    "email_enabled ftp_enabled notifications_enabled mqid build maxbars codepage ping_last "
                    "community_balance retransmission company name language path data_path commondata_path",
}


@pytest.mark.parametrize("name", sorted(OFFICIAL_FIELDS))
def test_record_fields_are_the_official_ones_in_order(name: str) -> None:
    record = getattr(mt5api, name)
    assert record._fields == tuple(OFFICIAL_FIELDS[name].split())


def test_symbol_info_has_every_official_field_in_order() -> None:
    official = (
        "custom chart_mode select visible session_deals session_buy_orders session_sell_orders volume volumehigh "
        "volumelow time digits spread spread_float ticks_bookdepth trade_calc_mode trade_mode start_time "
        "expiration_time trade_stops_level trade_freeze_level trade_exemode swap_mode swap_rollover3days "
        "margin_hedged_use_leg expiration_mode filling_mode order_mode order_gtc_mode option_mode option_right bid "
        "bidhigh bidlow ask askhigh asklow last lasthigh lastlow volume_real volumehigh_real volumelow_real "
        "option_strike point trade_tick_value trade_tick_value_profit trade_tick_value_loss trade_tick_size "
        "trade_contract_size trade_accrued_interest trade_face_value trade_liquidity_rate volume_min volume_max "
        "volume_step volume_limit swap_long swap_short margin_initial margin_maintenance session_volume "
        "session_turnover session_interest session_buy_orders_volume session_sell_orders_volume session_open "
        "session_close session_aw session_price_settlement session_price_limit_min session_price_limit_max "
        "margin_hedged price_change price_volatility price_theoretical price_greeks_delta price_greeks_theta "
        "price_greeks_gamma price_greeks_vega price_greeks_rho price_greeks_omega price_sensitivity basis category "
        "currency_base currency_profit currency_margin bank description exchange formula isin name page path")
    assert mt5api.SymbolInfo._fields == tuple(official.split())


def test_constants_the_agent_relies_on() -> None:
    assert (mt5api.TRADE_ACTION_DEAL, mt5api.TRADE_ACTION_PENDING, mt5api.TRADE_ACTION_SLTP,
            mt5api.TRADE_ACTION_MODIFY, mt5api.TRADE_ACTION_REMOVE, mt5api.TRADE_ACTION_CLOSE_BY) == (1, 5, 6, 7, 8, 10)
    assert (mt5api.ORDER_FILLING_FOK, mt5api.ORDER_FILLING_IOC, mt5api.ORDER_FILLING_RETURN) == (0, 1, 2)
    assert (mt5api.TRADE_RETCODE_DONE, mt5api.TRADE_RETCODE_TIMEOUT, mt5api.TRADE_RETCODE_INVALID_FILL,
            mt5api.TRADE_RETCODE_CONNECTION) == (10009, 10012, 10030, 10031)
    assert mt5api.TIMEFRAME_H1 == 0x4001 and mt5api.TIMEFRAME_D1 == 0x4018 and mt5api.TIMEFRAME_MN1 == 0xC001
    assert mt5api.IPC_ERRORS == frozenset(range(-10005, -9999))
    assert all(code in mt5api.RETCODE_COMMENTS for code in range(10004, 10046) if code not in (10005, 10037))


def test_protocol_lists_every_function() -> None:
    members = {name for name, _ in inspect.getmembers(mt5api.Mt5Api, inspect.isfunction)}
    assert set(mt5api.FUNCTIONS) <= members
    assert mt5api.RATES_DTYPE.names == ("time", "open", "high", "low", "close", "tick_volume", "spread",
                                        "real_volume")
