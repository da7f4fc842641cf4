"""The desktop app: which profile it starts with, what builds its services, and its event loop.

The event loop is qasync's ``QEventLoop``: Qt and asyncio on one thread. On Windows that is the
proactor loop (``QIOCPEventLoop``), which refuses ``add_reader``; the app keeps it — it is the loop
qasync is built around there — and the local adapter runs psycopg on a selector loop thread of its
own when it is called from such a loop (:func:`tnm_desktop.loops.on_selector_loop`). The agent and
the receiver run on threads with selector loops of their own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from tnm_desktop.profiles import ConnectionProfile, ProfileKind, ProfileStore

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from tnm_desktop.gui.shell.controller import StartUp


def run(*, demo: bool = False, workspace: Path | None = None) -> int:
    """Run the desktop app until the user quits (``tnm-desktop``); return the exit status."""
    from tnm_desktop.composition.services import open_services
    from tnm_desktop.gui.shell import app

    return app.run(choose=lambda store: choose_startup(store, demo=demo, workspace=workspace),
                   open_services=open_services, new_loop=gui_loop)


def gui_loop(app: QApplication) -> asyncio.AbstractEventLoop:
    """The GUI thread's event loop: qasync's, as it is on each platform (see the module's doc)."""
    import qasync

    loop: asyncio.AbstractEventLoop = qasync.QEventLoop(app)
    return loop


async def choose_startup(store: ProfileStore, *, demo: bool = False, workspace: Path | None = None) -> StartUp:
    """Pick the start-up profile: the demo, ``--workspace DIR``, the default one, or (nothing
    configured) the demo."""
    from tnm_desktop.gui.shell.controller import StartUp

    if demo:
        return await _demo_startup(workspace)
    if workspace is not None:
        return StartUp(await asyncio.to_thread(_workspace_profile, store, workspace))
    profiles, default_id = await asyncio.to_thread(store.load)
    chosen = next((p for p in profiles if p.id == default_id), profiles[0] if profiles else None)
    if chosen is None:
        # Nothing configured: the demo, so the whole pipeline can be watched working at once.
        # Signing out of it leads to the sign-in window, where a workspace or project is added.
        return await _demo_startup(None)
    return StartUp(chosen)


def _workspace_profile(store: ProfileStore, workspace: Path) -> ConnectionProfile:
    # The profile of a folder given on the command line. It is saved (and so remembered, with
    # "remember me") only once it has opened and been signed in to: a mistyped folder must not
    # become the profile every later start opens.
    folder = str(Path(workspace).expanduser().absolute())
    profiles, _ = store.load()
    found = next((p for p in profiles if p.kind is ProfileKind.LOCAL and p.workspace_dir == folder), None)
    if found is not None:
        return found
    return ConnectionProfile.new(Path(folder).name or "Workspace", ProfileKind.LOCAL,
                                 workspace_dir=folder).validated()


async def _demo_startup(workspace: Path | None) -> StartUp:
    from tnm_desktop.composition.demo import open_demo
    from tnm_desktop.gui.shell.controller import StartUp

    services = await open_demo(workspace)
    return StartUp(services.profile, services)
