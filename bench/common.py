"""What every benchmark needs: a private database, a seeded trader, percentiles and the machine.

Every benchmark starts its own PostgreSQL cluster in a temporary directory (through the same
``tnm_desktop.pgcluster`` the app uses, so it runs the shipped migrations and settings) and removes
it afterwards. As root, PostgreSQL runs as an unprivileged user, so the directory is made
enterable for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import bcrypt
import keyring
import psycopg
from tnm_desktop import pgcluster
from tnm_desktop.agent.pairing import BCRYPT_ROUNDS, hash_key
from tnm_desktop.domain import PairingKeyHashes
from tnm_desktop.keystore import FileKeyring
from tnm_desktop.pgcluster import LocalCluster
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator.api import SimulatedMt5
from tnm_desktop.terminal.simulator.client import RemoteMt5
from tnm_desktop.terminal.simulator.engine import wall_ms
from tnm_desktop.terminal.simulator.model import SimState, new_state
from tnm_desktop.terminal.simulator.process import SimulatorProcess, start_simulator
from tnm_desktop.terminal.simulator.store import StateFile

# ------------------------------------------------------------------------------------------------
# A private database


@dataclass(frozen=True)
class BenchDb:
    """A running private cluster with the whole schema, and its role URLs."""

    root: Path
    cluster: LocalCluster

    @property
    def admin(self) -> str:
        """The superuser (set-up and reading timestamps only)."""
        return self.cluster.conninfo(user="postgres")

    @property
    def app(self) -> str:
        """``authenticator``: what the app and the agent connect as (statements run as the user)."""
        return self.cluster.conninfo(user="authenticator")

    @property
    def auth(self) -> str:
        """``supabase_auth_admin``: sign-in."""
        return self.cluster.conninfo(user="supabase_auth_admin")

    @property
    def ingest(self) -> str:
        """``tnm_ingest``: the webhook receiver."""
        return self.cluster.conninfo(user="tnm_ingest")

    def url(self, dbname: str, user: str = "postgres") -> str:
        """The URL of another database of the cluster."""
        return self.cluster.conninfo(user=user, dbname=dbname)


def scratch_dir(prefix: str) -> Path:
    """A temporary directory the PostgreSQL server user can enter (it is not us when we are root)."""
    # mkdtemp picks a fresh name; /tmp rather than a home directory the server user cannot cross.
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp" if os.name == "posix" else None))  # noqa: S108
    os.chmod(root, 0o755)  # noqa: S103 — the server user must enter it; it holds only benchmark data
    return root


@contextlib.contextmanager
def private_database(prefix: str = "tnm-bench-", *, fast: bool = False) -> Iterator[BenchDb]:
    """Start a private cluster with every migration applied; stop and delete it afterwards.

    Args:
        prefix: Name prefix of the temporary directory.
        fast: fsync off (the tests' setting). The default is the local workspace's own setting,
            durable commits, because that is what a trader runs.
    """
    root = scratch_dir(prefix)
    # Secrets of the agents the benchmarks pair go to a file in the scratch directory, never to
    # the keyring of whoever runs the benchmark.
    keyring.set_keyring(FileKeyring(root / "keyring.json"))
    cluster: LocalCluster | None = None
    try:
        cluster, _ = pgcluster.up(root / "db", fast=fast)
        yield BenchDb(root, cluster)
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# A trader with a paired agent, a broker connection and a strategy


@dataclass(frozen=True)
class Trader:
    """What :func:`seed_trader` created."""

    user_id: str
    email: str
    agent_id: str
    key: str
    broker_id: str
    strategy_id: str
    secret: str


def pairing_hashes(key: str, rounds: int = BCRYPT_ROUNDS) -> PairingKeyHashes:
    """What the app stores for a pairing key (bcrypt at the app's cost by default, SHA-256, prefix)."""
    return hash_key(key, rounds)


def seed_trader(admin_url: str, *, email: str | None = None, rounds: int = BCRYPT_ROUNDS,
                terminal_path: str = "simulator:", symbols: Sequence[str] = ()) -> Trader:
    """Create a trader as the app would: user, risk settings, a paired agent, a broker, a strategy.

    Args:
        admin_url: Superuser URL.
        email: The trader's e-mail (default: a fresh one).
        rounds: bcrypt cost of the pairing key's hash (the app's own by default).
        terminal_path: Where the agent trades (the simulator by default).
        symbols: The broker's symbol catalog as the agent would report it (empty: not reported).
    """
    email = email or f"trader-{secrets.token_hex(4)}@bench.local"
    key = "pk_" + secrets.token_hex(32)
    password = bcrypt.hashpw(b"bench-password", bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()
    with psycopg.connect(admin_url, autocommit=True) as conn, conn.transaction():
        user = _one(conn, "insert into auth.users (email, encrypted_password, email_confirmed_at) "
                          "values (%s, %s, now()) returning id::text", email, password)
        conn.execute("update user_settings set risk_percent = 1.0, default_sl_pips = 20, max_lot_size = 5 "
                     "where user_id = %s", (user,))
        hashes = pairing_hashes(key, rounds)
        agent = _one(conn, "insert into mt5_agents (user_id, name, machine_name, terminal_path, pairing_key_hash, "
                           "pairing_key_sha256, pairing_key_prefix) values (%s, 'bench', 'bench', %s, %s, %s, %s) "
                           "returning id::text", user, terminal_path, hashes.bcrypt, hashes.sha256, hashes.prefix)
        broker = _one(conn, "insert into broker_connections (user_id, agent_id, name, symbol_suffix) "
                            "values (%s, %s, 'Simulator', '.m') returning id::text", user, agent)
        strategy = _one(conn, "insert into tv_strategies (user_id, broker_connection_id, name) "
                              "values (%s, %s, 'Bench') returning id::text", user, broker)
        secret = _one(conn, "select webhook_secret from tv_strategies where id = %s", strategy)
        if symbols:
            conn.execute("insert into broker_symbols (broker_connection_id, user_id, symbol) "
                         "select %s, %s, unnest(%s::text[])", (broker, user, list(symbols)))
    return Trader(user, email, agent, key, broker, strategy, secret)


def _one(conn: psycopg.Connection[tuple[object, ...]], query: str, *params: object) -> str:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return str(row[0])


def trade_payload(trader: Trader, *, action: str = "buy") -> str:
    """A trade job's payload as ingestion writes it (fixed lots: no terminal call for sizing)."""
    return json.dumps({
        "signal_id": None, "strategy_id": trader.strategy_id, "broker_connection_id": trader.broker_id,
        "action": action, "symbol": "EURUSD", "broker_symbol": "EURUSD.m",
        "sizing": {"mode": "lots", "lots": 0.01}, "sl": None, "tp": None, "close": None,
        "limits": {"max_lot_size": None, "default_sl_pips": None, "default_lot_size": 0.01,
                   "max_slippage_points": 20, "max_open_positions": None, "trading_enabled": True},
        "allowed_pairs": None})


# ------------------------------------------------------------------------------------------------
# Figures


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), linear between the closest ranks; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """Percentiles of one series (in the series' unit)."""

    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        """Summarise a series."""
        if not values:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan)
        return cls(len(values), pct(values, 50), pct(values, 95), pct(values, 99), statistics.fmean(values),
                   max(values))


def median_of(summaries: Sequence[Summary]) -> Summary:
    """Field by field, the median over repeated runs."""
    return Summary(int(statistics.median(s.n for s in summaries)),
                   *(statistics.median(getattr(s, f) for s in summaries) for f in ("p50", "p95", "p99", "mean",
                                                                                   "max")))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table, numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True)))
    out = [line, "  ".join("-" * w for w in widths)]
    for row in cells:
        out.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                             for i, (v, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(out)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def verdict(met: bool) -> str:
    """How a target reads in the output."""
    return "MET" if met else "MISSED"


# ------------------------------------------------------------------------------------------------
# The machine


def machine(cluster: LocalCluster | None = None) -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        ram = f"{kib / 1024 / 1024:.1f} GiB"
    os_name = platform.platform()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"') + f" (kernel {platform.release()})"
    pg = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        install = cluster.install if cluster is not None else pgcluster.find_postgres()
        pg = subprocess.run([install.tool("postgres"), "--version"], capture_output=True, text=True,
                            check=True, timeout=10).stdout.strip()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu, "cores": str(os.cpu_count()),
            "ram": ram, "os": os_name, "python": platform.python_version(), "postgresql": pg,
            "load": f"{load} (1, 5, 15 min: other work on the machine skews the figures)"}


def print_machine(cluster: LocalCluster | None = None) -> None:
    """Print the machine header every benchmark starts with."""
    for key, value in machine(cluster).items():
        print(f"{key:>10}: {value}")
    print()


def start_bench_simulator(work: Path, history: int = 0) -> tuple[Path, SimulatorProcess]:
    """The simulator as its own process, its state in ``work``: (state file, process).

    Args:
        work: Where its state file goes.
        history: Orders (and as many deals) already in the account's history when it starts.
    """
    state = work / "simulator" / "state.json"
    state.parent.mkdir(parents=True)
    if history:
        books = books_with_history(history)
        store, _ = StateFile(state).open(lambda: books)
        store.close()
    return state, start_simulator(state)


def simulator_trade(sim: SimulatedMt5 | RemoteMt5, position: int, symbol: str = "EURUSD.m") -> int:
    """Open a 0.01-lot position (``position`` 0) or close it; return the position to close next (0 after a close)."""
    tick = sim.symbol_info_tick(symbol)
    assert tick is not None, sim.last_error()
    buy = position == 0
    request = {"action": mt5.TRADE_ACTION_DEAL, "symbol": symbol, "volume": 0.01,
               "type": mt5.ORDER_TYPE_BUY if buy else mt5.ORDER_TYPE_SELL, "price": tick.ask if buy else tick.bid,
               "deviation": 50, "type_filling": mt5.ORDER_FILLING_FOK, "comment": "bench"}
    if position:
        request["position"] = position
    result = sim.order_send(request)
    assert result is not None, sim.last_error()
    assert result.retcode == mt5.TRADE_RETCODE_DONE, result
    return int(result.order) if buy else 0


def books_with_history(orders: int) -> SimState:
    """A fresh simulator account with ``orders`` orders (and as many deals) in its history, ending flat."""
    sim = SimulatedMt5(state=new_state(now_ms=wall_ms()))
    assert sim.initialize()
    position = 0
    for _ in range(orders + orders % 2):
        position = simulator_trade(sim, position)
    return sim.engine.state
