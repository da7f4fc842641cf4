"""The pages of the main window, in the order the navigation shows them.

To add a page, append a :class:`Page` to :data:`PAGES`; ``order`` places it (Strategies 10,
Signals 20, Positions & History 25, EA Studio 30, Accounts & Sync 40, Agent 50, Settings 90). The view is imported when
the window is built, so a page's module may be heavy; its class is ``View(ctx, parent=None)``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from PySide6.QtWidgets import QWidget

from tnm_desktop.gui.context import ViewContext


@dataclass(frozen=True, slots=True)
class Page:
    """One entry of the navigation.

    Attributes:
        key: Stable identifier (remembered as the last open page).
        title: What the navigation shows.
        view: ``"package.module:ClassName"`` of the view.
        order: Position in the navigation, smaller first.
    """

    key: str
    title: str
    view: str
    order: int

    def create(self, ctx: ViewContext, parent: QWidget | None = None) -> QWidget:
        """Build the page's view."""
        module, _, name = self.view.partition(":")
        cls = getattr(importlib.import_module(module), name)
        widget: QWidget = cls(ctx, parent)
        return widget


PAGES: list[Page] = [
    Page("strategies", "Strategies", "tnm_desktop.gui.views.strategies:StrategiesView", 10),
    Page("signals", "Signals", "tnm_desktop.gui.views.signals:SignalsView", 20),
    Page("positions", "Positions & History", "tnm_desktop.gui.views.positions:PositionsView", 25),
    Page("ea_studio", "EA Studio", "tnm_desktop.gui.views.ea_studio:EaStudioView", 30),
    Page("accounts", "Accounts & Sync", "tnm_desktop.gui.views.accounts:AccountsView", 40),
    Page("agent", "Agent", "tnm_desktop.gui.views.agent:AgentView", 50),
    Page("settings", "Settings", "tnm_desktop.gui.views.settings:SettingsView", 90),
]


def import_views() -> None:
    """Import every page's module (the app does it in a worker thread while the user signs in)."""
    for page in PAGES:
        importlib.import_module(page.view.partition(":")[0])


def pages() -> list[Page]:
    """The pages in navigation order."""
    return sorted(PAGES, key=lambda page: page.order)
