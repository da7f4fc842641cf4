"""`tnm-desktop demo --headless`: the whole pipeline as processes, and the agent killed for real."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow
from tnm_desktop.demo.alerts import post

from tests.conftest import reachable_tmpdir


def tnm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tnm_desktop", *args], capture_output=True, text=True,
                          timeout=120, check=False)


class Demo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tnm_desktop", "demo", "--headless", "--dir", str(root / "ws"), "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.info: dict[str, str] = {}
        assert self.process.stdout is not None
        deadline = time.monotonic() + 180
        while not any(k.startswith("webhook.US30") for k in self.info):
            assert time.monotonic() < deadline, "the demo did not start"
            line = self.process.stdout.readline()
            assert line, f"the demo exited with {self.process.wait()}"
            key, _, value = line.strip().partition("=")
            self.info[key] = value

    def stop(self) -> int:
        """SIGTERM the demo and wait for it; return its exit status."""
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(60)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return status

    @property
    def agent_pid(self) -> int:
        return int(self.info["agent_pid"])

    def db(self) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(self.info["database"], autocommit=True)

    def history(self) -> list[dict[str, Any]]:
        out = tnm("simulator", "history", "--state", self.info["simulator"])
        assert out.returncode == 0, out.stderr
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def opening_deals(self) -> list[dict[str, Any]]:
        return [r for r in self.history() if r.get("record") == "deal" and r.get("entry") == 0 and r.get("symbol")]

    def wait(self, query: str, params: tuple[object, ...] = (), *, within: float = 30) -> None:
        deadline = time.monotonic() + within
        with self.db() as conn:
            while not conn.execute(query, params).fetchone()[0]:  # type: ignore[index]
                assert time.monotonic() < deadline, f"not true in time: {query}"
                time.sleep(0.1)


def process_gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    root = reachable_tmpdir("tnm-demo-")
    running = Demo(root)
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_prints_what_it_started_and_the_first_alerts_went_through(demo: Demo) -> None:
    assert demo.info["database"].startswith("postgresql://postgres@/tnm?host=")
    assert demo.info["receiver"].startswith("http://127.0.0.1:")
    assert Path(demo.info["simulator"]).is_file()
    assert set(demo.info) >= {"agent_pid", "webhook.EURUSD trend", "webhook.Gold breakout"}
    demo.wait("select count(*) = 5 from tv_signals where status = 'executed'")
    with demo.db() as conn:
        reasons = [r[0] for r in conn.execute("select error_message from tv_signals where status = 'discarded' "
                                              "order by received_at")]
    assert reasons[0] == "duplicate"
    assert "not allowed" in reasons[1] and "not valid JSON" in reasons[2]


def test_an_alert_posted_over_http_becomes_an_order(demo: Demo) -> None:
    before = len(demo.opening_deals())
    status, body = post(demo.info["webhook.EURUSD trend"],
                        json.dumps({"id": "t-1", "action": "buy", "symbol": "EURUSD", "sl_pips": 30}))
    assert status == 200, body
    signal_id = json.loads(body)["signal_id"]
    demo.wait("select status = 'executed' from tv_signals where id = %s", (signal_id,))
    deals = demo.opening_deals()
    assert len(deals) == before + 1
    with demo.db() as conn:
        row = conn.execute("select fill_price, broker_order_id from tv_signals where id = %s", (signal_id,)).fetchone()
    assert row is not None
    fill, order = row
    assert float(fill) == pytest.approx(float(deals[-1]["price"]))
    assert order == str(deals[-1]["order"])


def test_the_agent_killed_and_started_again_on_its_own_loses_nothing_and_sends_nothing_twice(demo: Demo) -> None:
    url = demo.info["webhook.EURUSD trend"]
    agent_pid = demo.agent_pid
    started: list[subprocess.Popen[bytes]] = []
    try:
        rounds(demo, url, agent_pid, started)
    finally:
        for process in started:
            process.terminate()
            process.wait(30)


def rounds(demo: Demo, url: str, agent_pid: int, started: list[subprocess.Popen[bytes]]) -> None:
    for round_ in range(4):
        before = len(demo.opening_deals())
        ids = []
        for i in range(6):
            status, body = post(url, json.dumps({"id": f"kill-{round_}-{i}", "action": "buy", "symbol": "EURUSD",
                                                 "lots": 0.01}))
            assert status == 200, body
            ids.append(json.loads(body)["signal_id"])
            if i == 2:
                os.kill(agent_pid, signal.SIGKILL)  # mid-burst, wherever it is
        restarted = subprocess.Popen([sys.executable, "-m", "tnm_desktop", "agent", "--dir", str(demo.root / "ws")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        started.append(restarted)
        agent_pid = restarted.pid
        demo.wait("select count(*) = 6 from tv_signals where id = any(%s::uuid[]) and status = 'executed'", (ids,),
                  within=60)
        assert len(demo.opening_deals()) == before + 6, f"round {round_}: an order went out twice or not at all"
        with demo.db() as conn:
            stuck = conn.execute("select count(*) from jobs where status in ('pending', 'running') "
                                 "and job_type = 'trade'").fetchone()
        assert stuck == (0,)


def test_sigterm_stops_everything_it_started() -> None:
    root = reachable_tmpdir("tnm-demo-stop-")
    try:
        running = Demo(root)
        agent = running.agent_pid
        assert running.stop() == 0
        assert process_gone(agent, within=10)
        status = tnm("db", "status", "--dir", str(root / "ws" / "db"))
        assert "running=no" in status.stdout
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(running.info["database"], connect_timeout=2)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_busy_port_is_said_in_one_line_before_anything_starts() -> None:
    root = reachable_tmpdir("tnm-demo-port-")
    try:
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            other.listen()
            port = other.getsockname()[1]
            done = tnm("demo", "--headless", "--dir", str(root / "ws"), "--port", str(port))
        assert done.returncode == 2
        assert done.stderr == f"tnm-desktop: Port {port} is in use by another program. Choose another port with --port.\n"
        assert not (root / "ws" / "db").exists()  # nothing was started
    finally:
        shutil.rmtree(root, ignore_errors=True)
