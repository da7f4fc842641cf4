"""A workspace's receiver stays on its pinned port: a taken port is said, never swapped for another."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tnm_desktop.composition.local_receiver import LocalReceiver, port_available
from tnm_desktop.errors import OperationalError, UserError
from tnm_desktop.workspace import Workspace

from tests.ingest.conftest import Desk


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def state(receiver: LocalReceiver) -> tuple[bool, str | None]:
    """Whether it listens, and why not (read through a call: each reading is a new one)."""
    return receiver.running, receiver.error


def health(base_url: str) -> str:
    with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as answer:  # noqa: S310 — loopback
        return str(json.loads(answer.read())["database"])


def test_it_listens_on_the_pinned_port(desk: Desk, tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    port = free_port()
    workspace.update_settings(receiver_port=port)
    receiver = LocalReceiver(workspace, desk.ingest_url)
    try:
        assert receiver.start() == f"http://127.0.0.1:{port}" and state(receiver) == (True, None)
        assert health(receiver.base_url) == "ok"
    finally:
        receiver.stop()
    assert state(receiver) == (False, None) and receiver.base_url == f"http://127.0.0.1:{port}"


def test_a_taken_port_is_said_and_the_url_stays_on_it(desk: Desk, tmp_path: Path, busy_port: int) -> None:
    workspace = Workspace(tmp_path)
    workspace.update_settings(receiver_port=busy_port)
    receiver = LocalReceiver(workspace, desk.ingest_url)
    with pytest.raises(OperationalError, match=f"^Port {busy_port} is in use by another program.$"):
        receiver.start()
    assert state(receiver) == (False, f"Port {busy_port} is in use by another program.")
    assert receiver.base_url == f"http://127.0.0.1:{busy_port}"  # never another port
    assert not port_available(busy_port)

    # The trader chooses another port: it is pinned, and the receiver listens there.
    other = free_port()
    assert receiver.move_to(other) == f"http://127.0.0.1:{other}"
    try:
        assert state(receiver) == (True, None) and health(receiver.base_url) == "ok"
        assert workspace.settings().receiver_port == other
        assert LocalReceiver(workspace, desk.ingest_url).base_url == f"http://127.0.0.1:{other}"  # next start
    finally:
        receiver.stop()


def test_moving_to_a_taken_port_changes_nothing(desk: Desk, tmp_path: Path, busy_port: int) -> None:
    workspace = Workspace(tmp_path)
    port = free_port()
    workspace.update_settings(receiver_port=port)
    receiver = LocalReceiver(workspace, desk.ingest_url)
    receiver.start()
    try:
        with pytest.raises(OperationalError, match=f"Port {busy_port} is in use"):
            receiver.move_to(busy_port)
        with pytest.raises(UserError, match="from 1 to 65535"):
            receiver.move_to(70000)
        assert state(receiver) == (True, None) and receiver.base_url == f"http://127.0.0.1:{port}"
        assert health(receiver.base_url) == "ok" and workspace.settings().receiver_port == port
    finally:
        receiver.stop()


def test_the_cli_on_a_busy_port_says_so_in_one_line(desk: Desk, busy_port: int) -> None:
    done = subprocess.run([sys.executable, "-m", "tnm_desktop", "webhook", "serve", "--port", str(busy_port)],
                          capture_output=True, text=True, timeout=60, check=False,
                          env=dict(os.environ, TNM_WEBHOOK_DATABASE_URL=desk.ingest_url))
    assert done.returncode == 2
    assert done.stderr == f"tnm-desktop: The webhook receiver cannot listen: 127.0.0.1 port {busy_port} is in use.\n"
