"""What every view of the main window is built with.

A view is a ``QWidget`` subclass constructed as ``View(ctx, parent=None)``. It loads its data
through ``ctx.tasks`` (never awaiting on the GUI thread), listens to ``ctx.live`` and
``ctx.agent``, reports to the user through ``ctx.bridge``, and keeps its layout in
``ctx.settings`` under its own group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings

from tnm_desktop.gui.widgets.bridge import MessageBridge
from tnm_desktop.gui.widgets.hubs import AgentBridge, LiveHub
from tnm_desktop.gui.widgets.tasks import TaskRunner
from tnm_desktop.services import Services

if TYPE_CHECKING:
    from tnm_desktop.gui.widgets.health import HealthWatch


@dataclass
class ViewContext:
    """The signed-in window's services, shared by its views."""

    services: Services
    tasks: TaskRunner
    bridge: MessageBridge
    live: LiveHub
    agent: AgentBridge
    settings: QSettings
    # The agents' health, one rule for every view (set by the session that builds the context).
    health: HealthWatch | None = None
