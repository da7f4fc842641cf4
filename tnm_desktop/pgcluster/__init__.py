"""The local workspace database: a private PostgreSQL with the whole TNM schema."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from tnm_desktop import files
from tnm_desktop.pgcluster import migrate
from tnm_desktop.pgcluster.cluster import DATABASE, LocalCluster, find_postgres, free_port

__all__ = ["DATABASE", "LocalCluster", "Status", "down", "find_postgres", "free_port", "status",
           "up"]


def ensure_database(cluster: LocalCluster, dbname: str = DATABASE) -> None:
    """Create ``dbname`` in a running cluster if it does not exist."""
    with psycopg.connect(cluster.conninfo(dbname="postgres"), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))


def up(root: Path, *, port: int | None = None, fast: bool = False,
       dbname: str = DATABASE) -> tuple[LocalCluster, list[migrate.Migration]]:
    """Create (first time) and start the cluster in ``root`` and bring its schema up to date.

    Returns:
        The cluster and the migrations that were applied now.
    """
    cluster = LocalCluster(root, fast=fast)
    try:
        cluster.start(port)
    except OSError as exc:
        raise files.problem(exc, "the database folder", root) from exc
    ensure_database(cluster, dbname)
    with psycopg.connect(cluster.conninfo(dbname=dbname), autocommit=True) as conn:
        migrate.apply_compat(conn)
        ran = migrate.apply_pending(conn)
    return cluster, ran


def down(root: Path) -> bool:
    """Stop the cluster in ``root``; return whether it was running."""
    cluster = LocalCluster(root)
    running = cluster.is_running()
    cluster.stop()
    return running


@dataclass(frozen=True)
class Status:
    """What ``tnm-desktop db status`` reports."""

    initialized: bool
    running: bool
    url: str | None
    applied: list[str]
    pending: list[str]


def status(root: Path, dbname: str = DATABASE) -> Status:
    """Describe the cluster in ``root`` and its migrations."""
    cluster = LocalCluster(root)
    every = [m.version + "_" + m.name for m in migrate.migrations()]
    if not cluster.is_running():
        return Status(cluster.initialized, False, None, [], every)
    with psycopg.connect(cluster.conninfo(dbname=dbname), autocommit=True) as conn:
        done = set(migrate.applied(conn))
    applied = [name for name in every if name.split("_", 1)[0] in done]
    pending = [name for name in every if name.split("_", 1)[0] not in done]
    return Status(True, True, cluster.conninfo(dbname=dbname), applied, pending)
