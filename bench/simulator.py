"""The simulator's cost per order: its state file's store against format 1's whole-file rewrite.

    python -m bench.simulator [--orders 2000] [--v1-orders 100] [--history 0,2000,20000] [--quick]

For each history size (orders already in the account's history), the same in-process engine
sends market orders (``--orders``; ``--v1-orders`` for format 1, whose every save rewrites it
all) — alternately opening and closing a position, as the agent does in measurement 1 — three
ways in the same run:

* **store**: the state file as the simulator keeps it (SQLite in WAL mode, ``synchronous=FULL``,
  one durable commit per order holding only what the order changed);
* **format 1**: the same books saved as the simulator saved them before — the whole state as one
  JSON document, written to a temporary file, fsynced and renamed over the old one;
* **server**: the store behind the real ``simulator serve`` process, orders sent over its socket
  by the MT5 API client (what the agent sees: the call's round trip).

It prints the save alone and the whole ``order_send`` (the engine's work plus the save), per
order, in ms. Target (issue 16): under 1 ms per order, durable, with a full history.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tnm_desktop.terminal.simulator.api import SimulatedMt5
from tnm_desktop.terminal.simulator.client import RemoteMt5
from tnm_desktop.terminal.simulator.engine import Engine
from tnm_desktop.terminal.simulator.model import SimState, state_to_json
from tnm_desktop.terminal.simulator.process import start_simulator
from tnm_desktop.terminal.simulator.store import StateFile

from bench.common import Summary, books_with_history, print_machine, simulator_trade, table, verdict

PAGE = b"\0" * 4096


def _save_v1(path: Path) -> Callable[[SimState], None]:
    # Format 1's save as it was: the whole document, a temporary file, fsync, rename, fsync the folder.
    def save(state: SimState) -> None:
        data = json.dumps({"simulator": state_to_json(state)}, separators=(",", ":")).encode()
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    return save


def _timed(save: Callable[[SimState], None], into: list[tuple[float, float]]) -> Callable[[SimState], None]:
    def timed(state: SimState) -> None:
        start, cpu = time.perf_counter(), time.thread_time()
        save(state)
        into.append(((time.perf_counter() - start) * 1000, (time.thread_time() - cpu) * 1000))

    return timed


@dataclass(frozen=True)
class Costs:
    """Per order, ms: the save's wall time and CPU time, the whole call, and the disk's floor beside it."""

    save: Summary
    cpu: Summary
    send: Summary
    fsync: Summary


def _in_process(state: SimState, save: Callable[[SimState], None], orders: int, floor: Path) -> Costs:
    saves: list[tuple[float, float]] = []
    sim = SimulatedMt5(Engine(state, on_change=_timed(save, saves)))
    assert sim.initialize()
    sends: list[float] = []
    walls: list[float] = []
    cpus: list[float] = []
    fsyncs: list[float] = []
    position = 0
    with open(floor, "ab") as disk:
        for _ in range(orders):
            saves.clear()
            start = time.perf_counter()
            position = simulator_trade(sim, position)
            sends.append((time.perf_counter() - start) * 1000)
            walls.append(sum(s[0] for s in saves))  # every save the order caused (one: the order's own)
            cpus.append(sum(s[1] for s in saves))
            # The floor, on the same disk at the same moment: one page appended and flushed.
            start = time.perf_counter()
            disk.write(PAGE)
            disk.flush()
            os.fsync(disk.fileno())
            fsyncs.append((time.perf_counter() - start) * 1000)
    return Costs(Summary.of(walls), Summary.of(cpus), Summary.of(sends), Summary.of(fsyncs))


def _served(path: Path, orders: int) -> Summary:
    process = start_simulator(path)
    try:
        with RemoteMt5(path) as sim:
            assert sim.initialize()
            sends: list[float] = []
            position = 0
            for _ in range(orders):
                start = time.perf_counter()
                position = simulator_trade(sim, position)
                sends.append((time.perf_counter() - start) * 1000)
    finally:
        process.stop()
    return Summary.of(sends)


def measure(history: int, orders: int, v1_orders: int, work: Path) -> list[list[object]]:
    """Send ``orders`` orders three ways on an account with ``history`` orders; return table rows."""
    folder = work / f"history-{history}"
    folder.mkdir()
    base = json.dumps(state_to_json(books_with_history(history)))
    fresh = _copy(base)
    store_path = folder / "state.json"
    store, state = StateFile(store_path).open(lambda: fresh)
    try:
        new = _in_process(state, store.save, orders, folder / "floor")
    finally:
        store.close()
    v1_path = folder / "v1.json"
    old = _in_process(_copy(base), _save_v1(v1_path), v1_orders, folder / "floor")
    served = _served(store_path, orders)
    size_v1 = v1_path.stat().st_size / 1024
    size_store = store_path.stat().st_size / 1024

    def row(label: str, s: Summary, size: str = "") -> list[object]:
        return ["", label, s.p50, s.p99, s.mean, size]

    return [
        [f"{history:,}", *row("store: save", new.save, f"{size_store:,.0f}")[1:]],
        row("store: save, CPU", new.cpu),
        row("store: order_send (engine + save)", new.send),
        row("floor beside it: 4 KiB write + fsync", new.fsync),
        row("format 1: save", old.save, f"{size_v1:,.0f}"),
        row("format 1: save, CPU", old.cpu),
        row("format 1: order_send (engine + save)", old.send),
        row("floor beside it: 4 KiB write + fsync", old.fsync),
        row("server: order_send round trip (store)", served),
        ["", "format 1 save ÷ store save (mean)", old.save.mean / new.save.mean, "", "", ""],
        ["", "store save − floor (p50)", new.save.p50 - new.fsync.p50, "", "", ""],
    ]


def _copy(document: str) -> SimState:
    from tnm_desktop.terminal.simulator.checked import state_from_json

    return state_from_json(json.loads(document))


def main() -> None:
    """Run the measurement and print it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000, help="orders sent each way (default 2000)")
    parser.add_argument("--history", default="0,2000,20000",
                        help="orders already in the history, comma-separated (default 0,2000,20000)")
    parser.add_argument("--v1-orders", type=int, default=100,
                        help="orders saved the format 1 way (default 100: each rewrites the whole file)")
    parser.add_argument("--quick", action="store_true",
                        help="300 orders (30 the format 1 way) on 0 and 3,000 in the history (under a minute)")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.v1_orders, args.history = 300, 30, "0,3000"
    print_machine()
    work = Path(tempfile.mkdtemp(prefix="tnm-bench-simulator-"))
    try:
        rows: list[list[object]] = []
        worst = beyond = cpu = 0.0
        for history in (int(h) for h in args.history.split(",")):
            measured = measure(history, args.orders, args.v1_orders, work)
            worst = max(worst, float(measured[0][4]))  # type: ignore[arg-type]
            cpu = max(cpu, float(measured[1][4]))  # type: ignore[arg-type]
            beyond = max(beyond, float(measured[-1][2]))  # type: ignore[arg-type]
            rows += measured
        print(f"Per order, ms ({args.orders:,} orders through the store and the server, {args.v1_orders:,} the "
              "format 1 way; alternately opening and closing a position):")
        print(table(["history", "what", "p50", "p99", "mean", "file KiB"], rows))
        print(f"\nTarget: the store's save under 1 ms per order, durable, with a full history: "
              f"{verdict(worst < 1.0)} on this disk now (worst mean {worst:.2f} ms, one fsync included);\n"
              f"  its CPU per order {cpu:.2f} ms (mean, worst history) and its time beyond the disk's own "
              f"write + fsync {beyond:.2f} ms (p50): {verdict(cpu < 1.0 and beyond < 1.0)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
