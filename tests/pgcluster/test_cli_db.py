"""`tnm-desktop db up/down/status` on a real directory, through the real command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest


def tnm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tnm_desktop", *args], capture_output=True,
                          text=True, timeout=180, check=False)


@pytest.fixture
def workdir(pg_tmpdir: Path) -> Iterator[Path]:
    yield pg_tmpdir / "db"
    tnm("db", "down", "--dir", str(pg_tmpdir / "db"))


def test_up_on_an_empty_directory_then_down_then_up_keeps_data(workdir: Path) -> None:
    first = tnm("db", "up", "--dir", str(workdir))
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip().splitlines()[-1]
    assert url.startswith("postgresql://postgres@/tnm?host=")
    assert "applied 20251101000000_base_schema" in first.stdout

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("insert into auth.users (email) values ('kept@example.com')")

    status = tnm("db", "status", "--dir", str(workdir))
    assert "running=yes" in status.stdout
    assert "pending" not in status.stdout
    assert "applied 20251121000100_live_updates" in status.stdout

    down = tnm("db", "down", "--dir", str(workdir))
    assert down.returncode == 0 and down.stdout.strip() == "stopped"
    assert "running=no" in tnm("db", "status", "--dir", str(workdir)).stdout
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)

    again = tnm("db", "up", "--dir", str(workdir))
    assert again.returncode == 0, again.stderr
    assert "applied" not in again.stdout  # nothing new to apply
    url_again = again.stdout.strip().splitlines()[-1]
    with psycopg.connect(url_again) as conn:
        row = conn.execute("select p.email from public.profiles p join auth.users u on u.id = p.id "
                           "where u.email = 'kept@example.com'").fetchone()
    assert row == ("kept@example.com",)


def test_tcp_needs_a_password_and_the_superuser_has_none(workdir: Path) -> None:
    up = tnm("db", "up", "--dir", str(workdir))
    assert up.returncode == 0, up.stderr
    port = up.stdout.strip().rsplit("port=", 1)[1]
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/tnm", connect_timeout=5)


def test_missing_postgres_says_what_to_install(pg_tmpdir: Path) -> None:
    env = dict(os.environ, TNM_PG_BINDIR=str(pg_tmpdir))
    result = subprocess.run([sys.executable, "-m", "tnm_desktop", "db", "up", "--dir", str(pg_tmpdir / "x")],
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 2
    assert "No PostgreSQL 15 or newer server was found" in result.stderr
    assert "Install PostgreSQL" in result.stderr
    assert not (pg_tmpdir / "x").exists()


def test_a_private_directory_works_for_its_owner_and_is_refused_for_root(tmp_path: Path) -> None:
    # pytest's tmp_path sits under a 0700 directory: fine for a normal user, but when we are root
    # the server runs as another user who cannot enter it, and we must say so plainly.
    result = tnm("db", "up", "--dir", str(tmp_path / "db"))
    try:
        if os.name == "posix" and os.geteuid() == 0:
            assert result.returncode == 2
            assert "cannot write to" in result.stderr
            assert not (tmp_path / "db" / "pgdata" / "PG_VERSION").exists()
        else:
            assert result.returncode == 0, result.stderr
    finally:
        tnm("db", "down", "--dir", str(tmp_path / "db"))
