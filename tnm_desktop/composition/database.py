"""``tnm-desktop db``: the local workspace database on its own (no Qt, no asyncio)."""

from __future__ import annotations

from pathlib import Path


def up(root: Path, *, port: int | None) -> int:
    """Create (first time) and start the cluster; print the migrations applied, then its URL."""
    from tnm_desktop import pgcluster

    cluster, ran = pgcluster.up(root, port=port)
    for migration in ran:
        print(f"applied {migration.version}_{migration.name}")
    print(cluster.conninfo())
    return 0


def down(root: Path) -> int:
    """Stop the cluster; say whether it was running."""
    from tnm_desktop import pgcluster

    was_running = pgcluster.down(root)
    print("stopped" if was_running else "not running")
    return 0


def status(root: Path) -> int:
    """Print whether the cluster is initialized and running, and which migrations are applied."""
    from tnm_desktop import pgcluster

    state = pgcluster.status(root)
    print(f"initialized={'yes' if state.initialized else 'no'}")
    print(f"running={'yes' if state.running else 'no'}")
    if state.url:
        print(f"url={state.url}")
    for name in state.applied:
        print(f"applied {name}")
    for name in state.pending:
        print(f"pending {name}")
    return 0
