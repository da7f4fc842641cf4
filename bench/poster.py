"""TradingView's side: post alerts at a steady pace, and watch the signal log as the GUI would.

Runs in a process of its own, so posting and listening take no interpreter time from the
receiver and the agent being measured (in the app they share one process; TradingView does not).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class Posted:
    """One alert as TradingView saw it (wall-clock seconds)."""

    index: int
    sent: float
    answered: float
    status: int
    signal_id: str | None


def post_alerts(base_url: str, secret: str, bodies: Sequence[str], interval: float, admin_url: str, user_id: str,
                done: threading.Event) -> tuple[list[Posted], dict[str, float]]:
    """Post ``bodies`` one every ``interval`` seconds; until ``done``, note when each signal last changed.

    Returns:
        The posts, and per signal id the wall-clock time its last update notification arrived
        (what the signal log's live view reacts to).
    """
    updated: dict[str, float] = {}
    listening = threading.Event()

    def listen() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("listen {}").format(sql.Identifier("tnm_" + user_id.replace("-", ""))))
            listening.set()
            while not done.is_set():
                for note in conn.notifies(timeout=0.2):
                    now = time.time()
                    payload = json.loads(note.payload)
                    if payload["table"] == "tv_signals" and payload["op"] == "update":
                        updated[str(payload["id"])] = now

    listener = threading.Thread(target=listen, name="signal-listener", daemon=True)
    listener.start()
    listening.wait(10)
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=10)
    posts: list[Posted] = []
    start = time.monotonic()
    for i, body in enumerate(bodies):
        delay = start + i * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent = time.time()
        conn.request("POST", f"/tv/{secret}", body=body.encode(), headers={"Content-Type": "text/plain"})
        answer = conn.getresponse()
        data = answer.read()
        answered = time.time()
        signal_id = json.loads(data).get("signal_id") if data else None
        posts.append(Posted(i, sent, answered, answer.status, signal_id))
    conn.close()
    done.wait()
    listener.join(5)
    return posts, dict(updated)
