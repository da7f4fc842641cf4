"""Recovery from a database outage, with alerts flowing: how soon the agent takes work again.

    python -m bench.outage [--outage 60] [--every 0.5]

The headless demo runs as a trader runs it (``tnm-desktop demo --headless``: its PostgreSQL, the
simulator's process, the receiver, the agent's process) in a temporary folder. An alert is posted
to a strategy's webhook every ``--every`` seconds throughout. After a few seconds of normal work
the workspace's PostgreSQL is stopped (``pg_ctl stop -m fast``) for ``--outage`` seconds and then
started again; the moment it accepts connections is "back". At that moment three jobs are queued
for the agent straight into the database (so the agent's return is measured apart from the
receiver's), and the alerts keep coming.

Printed: what the receiver answered during the outage; after the return, by the database's and
this machine's clocks (the same machine): the receiver's first accepted alert, when the agent
claimed each job queued at the return, when the first alert accepted after the return was
filled, and how many log lines the agent wrote during the outage. Then a second, short outage,
during which the agent's process gets SIGTERM: how long it takes to exit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from tnm_desktop.demo.alerts import post
from tnm_desktop.pgcluster import LocalCluster

from bench.common import print_machine, scratch_dir

LIMIT_S = 5.0  # issue 15: the agent resumes within 5 s of the database's return


@dataclass
class Poster:
    """Posts an alert every ``every`` seconds; keeps (wall time, status, signal id) of each."""

    url: str
    every: float
    answers: list[tuple[float, int, str | None]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, name="poster", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self.every):
            n += 1
            body = json.dumps({"id": f"outage-{n}", "action": "buy", "symbol": "EURUSD", "lots": 0.01})
            sent = time.time()
            try:
                status, text = post(self.url, body, timeout=10)
            except OSError:
                status, text = 0, ""
            signal_id = json.loads(text).get("signal_id") if status == 200 else None
            self.answers.append((sent, status, signal_id))


def start_demo(root: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    demo = subprocess.Popen([sys.executable, "-m", "tnm_desktop", "demo", "--headless", "--dir", str(root / "ws"),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=open(root / "demo.log", "w"),
                            text=True, env=env)
    info: dict[str, str] = {}
    assert demo.stdout is not None
    while not any(k.startswith("webhook.Gold") for k in info):
        line = demo.stdout.readline()
        if not line:
            raise SystemExit(f"the demo exited with {demo.wait()}; see {root / 'demo.log'}")
        key, _, value = line.strip().partition("=")
        info[key] = value
    return demo, info


def queue_jobs(admin: str, agent_id: str, count: int) -> list[str]:
    with psycopg.connect(admin, autocommit=True) as conn:
        user = conn.execute("select user_id from mt5_agents where id = %s", (agent_id,)).fetchone()
        assert user is not None
        return [str(conn.execute("insert into jobs (user_id, job_type, target_agent_id) values "
                                 "(%s, 'get_account', %s) returning id", (user[0], agent_id)).fetchone()[0])  # type: ignore[index]
                for _ in range(count)]


def claimed_at(admin: str, ids: list[str], within: float) -> list[float]:
    """Epoch seconds each job was claimed (waits until all are)."""
    deadline = time.monotonic() + within
    with psycopg.connect(admin, autocommit=True) as conn:
        while True:
            rows = conn.execute("select extract(epoch from claimed_at)::float8 from jobs where id = any(%s::uuid[]) "
                                "and claimed_at is not null", (ids,)).fetchall()
            if len(rows) == len(ids) or time.monotonic() > deadline:
                return sorted(float(r[0]) for r in rows)
            time.sleep(0.05)


def filled_at(admin: str, signal_id: str, within: float) -> float | None:
    deadline = time.monotonic() + within
    with psycopg.connect(admin, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("select extract(epoch from resolved_at)::float8 from tv_signals where id = %s "
                               "and status = 'executed'", (signal_id,)).fetchone()
            if row is not None:
                return float(row[0])
            time.sleep(0.05)
    return None


def agent_log_lines(log: Path, since_line: int) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines()[since_line:]
            if "tnm_desktop.agent" in line or "psycopg" in line or "tnm_desktop.data" in line]


def _alive(pid: int) -> bool:
    # The demo reaps its agent only when it stops: until then an ended agent is a zombie.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the database is down (default 60)")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between alerts (default 0.5)")
    parser.add_argument("--show-log", action="store_true", help="print those log lines, and the agent's at its stop")
    args = parser.parse_args()
    root = scratch_dir("tnm-bench-outage-")
    demo = None
    try:
        print_machine()
        demo, info = start_demo(root)
        cluster = LocalCluster(root / "ws" / "db")
        admin = info["database"]
        agent_id = json.loads((root / "ws" / "workspace.json").read_text())["agent_id"]
        poster = Poster(info["webhook.EURUSD trend"], args.every)
        poster.start()
        time.sleep(5)

        log = root / "demo.log"
        log_mark = len(log.read_text(errors="replace").splitlines())
        down = time.time()
        cluster.stop()
        print(f"database stopped; down for {args.outage:g} s while an alert is posted every {args.every:g} s")
        time.sleep(max(0.0, args.outage - (time.time() - down)))
        cluster.start()
        back = time.time()
        jobs = queue_jobs(admin, agent_id, 3)
        during = [a for a in poster.answers if down <= a[0] < back]
        by_status: dict[int, int] = {}
        for _, status, _ in during:
            by_status[status] = by_status.get(status, 0) + 1
        print(f"during the outage: {len(during)} alerts, answered "
              + ", ".join(f"{n} × {s or 'no answer'}" for s, n in sorted(by_status.items())))
        print(f"database back after {back - down:.1f} s (accepting connections)")

        claims = claimed_at(admin, jobs, within=120)
        for n, moment in enumerate(claims, 1):
            print(f"  job queued at the return #{n}: claimed by the agent {moment - back:+.2f} s after")
        worst = (claims[-1] - back) if len(claims) == len(jobs) else float("inf")
        time.sleep(3)
        accepted = [a for a in poster.answers if a[0] >= back and a[1] == 200]
        if accepted:
            first = accepted[0]
            print(f"  receiver: first alert accepted, posted {first[0] - back:+.2f} s after the return")
            fill = filled_at(admin, str(first[2]), within=60)
            print(f"  that alert's order filled {fill - back:+.2f} s after the return" if fill
                  else "  that alert's order was not filled within 60 s")
        else:
            print("  receiver: no alert accepted within 3 s of the return")
        lines = agent_log_lines(log, log_mark)
        print(f"  log lines of the agent and its database clients during the outage and return: {len(lines)}")
        if args.show_log:
            print("\n".join("    " + line[:200] for line in lines))
        poster.stop()
        verdict = "within" if worst <= LIMIT_S else "OVER"
        print(f"agent back {worst:.2f} s after the database: {verdict} the {LIMIT_S:g} s limit\n")

        # A stop during an outage.
        cluster.stop()
        time.sleep(10)
        agent_pid = int(info["agent_pid"])
        asked = time.monotonic()
        os.kill(agent_pid, signal.SIGTERM)
        while _alive(agent_pid) and time.monotonic() - asked < 60:
            time.sleep(0.02)
        print(f"SIGTERM to the agent 10 s into a second outage: exited after {time.monotonic() - asked:.2f} s")
        if args.show_log:
            print("\n".join("    " + line[:200] for line in agent_log_lines(log, log_mark)[len(lines):]))
        cluster.start()
    finally:
        if demo is not None:
            demo.send_signal(signal.SIGTERM)
            demo.wait(60)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
