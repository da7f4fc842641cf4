"""The simulator as its own process: loopback only, token-checked, state that survives kills."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator.client import RemoteMt5
from tnm_desktop.terminal.simulator.process import SimulatorProcess, start_simulator
from tnm_desktop.terminal.simulator.store import StateFile

from tests.must import must
from tests.terminal.simhelp import market

REPO = Path(__file__).resolve().parents[2]

# A client that keeps opening positions until it is killed.
CLIENT = """
import sys
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator.client import RemoteMt5
sim = RemoteMt5(sys.argv[1])
assert sim.initialize()
for i in range(10_000):
    result = sim.order_send({"action": mt5.TRADE_ACTION_DEAL, "symbol": "USDJPY.m", "volume": 0.01,
                             "type": mt5.ORDER_TYPE_BUY, "type_filling": mt5.ORDER_FILLING_IOC,
                             "price": sim.symbol_info_tick("USDJPY.m").ask, "deviation": 50, "comment": f"k{i}"})
    print(result.order, flush=True)
"""


Connect = Callable[[], RemoteMt5]


def _initialized(connect: Connect) -> RemoteMt5:
    sim = connect()
    assert sim.initialize()
    return sim


def _history_lines(state_file: Path) -> list[dict[str, object]]:
    out = subprocess.run([sys.executable, "-m", "tnm_desktop", "simulator", "history", "--state", str(state_file)],
                         cwd=REPO, capture_output=True, text=True, check=True, timeout=60).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_it_listens_on_loopback_only_and_keeps_its_state_owner_only(served: SimulatorProcess, state_file: Path) -> None:
    assert served.host == "127.0.0.1"
    endpoint = StateFile(state_file).endpoint()
    assert endpoint is not None and (endpoint.host, endpoint.port) == ("127.0.0.1", served.port)
    assert len(endpoint.token) >= 40 and "token=<redacted>" in repr(endpoint)
    assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o600
    assert _listening_addresses(served.port) == {"127.0.0.1"}


def _listening_addresses(port: int) -> set[str]:
    """Return the IPv4 addresses a TCP port listens on, as the OS reports them."""
    proc = Path("/proc/net/tcp")
    if proc.exists():  # Linux: the kernel's own table
        found = set()
        for line in proc.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
        return found
    # Elsewhere: the port must refuse connections on this machine's outward address.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.connect(("192.0.2.1", 9))  # no packet is sent; this only picks the outward interface
        outward = udp.getsockname()[0]
    with socket.socket() as probe:
        probe.settimeout(5)
        return {"127.0.0.1"} if probe.connect_ex((outward, port)) != 0 else {"127.0.0.1", outward}


def test_it_only_dispatches_named_methods_to_callers_with_the_token(served: SimulatorProcess, state_file: Path) -> None:
    endpoint = StateFile(state_file).endpoint()
    assert endpoint is not None

    def ask(payload: dict[str, object]) -> dict[str, object]:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as conn:
            conn.sendall(json.dumps(payload).encode() + b"\n")
            reply: dict[str, object] = json.loads(conn.makefile("rb").readline())
            return reply

    base = {"id": 1, "token": endpoint.token, "target": "mt5", "args": [], "kwargs": {}}
    assert ask({**base, "method": "symbols_total"}) == {"id": 1, "value": None, "last_error": [-10004,
                                                                                              "No IPC connection"]}
    for method in ("__class__", "engine", "_call", "eval"):
        assert ask({**base, "method": method})["fail"] == {"type": "AttributeError",
                                                           "message": f"no such method: {method!r}"}
    assert ask({**base, "target": "control", "method": "_engine"})["fail"]["type"] == "AttributeError"  # type: ignore[index]
    assert ask({**base, "token": "guess", "method": "symbols_total"})["fail"]["type"] == "PermissionError"  # type: ignore[index]
    assert ask({key: value for key, value in base.items() if key != "token"} | {"method": "initialize"})[
        "fail"]["type"] == "PermissionError"  # type: ignore[index]


def test_killing_a_client_with_sigkill_leaves_the_books_intact(served: SimulatorProcess, state_file: Path,
                                                               remote: Connect) -> None:
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(state_file)], cwd=REPO, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert client.stdout is not None
        tickets = [int(client.stdout.readline()) for _ in range(5)]
        client.kill()  # SIGKILL, in the middle of its stream of orders
    finally:
        client.kill()
        client.wait()
        if client.stdout is not None:
            client.stdout.close()
    sim = _initialized(remote)
    positions = must(sim.positions_get())
    deals = [d for d in must(sim.history_deals_get(0, 2**40)) if d.entry == mt5.DEAL_ENTRY_IN and d.symbol]
    orders = must(sim.history_orders_get(0, 2**40))
    assert set(tickets) <= {p.ticket for p in positions}
    assert sorted(p.ticket for p in positions) == sorted(d.position_id for d in deals) == sorted(o.ticket for o in
                                                                                               orders)
    assert sorted(p.comment for p in positions) == sorted(f"k{i}" for i in range(len(positions)))
    account = must(sim.account_info())
    assert account.balance == 10_000.0
    assert account.margin == round(sum(must(sim.order_calc_margin(0, "USDJPY.m", p.volume, p.price_open))
                                       for p in positions), 2)
    saved = StateFile(state_file).load()
    assert saved is not None and sorted(p.ticket for p in saved.positions) == sorted(p.ticket for p in positions)
    assert len([line for line in _history_lines(state_file) if line["record"] == "order"]) == len(positions)


def test_a_restarted_server_resumes_the_same_account_even_after_sigkill(state_file: Path, remote: Connect) -> None:
    first = start_simulator(state_file, manual_clock=True, seed=3)
    try:
        sim = _initialized(remote)
        kept = market(sim, "EURUSD.m", mt5.ORDER_TYPE_BUY, 0.3, sl=1.0, comment="kept")
        closed = market(sim, "GBPUSD.m", mt5.ORDER_TYPE_SELL, 0.2, comment="closed")
        market(sim, "GBPUSD.m", mt5.ORDER_TYPE_BUY, 0.2, position=closed.order, comment="close")
        sim.control.advance_time(600)
        before = (sim.positions_get(), sim.history_deals_get(0, 2**40), sim.history_orders_get(0, 2**40),
                  must(sim.account_info()).balance, sim.control.now_ms())
        first.kill()  # SIGKILL: no chance to save anything more
    finally:
        first.stop()
    assert sim.positions_get() is None and sim.last_error()[0] in mt5.IPC_ERRORS
    second = start_simulator(state_file)
    try:
        assert sim.positions_get() is None  # a new terminal: the old connection is gone
        assert sim.initialize()
        after = (sim.positions_get(), sim.history_deals_get(0, 2**40), sim.history_orders_get(0, 2**40),
                 must(sim.account_info()).balance, sim.control.now_ms())
        assert after == before
        assert [p.ticket for p in must(after[0])] == [kept.order]
        again = market(sim, "EURUSD.m", mt5.ORDER_TYPE_BUY, 0.1)
        assert again.order > max(o.ticket for o in must(before[2]))  # tickets carry on, never reused
    finally:
        assert second.stop() == 0
    # Stopped cleanly: the file no longer names an endpoint, and the history still reads from it.
    assert StateFile(state_file).endpoint() is None
    assert sim.account_info() is None and sim.last_error()[0] in mt5.IPC_ERRORS
    lines = _history_lines(state_file)
    assert [line["comment"] for line in lines if line["record"] == "deal"] == [
        "Initial deposit", "kept", "closed", "close", ""]


def test_history_prints_json_lines_while_the_server_runs(served: SimulatorProcess, state_file: Path,
                                                        remote: Connect) -> None:
    sim = _initialized(remote)
    opened = market(sim, "XAUUSD.m", mt5.ORDER_TYPE_BUY, 0.1, comment="gold", magic=12)
    lines = _history_lines(state_file)
    orders = [line for line in lines if line["record"] == "order"]
    deals = [line for line in lines if line["record"] == "deal"]
    assert [(o["ticket"], o["comment"], o["magic"]) for o in orders] == [(opened.order, "gold", 12)]
    assert [(d["order"], d["symbol"], d["entry"]) for d in deals] == [(0, "", 0), (opened.order, "XAUUSD.m", 0)]
    assert deals[1]["time"] == must(sim.history_deals_get(ticket=opened.order))[0].time


def test_a_second_server_on_the_same_file_is_refused(served: SimulatorProcess, state_file: Path,
                                                    remote: Connect) -> None:
    second = subprocess.run([sys.executable, "-m", "tnm_desktop", "simulator", "serve", "--state", str(state_file)],
                            cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 2
    assert "Another simulator is already serving" in second.stderr
    assert _initialized(remote).symbols_total() == 6


def test_a_taken_port_is_reported_and_sigint_stops_the_server_cleanly(served: SimulatorProcess, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    clash = subprocess.run([sys.executable, "-m", "tnm_desktop", "simulator", "serve", "--state", str(other),
                            "--port", str(served.port)], cwd=REPO, capture_output=True, text=True, timeout=60,
                           check=False)
    assert clash.returncode == 2
    assert f"cannot listen on 127.0.0.1:{served.port}" in clash.stderr
    second = start_simulator(other)
    try:
        second.process.send_signal(signal.SIGINT)
        assert second.process.wait(30) == 0
    finally:
        second.stop()
    assert StateFile(other).endpoint() is None and StateFile(other).load() is not None
