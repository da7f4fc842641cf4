"""The two receivers the shared cases run against: the local one (aiohttp, on its own thread) and the
Supabase Edge Function (``supabase/functions/tv``) served by Deno, both on the test's database.

Deno is found at ``$TNM_DENO``, else ``tools/deno/node_modules/.bin/deno`` (``npm ci --prefix
tools/deno``), else on the PATH; its npm packages are cached in ``$DENO_DIR``, by default
``tools/deno/cache`` (``.ci/run`` fills it). Without Deno the Edge Function's cases fail under CI
(``$CI`` set) and are skipped elsewhere, saying how to install it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from tnm_desktop.webhook.config import ReceiverConfig
from tnm_desktop.webhook.server import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
FUNCTION = ROOT / "supabase" / "functions" / "tv" / "index.ts"
DENO_TOOLING = ROOT / "tools" / "deno"
INSTALL_HINT = ("install it with `npm ci --prefix tools/deno` and cache the function's packages with "
                "`DENO_DIR=tools/deno/cache tools/deno/node_modules/.bin/deno cache supabase/functions/tv/index.ts` "
                "(README.md, 'Running the tests'; .ci/run does both)")
TARGETS = ("local", "edge")


def find_deno() -> Path | None:
    """Where the Deno binary is, or None."""
    if explicit := os.environ.get("TNM_DENO"):
        return Path(explicit)
    local = DENO_TOOLING / "node_modules" / ".bin" / ("deno.cmd" if os.name == "nt" else "deno")
    if local.exists():
        return local
    found = shutil.which("deno")
    return Path(found) if found else None


def deno_or_skip() -> Path:
    """The Deno binary; without one, fail under CI and skip elsewhere, saying how to install it."""
    deno = find_deno()
    if deno is None:
        message = f"Deno is not installed, so the Edge Function cannot be tested: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return deno


def deno_env(**extra: str) -> dict[str, str]:
    """The environment Deno runs in: the npm cache of tools/deno/cache, no colours."""
    env = dict(os.environ, NO_COLOR="1", **extra)
    env.setdefault("DENO_DIR", str(DENO_TOOLING / "cache"))
    return env


# ------------------------------------------------------------------------------------------------
# Talking to a receiver


@dataclass
class Answer:
    """One HTTP answer."""

    status: int
    body: Any
    headers: dict[str, str]


class Client:
    """Sends requests to one receiver over real HTTP (a new connection each, as TradingView does)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        host, port = base_url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)

    def request(self, method: str, path: str, body: bytes | None = None, timeout: float = 10) -> Answer:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": "text/plain"})
            resp = conn.getresponse()
            data = resp.read()
            headers = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        try:
            parsed: Any = json.loads(data)
        except ValueError:
            parsed = data
        return Answer(resp.status, parsed, headers)

    def post(self, secret: str, body: str | bytes) -> Answer:
        """POST a body to a strategy's URL."""
        raw = body.encode() if isinstance(body, str) else body
        return self.request("POST", f"/tv/{quote(secret, safe='')}", raw)

    def get(self, path: str) -> Answer:
        return self.request("GET", path)


# ------------------------------------------------------------------------------------------------
# The two receivers


@dataclass
class Target:
    """A running receiver: where it listens and what it logged."""

    kind: str
    base_url: str
    _log: list[str] = field(default_factory=list)
    _log_file: Path | None = None

    @property
    def client(self) -> Client:
        return Client(self.base_url)

    def log_text(self) -> str:
        """Everything the receiver logged so far."""
        if self._log_file is not None:
            return self._log_file.read_text(encoding="utf-8", errors="replace")
        return "\n".join(self._log)


class _Collect(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass(frozen=True)
class Settings:
    """The receiver settings a case may change (the defaults: no rate limit in the way)."""

    rate_per_second: float = 1000.0
    burst: int = 1000
    max_body_bytes: int = 64 * 1024
    read_timeout: float = 1.0


@contextlib.contextmanager
def local_target(database_url: str, settings: Settings) -> Iterator[Target]:
    """The local receiver on its own thread, every log record of the process collected."""
    lines: list[str] = []
    handler = _Collect(lines)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    receiver = WebhookReceiver(ReceiverConfig(
        database_url=database_url, port=0, rate_per_second=settings.rate_per_second, burst=settings.burst,
        max_body_bytes=settings.max_body_bytes, read_timeout=settings.read_timeout))
    try:
        yield Target("local", receiver.start(), lines)
    finally:
        receiver.stop()
        root.removeHandler(handler)
        root.setLevel(previous)


_LISTENING = re.compile(r"Listening on (http://[0-9.]+:\d+)/")


@contextlib.contextmanager
def edge_target(database_url: str, settings: Settings) -> Iterator[Target]:
    """The Edge Function served by Deno on a free port, its output (both streams) kept in a file."""
    deno = deno_or_skip()
    env = deno_env(DENO_SERVE_ADDRESS="tcp:127.0.0.1:0", TNM_INGEST_DATABASE_URL=database_url,
                   TNM_WEBHOOK_RATE=str(settings.rate_per_second), TNM_WEBHOOK_BURST=str(settings.burst),
                   TNM_WEBHOOK_MAX_BODY=str(settings.max_body_bytes),
                   TNM_WEBHOOK_READ_TIMEOUT=str(settings.read_timeout))
    with tempfile.TemporaryDirectory(prefix="tnm-edge-") as work:
        log_file = Path(work) / "function.log"
        with log_file.open("wb") as out:
            proc = subprocess.Popen([str(deno), "run", "--allow-net", "--allow-env", "--no-prompt", str(FUNCTION)],
                                    stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work)
        try:
            base_url = _wait_listening(proc, log_file)
            yield Target("edge", base_url, _log_file=log_file)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_listening(proc: subprocess.Popen[bytes], log_file: Path, within: float = 120) -> str:
    # Generous: a first start may still fetch npm packages, and a loaded machine is slow.
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        text = log_file.read_text(encoding="utf-8", errors="replace")
        if found := _LISTENING.search(text):
            return found.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"Deno did not serve the function: {log_file.read_text(errors='replace')[-3000:]}")


# ------------------------------------------------------------------------------------------------
# Database URLs each receiver can use


# role -> (users, password): a role keeps its password while any receiver of the test uses it.
_PASSWORDS: dict[str, tuple[int, str]] = {}


@contextlib.contextmanager
def role_url(cluster: Any, dbname: str, kind: str, role: str = "tnm_ingest") -> Iterator[str]:
    """A URL of ``role`` for a receiver of ``kind``.

    The local receiver uses the cluster's private socket, as the app does. The Edge Function
    connects over TCP with a password, as on Supabase; the role has one while any receiver uses it,
    and none afterwards (the migrations create tnm_ingest without one).
    """
    if kind == "local":
        yield cluster.conninfo(user=role, dbname=dbname)
        return
    users, password = _PASSWORDS.get(role, (0, secrets.token_urlsafe(18)))
    if users == 0:
        _set_password(cluster, dbname, role, password)
    _PASSWORDS[role] = (users + 1, password)
    try:
        yield f"postgresql://{quote(role)}:{quote(password)}@127.0.0.1:{cluster.port}/{quote(dbname)}"
    finally:
        users, _ = _PASSWORDS.pop(role)
        if users > 1:
            _PASSWORDS[role] = (users - 1, password)
        else:
            _set_password(cluster, dbname, role, None)


def _set_password(cluster: Any, dbname: str, role: str, password: str | None) -> None:
    with psycopg.connect(cluster.conninfo(dbname=dbname), autocommit=True) as conn:
        conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(role), sql.Literal(password)))


@contextlib.contextmanager
def serve(kind: str, cluster: Any, dbname: str, settings: Settings = Settings(), *,
          role: str = "tnm_ingest", url: str | None = None) -> Iterator[Target]:
    """Start the receiver of ``kind`` on a database (or on ``url`` as given)."""
    with contextlib.ExitStack() as stack:
        database_url = url or stack.enter_context(role_url(cluster, dbname, kind, role))
        starter = local_target if kind == "local" else edge_target
        yield stack.enter_context(starter(database_url, settings))

