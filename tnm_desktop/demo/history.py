"""A made-up week of closed trades and balance readings, so the demo's History tab has something to show.

Like the demo's day of sync history, it is invented (and says so in the README): deals numbered
from 9,000,001, well below the simulator's own tickets (40,000,001 on), so the agent's syncs add
the simulator's real deals beside them and never overwrite one.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg

FIRST_TICKET = 9_000_001
# (symbol, side, lots, open price, close price, pip, money per pip per lot) — EURUSD and gold
_MARKETS = {"EURUSD.m": (1.0830, 0.0001, 10.0, 5), "XAUUSD.m": (2640.0, 0.1, 10.0, 2)}


def seed_history(conn: psycopg.Connection[tuple[object, ...]], user: str, account: str,
                 magic: dict[str, int], balance_now: float = 10_000.0) -> None:
    """Closed trades of the last seven days (none today) and hourly balance and equity readings."""
    rng = random.Random(11)  # noqa: S311 — the same demo every time, not a secret
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(days=7)
    trades = []
    for i in range(26):
        name = "Gold breakout" if i % 3 == 2 else "EURUSD trend"
        symbol = "XAUUSD.m" if name == "Gold breakout" else "EURUSD.m"
        base, pip, per_pip, digits = _MARKETS[symbol]
        opened = start + timedelta(hours=4 + i * 5.3 + rng.random())
        closed = opened + timedelta(minutes=rng.randint(20, 240))
        if closed.date() >= now.date():
            break
        side = rng.choice(["buy", "sell"])
        lots = 0.1 if symbol == "EURUSD.m" else 0.05
        won = rng.random() < 0.58
        pips = rng.uniform(15, 45) if won else -rng.uniform(10, 25)
        price_in = round(base + rng.uniform(-0.004, 0.004) * (1 if symbol == "EURUSD.m" else 400), digits)
        move = pips * pip if side == "buy" else -pips * pip
        price_out = round(price_in + move, digits)
        profit = round(pips * per_pip * lots, 2)
        trades.append((name, symbol, side, lots, price_in, price_out, profit, opened, closed))
    net = sum(t[6] for t in trades)
    rows: list[tuple[object, ...]] = []
    ticket = FIRST_TICKET
    for name, symbol, side, lots, price_in, price_out, profit, opened, closed in trades:
        out_side = "sell" if side == "buy" else "buy"
        position = ticket
        commission = -round(3.5 * lots, 2)
        rows.append((user, account, ticket, ticket, position, symbol, side, "in", lots, price_in, 0, commission, 0,
                     magic[name], f"demo {name}", opened))
        rows.append((user, account, ticket + 1, ticket + 1, position, symbol, out_side, "out", lots, price_out, profit,
                     commission, 0, magic[name], "", closed))
        ticket += 2
    with conn.cursor() as cur:
        cur.executemany(
            "insert into trades (user_id, account_id, ticket, order_ticket, position_id, symbol, side, entry, volume, "
            "price, profit, commission, swap, magic, comment, executed_at) values (%s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s, %s, %s, %s, %s) on conflict (account_id, ticket) do nothing", rows)
    # Hourly readings: the balance steps at each close; equity wanders around it while a trade is open.
    balance = balance_now - net - sum(-round(3.5 * t[3], 2) * 2 for t in trades)
    readings: list[tuple[object, ...]] = []
    moment = start
    while moment <= now:
        for t in trades:
            if moment - timedelta(hours=1) < t[8] <= moment:
                balance += t[6] - round(3.5 * t[3], 2) * 2
        open_now = [t for t in trades if t[7] <= moment < t[8]]
        equity = balance + sum(t[6] * rng.uniform(-0.6, 0.9) for t in open_now)
        readings.append((account, user, moment, round(balance, 2), round(equity, 2)))
        moment += timedelta(hours=1)
    with conn.cursor() as cur:
        cur.executemany("insert into account_equity (account_id, user_id, at, balance, equity) values "
                        "(%s, %s, %s, %s, %s) on conflict do nothing", readings)
