"""Fuzzing a webhook receiver over real HTTP: bodies, broken HTTP and secrets where they do not belong.

Used by ``tests/ingest/test_fuzz.py`` (a run bounded by time) and ``bench/receiver_fuzz.py`` (20,000
requests). Requests come from a seeded :class:`random.Random`, so a failing run is replayed by its
seed; each run starts with a fixed tour of every kind of request, so that a short run on a busy
machine still reaches every answer.

Kinds of request:

* ``post``: a well-formed POST to a known or unknown secret with any body (one in three an alert a
  trader would send, the rest JSON junk, PineConnector-like lines, random bytes and text, bodies
  around and over the size limits), on one keep-alive connection;
* ``path``: a well-formed request whose path spells the secret differently (``/TV/``, ``//tv/``,
  upper case, percent-encoded, absolute form, in the query, as the method);
* ``broken``: a malformed HTTP message quoting a secret (bad version, NUL and control characters,
  bad headers and chunks, TLS bytes), or random bytes.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import socket
import string
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

ALLOWED = frozenset({200, 400, 403, 404, 405, 413, 422, 429})
NOT_FOUND = {"signal_id": None, "status": "not_found", "reason": "not found"}
_TEXT_POOLS = (string.printable, "éüßñ€£¥°±µ", "😀🚀📈", "\x00\x01\x1f\x7f", "\ud800\udfff", "{}[]\",:")


# ------------------------------------------------------------------------------------------------
# Secrets in logs


def leaked_secrets(text: str, secrets: Iterable[str], window: int = 12) -> list[str]:
    """The secrets of which any ``window`` characters appear in ``text``, in any case, plain or
    percent-encoded."""
    folded = text.lower()
    found = []
    for secret in secrets:
        plain = secret.lower()
        encoded = "".join(f"%{b:02x}" for b in secret.encode())
        starts = range(max(1, len(secret) - window + 1))
        pieces = {plain[i:i + window] for i in starts} | {encoded[3 * i:3 * (i + window)] for i in starts}
        if any(piece in folded for piece in pieces):
            found.append(secret)
    return found


# ------------------------------------------------------------------------------------------------
# Bodies


class Bodies:
    """Request bodies of every sort, drawn from ``rng``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def text(self, max_size: int) -> str:
        pool = self.rng.choice(_TEXT_POOLS)
        return "".join(self.rng.choice(pool) for _ in range(self.rng.randint(0, max_size)))

    def scalar(self) -> Any:
        r = self.rng
        return r.choice([None, True, False, r.randint(-10**20, 10**20), r.uniform(-1e6, 1e6),
                         r.choice([float("nan"), float("inf"), -0.0, 1e308]), self.text(20)])

    def junk(self, depth: int = 0) -> Any:
        r = self.rng
        if depth > 2 or r.random() < 0.5:
            return self.scalar()
        if r.random() < 0.5:
            return [self.junk(depth + 1) for _ in range(r.randint(0, 4))]
        return {self.text(8): self.junk(depth + 1) for _ in range(r.randint(0, 4))}

    def number(self) -> Any:
        r = self.rng
        return r.choice([r.uniform(-1e3, 1e3), r.randint(-10**30, 10**30), str(r.uniform(0, 1000)),
                         r.choice(["1", "0.5", " 2 ", "1e3", "-1", "abc", "", "1,5", "0x10", "NaN", "1e99999"]),
                         float("inf"), float("nan"), self.scalar()])

    def alert_like(self) -> dict[str, Any]:
        r = self.rng
        fields: dict[str, Callable[[], Any]] = {
            "id": lambda: r.choice([self.text(30), r.randint(0, 10**9), self.junk()]),
            "action": lambda: r.choice(["buy", "sell", "close", "long", "short", "flat", "closelong", "BUY",
                                        " Sell ", "{{strategy.order.action}}", self.text(10), self.scalar()]),
            "symbol": lambda: r.choice(["EURUSD", "FX:EURUSD", "OANDA:xauusd", "GBPJPY", "US30.cash", "{{ticker}}",
                                        "", "EUR USD", "ES1!", self.text(40), self.junk()]),
            "comment": lambda: r.choice([self.text(100), self.junk()]),
            "close": lambda: r.choice(["all", "long", "short", "both", self.scalar()]),
            "time": lambda: self.text(25), "extra": self.junk,
            **{k: self.number for k in ("price", "risk", "lots", "sl", "tp", "sl_pips", "tp_pips", "percent")},
        }
        return {k: make() for k, make in fields.items() if r.random() < 0.4}

    def valid_alert(self) -> dict[str, Any]:
        r = self.rng
        alert: dict[str, Any] = {"action": r.choice(["buy", "sell", "close", "long", "short"]),
                                 "symbol": r.choice(["EURUSD", "FX:EURUSD", "OANDA:GBPJPY", "xauusd", "US30"])}
        optional: dict[str, Callable[[], Any]] = {
            "id": lambda: self.text(20), "price": lambda: r.uniform(0.0001, 99999),
            "risk": lambda: r.uniform(0.01, 100), "sl_pips": lambda: r.choice([r.uniform(0.1, 5000), "12.5"]),
            "tp": lambda: r.uniform(0.0001, 99999), "comment": lambda: self.text(30), "time": lambda: self.text(25)}
        alert.update({k: make() for k, make in optional.items() if r.random() < 0.5})
        return alert

    def comma(self) -> str:
        r = self.rng
        params = [r.choice([f"{r.choice(['risk', 'sl', 'tp', 'vol_lots', 'sl_price', 'tp_pips', 'comment', 'secret', 'trailtrig', 'RISK'])}={self.number()}",
                            self.text(12)]) for _ in range(r.randint(0, 6))]
        return ",".join([r.choice(["60123456789", "", "x", self.text(12)]),
                         r.choice(["buy", "sell", "long", "closelong", "closeshort", "closeall", "closelongpct",
                                   "closeshortvol", "buylimit", "eaoff", "bullish", self.text(10)]),
                         r.choice(["EURUSD", "XAUUSD", "GBPJPY", "", self.text(10)]), *params])

    def huge(self) -> str:
        piece = self.rng.choice(["a", "{", "é", "\x00", ",", "😀", "[1,"])
        n = self.rng.randint(9_990, 70_000)
        return (piece * n)[:n]

    def junk_body(self, kind: int | None = None) -> bytes:
        r = self.rng
        makers: list[Callable[[], bytes]] = [
            lambda: json.dumps(self.alert_like()).encode(),
            lambda: json.dumps(self.alert_like(), ensure_ascii=False).encode("utf-8", "surrogatepass"),
            lambda: json.dumps(self.junk()).encode(),
            lambda: self.comma().encode("utf-8", "surrogatepass"),
            lambda: r.randbytes(r.randint(0, 300)),
            lambda: self.text(300).encode("utf-8", "surrogatepass"),
            lambda: self.huge().encode("utf-8", "surrogatepass"),
        ]
        return makers[kind if kind is not None else r.randrange(len(makers))]()

    def body(self) -> bytes:
        """One body in three an alert a trader would send; the rest anything at all."""
        if self.rng.randrange(3) == 0:
            return json.dumps(self.valid_alert()).encode()
        return self.junk_body()


# ------------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True)
class Shot:
    """One request: ``who`` names a known secret (or ``unknown``); ``raw`` is set for raw requests."""

    kind: str  # post | path | broken
    who: str
    path: str = ""
    body: bytes = b""
    raw: bytes = b""
    complete: bool = True  # a raw request the server can answer (else we stop sending and read)


class Fuzzer:
    """Draws requests against ``known`` secrets (name → secret).

    Args:
        known: The strategies' secrets; requests to them must be logged exactly once.
        rng: The source of randomness (seed it to replay a run).
    """

    def __init__(self, known: dict[str, str], rng: random.Random) -> None:
        self.known = known
        self.rng = rng
        self.bodies = Bodies(rng)

    def unknown_secret(self) -> str:
        some = self.rng.choice(list(self.known.values()))
        return self.rng.choice(["", "nope", some[:-1], some + "x", self.bodies.text(60)])

    def post(self, who: str | None = None, body: bytes | None = None) -> Shot:
        if who is None:  # four known secrets for each unknown one: logging is the path to exercise
            who = self.rng.choice(sorted(self.known)) if self.rng.randrange(5) else "unknown"
        secret = self.known.get(who) or self.unknown_secret()
        if body is None:
            body = self.secret_body() if self.rng.random() < 0.05 else self.bodies.body()
        return Shot("post", who, f"/tv/{quote(secret.encode('utf-8', 'surrogatepass'), safe='')}", body)

    def secret_body(self) -> bytes:
        """A body quoting a secret where the refusal's reason will repeat it."""
        secret = self.rng.choice(list(self.known.values()))
        return self.rng.choice([json.dumps({"action": secret, "symbol": "EURUSD"}),
                                json.dumps({"action": "buy", "symbol": "EURUSD", "risk": secret}),
                                f"60123456789,buy,EURUSD,{secret}=1", secret]).encode()

    def odd_path(self, variant: int | None = None) -> Shot:
        r = self.rng
        who = r.choice(sorted(self.known))
        secret = self.known[who]
        mixed = "".join(f"%{ord(c):02X}" if r.random() < 0.5 else c for c in secret)
        variants = [
            ("unknown", f"POST /TV/{secret}"), ("unknown", f"POST //tv/{secret}"),
            ("unknown", f"POST /tv/{secret}/x"), ("unknown", f"POST /tv/{secret.upper()}"),
            (who, f"POST /%74v/{mixed}"), (who, f"POST /tv/{mixed}"), ("unknown", f"POST /tv%2F{secret}"),
            ("unknown", f"POST /x?s={secret}"), (who, f"POST http://x/tv/{secret}"),
            ("unknown", f"GET /tv/{secret}"), ("unknown", f"PUT /{secret}"),
        ]
        index = variant if variant is not None else r.randrange(len(variants) + 1)
        if index == len(variants):  # no version: aiohttp takes it as HTTP/0.9, without headers or body
            return Shot("path", who, raw=f"POST /tv/{secret}\r\n\r\n".encode())
        target, line = variants[index]
        body = json.dumps(self.bodies.valid_alert()).encode() if r.random() < 0.5 else self.bodies.junk_body()
        head = f"{line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
        return Shot("path", target, raw=head.encode() + body)

    def broken(self, variant: int | None = None) -> Shot:
        r = self.rng
        secret = r.choice(list(self.known.values()))
        variants = [
            f"POST /tv/{secret} HTTP/9.9\r\n\r\n", f"POST /tv/{secret}\x00 HTTP/1.1\r\n\r\n",
            f"PO\x01ST /tv/{secret} HTTP/1.1\r\n\r\n", f"POST /tv/{secret} HTTP/1.1 x\r\n\r\n",
            f"{secret} /tv/x HTTP/1.1\r\n\r\n", f"POST /tv/ {secret} HTTP/1.1\r\n\r\n",
            f"POST /tv/x HTTP/1.1\r\nHost: x\r\nContent-Length: {secret}\r\n\r\n",
            f"POST /tv/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{secret}\r\n",
            f"POST /tv/x HTTP/1.1\r\n{secret}\r\n\r\n", f"POST /tv/x HTTP/1.1\r\nX: {'y' * 9000}{secret}\r\n\r\n",
            f"\x16\x03\x01\x02\x00{secret}\r\n\r\n", f"{secret}\r\n\r\n",
        ]
        if variant is None and r.random() < 0.3:
            return Shot("broken", "unknown", raw=r.randbytes(r.randint(1, 300)), complete=False)
        raw = variants[variant if variant is not None else r.randrange(len(variants))]
        return Shot("broken", "unknown", raw=raw.encode("utf-8", "surrogatepass"))

    def tour(self) -> Iterator[Shot]:
        """Every kind of request once: what a run of any length covers."""
        for who in sorted(self.known):
            yield self.post(who, json.dumps(self.bodies.valid_alert()).encode())
            for kind in range(7):
                yield self.post(who, self.bodies.junk_body(kind))
            yield self.post(who, self.secret_body())
        yield self.post("unknown")
        for variant in range(12):
            yield self.odd_path(variant)
            yield self.broken(variant)

    def shots(self) -> Iterator[Shot]:
        """The tour, then requests at random: 80 % posts, 10 % odd paths, 10 % broken HTTP."""
        yield from self.tour()
        while True:
            roll = self.rng.random()
            yield self.post() if roll < 0.8 else self.odd_path() if roll < 0.9 else self.broken()


# ------------------------------------------------------------------------------------------------
# Running


@dataclass
class FuzzRun:
    """What one run sent and was told."""

    seed: int
    sent: Counter[str] = field(default_factory=Counter)  # who → requests that must be logged
    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    signal_ids: set[str] = field(default_factory=set)
    accepted: int = 0
    elapsed: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.kinds.values())

    def problem(self, text: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(text)


class _KeepAlive:
    """One keep-alive connection, reopened when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=10)

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.conn.request("POST", path, body=body, headers={"Content-Type": "text/plain"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.will_close:
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        return resp.status, data


def _raw(host: str, port: int, shot: Shot) -> bytes:
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(shot.raw)
        if not shot.complete:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _status_and_json(answer: bytes) -> tuple[int | None, Any]:
    head, _, body = answer.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        return None, None
    try:
        return int(parts[1]), json.loads(body)
    except ValueError:
        return int(parts[1]), None


def run(base_url: str, known: dict[str, str], *, seed: int, seconds: float, max_requests: int,
        progress: Callable[[FuzzRun], None] | None = None) -> FuzzRun:
    """Send requests until ``seconds`` have passed or ``max_requests`` were sent (the tour always)."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    result = FuzzRun(seed)
    fuzzer = Fuzzer(known, random.Random(seed))
    sender = _KeepAlive(host, int(port))
    tour = sum(1 for _ in Fuzzer(known, random.Random(seed)).tour())
    started = time.monotonic()
    try:
        for n, shot in enumerate(fuzzer.shots()):
            if n >= max_requests or (n >= tour and time.monotonic() - started > seconds):
                break
            _fire(shot, sender, host, int(port), result)
            if progress is not None and n % 1000 == 999:
                progress(result)
    finally:
        sender.conn.close()
        result.elapsed = time.monotonic() - started
    return result


def _fire(shot: Shot, sender: _KeepAlive, host: str, port: int, result: FuzzRun) -> None:
    result.kinds[shot.kind] += 1
    if shot.raw:
        answer = _raw(host, port, shot)
        status, body = _status_and_json(answer)
        if status is None:
            if shot.complete:
                result.problem(f"{shot.kind}: no HTTP answer to {shot.raw[:80]!r}: {answer[:80]!r}")
            return
    else:
        status, data = sender.post(shot.path, shot.body)
        try:
            body = json.loads(data)
        except ValueError:
            body = None
    result.statuses[status] += 1
    if status not in ALLOWED:
        result.problem(f"{shot.kind} {shot.who}: answered {status} {body!r} to {(shot.raw or shot.body)[:120]!r}")
        return
    if shot.kind == "broken":
        return
    if not isinstance(body, dict) or set(body) != {"signal_id", "status", "reason"}:
        result.problem(f"{shot.kind} {shot.who}: not the receiver's JSON: {status} {body!r}")
        return
    if shot.who != "unknown":
        _logged(shot, body, result)
    elif body["signal_id"] is not None:
        result.problem(f"{shot.kind}: logged a request to an unknown secret: {body!r}")
    elif shot.kind == "post" and (status, body) != (404, NOT_FOUND):
        result.problem(f"post to an unknown secret answered {status} {body!r}")


def _logged(shot: Shot, body: dict[str, Any], result: FuzzRun) -> None:
    signal_id = body["signal_id"]
    if signal_id is None or signal_id in result.signal_ids:
        result.problem(f"{shot.kind} {shot.who}: no new signal in {body!r}")
        return
    result.signal_ids.add(signal_id)
    result.sent[shot.who] += 1
    result.accepted += body["status"] == "pending"



# ------------------------------------------------------------------------------------------------
# The receiver under test, and what must hold after a run


@contextlib.contextmanager
def receiver_process(database_url: str, log_path: Path, *args: str) -> Iterator[str]:
    """``tnm-desktop -v webhook serve --port 0`` logging everything (debug too) to ``log_path``; yields
    its base URL and stops it (SIGTERM) afterwards, checking that it stopped cleanly."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tnm_desktop", "-v", "webhook", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=log, text=True,
            env=dict(os.environ, TNM_WEBHOOK_DATABASE_URL=database_url))
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("listening="), (line, log_path.read_text(errors="replace")[-2000:])
            yield line.split("=", 1)[1]
            assert proc.poll() is None, "the receiver died"
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                if proc.stdout is not None:
                    proc.stdout.close()
        assert proc.returncode == 0, f"the receiver exited with {proc.returncode}"


def verify(result: FuzzRun, admin_url: str, known: dict[str, str], log_text: str) -> list[str]:
    """What must hold after a run: every answer allowed, every request to a known secret logged once
    (no more, no less) and its jobs readable by the agent, and no secret in the log."""
    from tnm_desktop.domain.trade import ModifyInstruction, TradeInstruction

    problems = list(result.problems)
    by_secret = {secret: name for name, secret in known.items()}
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute("select st.webhook_secret, s.id::text from tv_signals s "
                            "join tv_strategies st on st.id = s.strategy_id").fetchall()
        logged = Counter(by_secret.get(str(secret), "other") for secret, _ in rows)
        if logged != result.sent:
            problems.append(f"signals logged per strategy {dict(logged)} != requests answered {dict(result.sent)}")
        if {str(signal_id) for _, signal_id in rows} != result.signal_ids:
            problems.append("the signals logged are not the ones the answers named")
        payloads = conn.execute("select job_type, payload from jobs").fetchall()
    if len(payloads) != result.accepted:
        problems.append(f"{len(payloads)} jobs for {result.accepted} accepted alerts")
    for job_type, payload in payloads:  # each read by the agent's parser for its type
        try:
            if job_type == "modify_position":
                ModifyInstruction.from_payload(payload)
            else:
                TradeInstruction.from_payload(payload)
        except Exception as exc:  # the agent could not read it: report, keep checking
            problems.append(f"a job the agent cannot read ({exc}): {payload!r}"[:300])
    if leaked := leaked_secrets(log_text, known.values()):
        problems.append(f"{len(leaked)} secret(s) in the log")
    if "Traceback" in log_text:
        problems.append("a traceback in the log")
    if stray := [line for line in log_text.splitlines() if not line.startswith("20")][:3]:
        problems.append(f"log records over several lines: {stray!r}")
    return problems


def malformed_lines(log_text: str) -> int:
    """How many lines the log spent on malformed HTTP messages."""
    return sum("malformed HTTP request" in line for line in log_text.splitlines())
