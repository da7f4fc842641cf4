"""A local workspace: a folder holding a private database, a simulated terminal and settings.

Layout::

    <dir>/db/                  the PostgreSQL cluster (see tnm_desktop.pgcluster)
    <dir>/simulator/state.json the MT5 simulator's account, positions and history (SQLite)
    <dir>/workspace.json       settings of this workspace (no secrets)
    <dir>/keyring.json         only on machines without an OS keyring (owner-only)

Opening a workspace starts its database (creating it the first time) and brings the schema up to
date; a database started here is stopped by :meth:`Workspace.close`, or by its guard process if
this process dies first. Everything here blocks: call it off the GUI thread.

Trouble with the folder or its files is raised as an OperationalError that says what, where and
what to do (see :mod:`tnm_desktop.files`); a damaged settings file is never written over.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from tnm_desktop import files, pgcluster
from tnm_desktop.errors import OperationalError
from tnm_desktop.pgcluster import LocalCluster
from tnm_desktop.pgcluster.guard import start_guard, stop_guard


@dataclass(frozen=True, slots=True)
class WorkspaceSettings:
    """What a workspace remembers between runs."""

    receiver_port: int = 8787
    demo_user_id: str | None = None
    agent_id: str | None = None
    demo_alerts_sent: bool = False


@dataclass(frozen=True, slots=True)
class Connections:
    """libpq URLs of an open workspace's database, one per role."""

    app: str  # authenticator: becomes the signed-in user, as PostgREST does
    auth: str  # supabase_auth_admin: sign-in and sign-up
    admin: str  # the superuser: migrations and the demo's set-up only
    ingest: str  # tnm_ingest: the webhook receiver, which may only call the ingestion function


class Workspace:
    """One local workspace folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self.db_dir = self.root / "db"
        self.simulator_state = self.root / "simulator" / "state.json"
        self._settings_path = self.root / "workspace.json"
        self._cluster: LocalCluster | None = None
        self._started_here = False
        self._guard: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    @property
    def exists(self) -> bool:
        """Whether the workspace has a database already."""
        return (self.db_dir / "pgdata" / "PG_VERSION").is_file()

    def check_exists(self) -> None:
        """Raise OperationalError unless this folder holds a workspace already."""
        if self.root.exists() and not self.root.is_dir():
            raise files.problem(NotADirectoryError(20, "not a folder"), "the workspace folder", self.root)
        if not self.exists:
            raise OperationalError(
                f"There is no workspace in {self.root}: check the folder's name, or create a workspace there "
                f"first (in the app, or with tnm-desktop --workspace {self.root}).", code="no_workspace")

    def open(self, *, fast: bool = False) -> Connections:
        """Start the database (creating it the first time) and apply pending migrations."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if os.name == "posix" and os.geteuid() == 0:
                os.chmod(self.root, 0o755)  # noqa: S103 — as root, the server runs as another user who must enter it
        except OSError as exc:
            raise files.problem(exc, "the workspace folder", self.root) from exc
        cluster = LocalCluster(self.db_dir, fast=fast)
        was_running = cluster.is_running()
        # The guard first: from the moment the server runs, it does not outlive this process.
        guard = None if was_running else start_guard(self.db_dir)
        try:
            self._cluster, _ = pgcluster.up(self.db_dir, fast=fast)
        except BaseException:
            if not was_running:
                with contextlib.suppress(Exception):
                    cluster.stop()  # started, then failed (e.g. a migration): stop it again
            if guard is not None:
                stop_guard(guard)
            raise
        self._started_here, self._guard = not was_running, guard
        return self.connections()

    def connections(self) -> Connections:
        """The URLs of the running database."""
        cluster = self._cluster or LocalCluster(self.db_dir)
        return Connections(app=cluster.conninfo(user="authenticator"),
                           auth=cluster.conninfo(user="supabase_auth_admin"),
                           admin=cluster.conninfo(user="postgres"),
                           ingest=cluster.conninfo(user="tnm_ingest"))

    def close(self) -> None:
        """Stop the database if this process started it."""
        try:
            if self._cluster is not None and self._started_here:
                self._cluster.stop()
        finally:
            self._cluster = None
            if self._guard is not None:
                stop_guard(self._guard)
                self._guard = None

    def settings(self) -> WorkspaceSettings:
        """The workspace's settings (defaults when there are none yet).

        Raises:
            OperationalError: ``workspace.json`` cannot be read or is damaged (it is left as it is).
        """
        data = files.read_json_object(self._settings_path, "the workspace settings file")
        if data is None:
            return WorkspaceSettings()
        known = {f.name: f for f in fields(WorkspaceSettings)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in known:
                if not _fits(value, WorkspaceSettings.__annotations__[key]):
                    raise files.damaged("the workspace settings file", self._settings_path,
                                        f"{key} has the wrong type")
                values[key] = value
        return WorkspaceSettings(**values)

    def update_settings(self, **changes: object) -> WorkspaceSettings:
        """Change some settings and save them atomically."""
        settings = replace(self.settings(), **changes)  # type: ignore[arg-type]
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".workspace-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(asdict(settings), fh, indent=2)
                os.replace(tmp, self._settings_path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise files.problem(exc, "the workspace settings file", self._settings_path) from exc
        return settings


def _fits(value: object, annotation: str) -> bool:
    # The annotations are strings here (``from __future__ import annotations``).
    if annotation == "bool":
        return isinstance(value, bool)
    if annotation == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return value is None or isinstance(value, str)  # "str | None"
