"""The pages of the main window, in the order the navigation shows them.

To add a page, append a :class:`Page` to :data:`PAGES` with a function that imports its view;
``order`` places it (Strategies 10, Signals 20, Positions & History 25, EA Studio 30, Accounts & Sync 40, Agent 50,
Settings 90). The view is imported when the window is built (or earlier, in a worker thread, by
:func:`import_views`), so a page's module may be heavy; its class is ``View(ctx, parent=None)``.
The imports are plain ones inside functions, so the import contracts see the shell → pages
dependency.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QWidget

from tnm_desktop.gui.pages.context import ViewContext

ViewClass = Callable[[ViewContext, QWidget | None], QWidget]


@dataclass(frozen=True, slots=True)
class Page:
    """One entry of the navigation.

    Attributes:
        key: Stable identifier (remembered as the last open page).
        title: What the navigation shows.
        load: Imports the page's module and returns its view class.
        order: Position in the navigation, smaller first.
    """

    key: str
    title: str
    load: Callable[[], ViewClass]
    order: int

    def create(self, ctx: ViewContext, parent: QWidget | None = None) -> QWidget:
        """Build the page's view."""
        return self.load()(ctx, parent)


def _strategies() -> ViewClass:
    from tnm_desktop.gui.pages.strategies import StrategiesView

    return StrategiesView


def _signals() -> ViewClass:
    from tnm_desktop.gui.pages.signals import SignalsView

    return SignalsView


def _positions() -> ViewClass:
    from tnm_desktop.gui.pages.positions import PositionsView

    return PositionsView


def _ea_studio() -> ViewClass:
    from tnm_desktop.gui.pages.ea_studio import EaStudioView

    return EaStudioView


def _accounts() -> ViewClass:
    from tnm_desktop.gui.pages.accounts import AccountsView

    return AccountsView


def _agent() -> ViewClass:
    from tnm_desktop.gui.pages.agent import AgentView

    return AgentView


def _settings() -> ViewClass:
    from tnm_desktop.gui.pages.settings import SettingsView

    return SettingsView


PAGES: list[Page] = [
    Page("strategies", "Strategies", _strategies, 10),
    Page("signals", "Signals", _signals, 20),
    Page("positions", "Positions & History", _positions, 25),
    Page("ea_studio", "EA Studio", _ea_studio, 30),
    Page("accounts", "Accounts & Sync", _accounts, 40),
    Page("agent", "Agent", _agent, 50),
    Page("settings", "Settings", _settings, 90),
]


def import_views() -> None:
    """Import every page's module (the app does it in a worker thread while the user signs in)."""
    for page in PAGES:
        page.load()


def pages() -> list[Page]:
    """The pages in navigation order."""
    return sorted(PAGES, key=lambda page: page.order)
