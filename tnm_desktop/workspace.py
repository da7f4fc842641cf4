"""A local workspace: a folder holding a private database, a simulated terminal and settings.

Layout::

    <dir>/db/                  the PostgreSQL cluster (see tnm_desktop.pgcluster)
    <dir>/simulator/state.json the MT5 simulator's account, positions and history
    <dir>/workspace.json       settings of this workspace (no secrets)
    <dir>/keyring.json         only on machines without an OS keyring (owner-only)

Opening a workspace starts its database (creating it the first time) and brings the schema up to
date. Everything here blocks: call it off the GUI thread.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tnm_desktop import pgcluster
from tnm_desktop.pgcluster import LocalCluster


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

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    @property
    def exists(self) -> bool:
        """Whether the workspace has a database already."""
        return (self.db_dir / "pgdata" / "PG_VERSION").is_file()

    def open(self, *, fast: bool = False) -> Connections:
        """Start the database (creating it the first time) and apply pending migrations."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.name == "posix" and os.geteuid() == 0:
            os.chmod(self.root, 0o755)  # noqa: S103 — as root, the server runs as another user who must enter it
        was_running = LocalCluster(self.db_dir).is_running()
        self._cluster, _ = pgcluster.up(self.db_dir, fast=fast)
        self._started_here = not was_running
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
        if self._cluster is not None and self._started_here:
            self._cluster.stop()
        self._cluster = None

    def settings(self) -> WorkspaceSettings:
        """The workspace's settings (defaults when there are none yet)."""
        try:
            data = json.loads(self._settings_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return WorkspaceSettings()
        known = {k: v for k, v in data.items() if k in WorkspaceSettings.__dataclass_fields__}
        return WorkspaceSettings(**known)

    def update_settings(self, **changes: object) -> WorkspaceSettings:
        """Change some settings and save them atomically."""
        settings = replace(self.settings(), **changes)  # type: ignore[arg-type]
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".workspace-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(asdict(settings), fh, indent=2)
        os.replace(tmp, self._settings_path)
        return settings
