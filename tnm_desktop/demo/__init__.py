"""The demo: a local workspace with data, the simulator, the receiver and the agent, all running."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tnm_desktop.composition.demo import DemoRun
    from tnm_desktop.services import Services

log = logging.getLogger(__name__)

DEMO_PROFILE_ID = "demo"


async def open_demo(workspace: Path | None = None, *, fast_db: bool = False) -> Services:
    """Open the demo workspace for the app, signed in as the demo trader.

    The database, the simulator and the receiver start here (in a worker thread); the app embeds
    the agent itself. The first alerts are posted once the agent runs, so the signal log shows
    each outcome — filled, duplicate, refused, malformed — within the first minute.
    """
    from tnm_desktop import keystore
    from tnm_desktop.composition.demo import default_demo_dir, start_demo
    from tnm_desktop.data.local.adapter import LocalAdapter
    from tnm_desktop.demo.seed import DEMO_EMAIL, DEMO_PASSWORD
    from tnm_desktop.profiles import ConnectionProfile, ProfileKind
    from tnm_desktop.services import Services

    root = workspace or default_demo_dir()
    run = await asyncio.to_thread(start_demo, root, agent_process=False, fast_db=fast_db)
    profile = ConnectionProfile(id=DEMO_PROFILE_ID, name="Demo workspace", kind=ProfileKind.LOCAL,
                                workspace_dir=str(run.workspace.root), last_email=DEMO_EMAIL)
    data = LocalAdapter(run.conns.app, run.conns.auth, profile.session_key)
    keyring = await asyncio.to_thread(keystore.ensure_keyring, run.workspace.root)
    services = Services(profile, data, run.workspace, keyring=keyring, closers=[run.stop], receiver=run.receiver)
    try:
        await data.sign_in(DEMO_EMAIL, DEMO_PASSWORD, remember=False)
    except BaseException:
        await services.close()
        raise
    services.closers.append(_first_alerts_when_ready(run))
    return services


def _first_alerts_when_ready(run: DemoRun) -> Callable[[], None]:
    """Post the first alerts once the embedded agent runs; the returned closer stops waiting."""
    from tnm_desktop.errors import TnmError

    stop = threading.Event()

    def wait_and_send() -> None:
        try:
            run.wait_for_agent(timeout=120.0, cancelled=stop)
            if not stop.is_set():
                run.send_first_alerts()
        except TnmError as exc:
            log.warning("the demo's first alerts were not sent: %s", exc.message)

    threading.Thread(target=wait_and_send, name="demo-first-alerts", daemon=True).start()
    return stop.set
