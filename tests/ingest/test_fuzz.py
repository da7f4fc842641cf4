"""Property: whatever arrives — any body, broken HTTP, a secret spelled in odd places — the receiver
never answers 5xx, never falls over, logs every request to a known secret exactly once (every job it
creates one the agent can parse), and writes no secret to its log, even at debug level.

The run is bounded by time, not by a count, so that it fits a busy machine: requests go out for
:data:`BUDGET_S` seconds after a fixed tour of every kind of request (see ``tests/ingest/fuzzing.py``).
The long run that found the receiver's defects (20,000 requests) is ``python -m bench.receiver_fuzz``.
A failure names its seed; ``TNM_FUZZ_SEED=<seed>`` replays it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from tests.ingest import fuzzing
from tests.ingest.conftest import Desk

# Sending time, far inside the 120 s per-test limit with the receiver's start and stop and the checks.
BUDGET_S = 15.0
MAX_REQUESTS = 5_000


@pytest.mark.slow
def test_no_request_gets_a_5xx_loses_a_signal_or_puts_a_secret_in_the_log(desk: Desk, tmp_path: Path) -> None:
    _, disabled = desk.add_strategy("Paused", is_enabled=False)
    _, majors = desk.add_strategy("Majors", allowed_pairs=["EURUSD", "GBPJPY"], risk_override_pct=2)
    known = {"enabled": desk.secret, "disabled": disabled, "majors": majors}
    seed = int(os.environ.get("TNM_FUZZ_SEED") or secrets.randbits(32))
    log_path = tmp_path / "receiver.log"

    with fuzzing.receiver_process(desk.ingest_url, log_path, "--rate", "500", "--burst", "200") as base_url:
        result = fuzzing.run(base_url, known, seed=seed, seconds=BUDGET_S, max_requests=MAX_REQUESTS)
    log_text = log_path.read_text(encoding="utf-8", errors="replace")

    problems = fuzzing.verify(result, desk.db.url, known, log_text)
    assert problems == [], f"seed {seed}: {problems}"
    # The tour reaches every kind of answer, accepted alerts and each refusal included.
    assert {200, 400, 403, 404, 405, 413, 422} <= set(result.statuses), (seed, result.statuses)
    assert result.accepted > 0 and result.kinds["broken"] >= 12
    # Malformed requests cost one line per 10 s at most, not a traceback each.
    assert 1 <= fuzzing.malformed_lines(log_text) <= 2 + result.elapsed // 10
