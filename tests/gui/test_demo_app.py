"""The app on a fresh machine: the demo, with an alert posted over HTTP reaching the signal log filled.

This is the whole pipeline as the trader sees it: ``run()`` with nothing configured opens the demo
workspace (its own PostgreSQL, the simulator's process, the receiver), runs the agent inside the
app, and the Signals page shows each alert's outcome as the agent reports it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from PySide6.QtWidgets import QWidget
from tnm_desktop.demo.alerts import post
from tnm_desktop.domain import AgentState
from tnm_desktop.gui.pages.signals_model import FILL, ID_ROLE, ORDER, STATUS_ROLE, SignalsModel
from tnm_desktop.gui.shell.mainwindow import MainWindow
from tnm_desktop.pgcluster import LocalCluster
from tnm_desktop.terminal.simulator.process import simulator_alive

from tests.gui.app_run import drive


def _rows(model: SignalsModel) -> dict[str, tuple[str, str, str]]:
    """Signal id → (status, fill price, broker order) as the table shows them."""
    out = {}
    for row in range(model.rowCount()):
        cells = [model.index(row, column) for column in (0, FILL, ORDER)]
        out[str(cells[0].data(ID_ROLE))] = (str(cells[0].data(STATUS_ROLE)), str(cells[1].data() or ""),
                                            str(cells[2].data() or ""))
    return out


def _post_alert(demo_dir: Path, answer: dict[str, object]) -> None:
    # The webhook URL as the Strategies page shows it: the profile's receiver + the secret.
    admin = LocalCluster(demo_dir / "db").conninfo(user="postgres")
    with psycopg.connect(admin) as conn:
        row = conn.execute("select webhook_secret from tv_strategies where name = 'EURUSD trend'").fetchone()
    assert row is not None
    base = json.loads((demo_dir / "workspace.json").read_text())["receiver_port"]
    body = json.dumps({"id": "from-the-test", "action": "buy", "symbol": "EURUSD", "sl_pips": 15})
    status, text = post(f"http://127.0.0.1:{answer.get('port', base)}/tv/{row[0]}", body)
    answer.update(status=status, body=json.loads(text))


@pytest.mark.usefixtures("qapp")
def test_nothing_configured_opens_the_demo_and_an_alert_posted_over_http_shows_filled(machine: Path) -> None:
    demo_dir = machine / "data" / "demo"
    seen: dict[str, object] = {}
    answer: dict[str, object] = {}
    shown: list[tuple[tuple[str, str, str], list[str]]] = []  # our signal's row, every status

    def step(windows: list[QWidget]) -> bool:
        window = next((w for w in windows if isinstance(w, MainWindow)), None)
        if window is None or window.building:
            return False
        control = window.session.ctx.agent.control
        if control is None or control.state is not AgentState.RUNNING:
            return False
        model = window.show_page("signals").model  # type: ignore[attr-defined]
        if "posted" not in seen:
            seen["posted"] = True
            seen["title"] = window.windowTitle()
            seen["base"] = window.session.ctx.services.webhook_base_url
            answer["port"] = int(str(seen["base"]).rsplit(":", 1)[1])
            threading.Thread(target=_post_alert, args=(demo_dir, answer), daemon=True).start()
            return False
        body = answer.get("body")
        if not isinstance(body, dict):
            return False
        rows = _rows(model)
        mine = rows.get(str(body["signal_id"]))
        statuses = sorted(status for status, _, _ in rows.values())
        # Ours filled, and the demo's own first alerts (7 of them) all resolved.
        if mine is None or mine[0] != "executed" or len(rows) < 8 or "pending" in statuses:
            return False
        shown.append((mine, statuses))
        window.close()
        return True

    assert drive(step, limit_s=150) == 0
    assert str(seen["title"]).startswith("TNM Desktop — demo@tnm.local")
    body = answer["body"]
    assert answer["status"] == 200 and isinstance(body, dict) and body["status"] == "pending"
    ((status, fill, order), statuses), = shown
    assert status == "executed" and float(fill) > 1.0 and order.isdigit()
    # The demo's own first alerts are in the log too, each with its outcome: the duplicate, the
    # pair not allowed and the malformed body discarded, the trades filled.
    assert statuses.count("discarded") == 3 and statuses.count("executed") >= 3, statuses

    # The order is in the simulator's history; closing the app stopped what the demo started.
    assert not LocalCluster(demo_dir / "db").is_running()
    assert not simulator_alive(demo_dir / "simulator" / "state.json")
    history = subprocess.run([sys.executable, "-m", "tnm_desktop", "simulator", "history", "--state",
                              str(demo_dir / "simulator" / "state.json")], capture_output=True, text=True, check=True)
    deals = [json.loads(line) for line in history.stdout.splitlines() if '"deal"' in line]
    assert any(str(deal["order"]) == order for deal in deals), "the fill is in the simulator's deals"
