"""The receiver's long fuzz run: 20,000 hostile requests, no 5xx, nothing lost, no secret in the log.

    python -m bench.receiver_fuzz [--requests 20000] [--seed N] [--idle 10]

``tnm-desktop -v webhook serve`` (debug logging, to a file) on a private database with three
strategies (enabled, disabled, allowed pairs), and the requests of ``tests/ingest/fuzzing.py``:
well-formed posts with any body (80 %), the secret spelled in odd paths (10 %), malformed HTTP
quoting a secret and random bytes (10 %). The test suite runs the same requests for 15 seconds;
this is the run that found the receiver's defects, kept as it was. Meanwhile ``--idle``
connections that never send a request (and as many that send half a request line) wait for the
server to close them.

It prints the requests per second, the answers by status and kind, the signals logged against the
requests answered, the log's size and the lines it spent on malformed requests, the secrets found
in it, and when the idle connections were closed; it exits 1 if anything that must hold did not.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import psycopg
from tests.ingest import fuzzing

from bench.common import print_machine, private_database, scratch_dir, seed_trader, table


def _add_strategy(admin: str, user_id: str, broker_id: str, name: str, **columns: object) -> str:
    cols = {"user_id": user_id, "broker_connection_id": broker_id, "name": name, **columns}
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(f"insert into tv_strategies ({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))}) "
                           "returning webhook_secret", tuple(cols.values())).fetchone()
    assert row is not None
    return str(row[0])


class IdleWatch:
    """Connections that send nothing (or half a request line) and the time the server closed each."""

    def __init__(self, base_url: str, count: int) -> None:
        host, port = base_url.removeprefix("http://").rsplit(":", 1)
        self.closed_after: list[float | None] = []
        self._threads = []
        for n in range(2 * count):
            sock = socket.create_connection((host, int(port)), timeout=600)
            if n % 2:
                sock.sendall(b"POST /tv/")
            thread = threading.Thread(target=self._wait, args=(sock, time.monotonic(), len(self.closed_after)),
                                      daemon=True)
            self.closed_after.append(None)
            self._threads.append(thread)
            thread.start()

    def _wait(self, sock: socket.socket, opened: float, slot: int) -> None:
        with sock:
            try:
                while sock.recv(4096):
                    pass
            except OSError:
                pass
            self.closed_after[slot] = time.monotonic() - opened

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests to send (default 20000)")
    parser.add_argument("--seed", type=int, help="replay a run (default: a random seed, printed)")
    parser.add_argument("--idle", type=int, default=10, help="silent connections (and as many half-sent) to watch")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    print_machine()
    print(f"seed {seed}, {args.requests:,} requests\n")

    work = scratch_dir("tnm-bench-fuzz-")
    try:
        return _run(args, seed, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, seed: int, work: Path) -> int:
    with private_database("tnm-bench-fuzz-db-", fast=True) as db:
        trader = seed_trader(db.admin, rounds=4)
        known = {"enabled": trader.secret,
                 "disabled": _add_strategy(db.admin, trader.user_id, trader.broker_id, "Paused", is_enabled=False),
                 "majors": _add_strategy(db.admin, trader.user_id, trader.broker_id, "Majors",
                                         allowed_pairs=["EURUSD", "GBPJPY"], risk_override_pct=2)}
        log_path = work / "receiver.log"
        with fuzzing.receiver_process(db.ingest, log_path, "--rate", "500", "--burst", "200") as base_url:
            idle = IdleWatch(base_url, args.idle)
            result = fuzzing.run(base_url, known, seed=seed, seconds=float("inf"), max_requests=args.requests,
                                 progress=lambda r: print(f"  {r.total:,} sent", flush=True))
            idle.join(timeout=60)
        log_text = log_path.read_text(encoding="utf-8", errors="replace")
        problems = fuzzing.verify(result, db.admin, known, log_text)

    lines = log_text.splitlines()
    print()
    print(table(["figure", "value"], [
        ["requests", f"{result.total:,} in {result.elapsed:.1f} s ({result.total / result.elapsed:.0f}/s)"],
        ["by kind", json.dumps(dict(sorted(result.kinds.items())))],
        ["answers by status", json.dumps({str(k): v for k, v in sorted(result.statuses.items(), key=str)})],
        ["5xx answers", sum(v for k, v in result.statuses.items() if k is not None and k >= 500)],
        ["signals logged / requests to known secrets", f"{len(result.signal_ids):,} / {sum(result.sent.values()):,}"],
        ["accepted alerts (trade jobs)", f"{result.accepted:,}"],
        ["log lines (debug level)", f"{len(lines):,}"],
        ["lines on malformed HTTP", f"{fuzzing.malformed_lines(log_text)} for {result.kinds['broken']:,} malformed"],
        ["tracebacks in the log", log_text.count("Traceback")],
        ["secrets in the log", len(fuzzing.leaked_secrets(log_text, known.values()))],
        ["idle connections closed by the server",
         _closed(idle.closed_after)],
    ]))
    if any(after is None for after in idle.closed_after):
        problems.append("an idle connection was still open a minute after the run")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("\nverdict:", "every property held" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def _closed(closed_after: list[float | None]) -> str:
    done = [after for after in closed_after if after is not None]
    if not done:
        return f"0 of {len(closed_after)}"
    return f"{len(done)} of {len(closed_after)}, after {min(done):.1f}–{max(done):.1f} s"


if __name__ == "__main__":
    sys.exit(main())
