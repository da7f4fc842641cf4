"""The signed-in window: navigation between the pages, banners, status bar, tray icon."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QSizePolicy,
    QStackedWidget,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.gui.pages.connect_mt5 import ConnectMt5Dialog, open_connect_mt5
from tnm_desktop.gui.shell.about import AboutDialog
from tnm_desktop.gui.shell.guide import GettingStarted
from tnm_desktop.gui.shell.navigation import Page, pages
from tnm_desktop.gui.shell.notify import Notifier
from tnm_desktop.gui.shell.session import GuiSession
from tnm_desktop.gui.shell.status import StatusPanel
from tnm_desktop.gui.shell.trading_switch import StopTradingBar, TradingSwitch
from tnm_desktop.gui.widgets import Banner, BusyIndicator, theme
from tnm_desktop.profiles import DEMO_PROFILE_ID

_NAV_STYLE = "#navigation { border: none; font-size: 14px; } #navigation::item { padding: 9px 14px; }"
_PALETTE_EVENTS = (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)


class MainWindow(QMainWindow):
    """Strategies, Signals, EA Studio, Accounts & Sync, Agent and Settings in one window.

    Args:
        session: The signed-in session whose context every page is built with.

    Signals:
        sign_out_requested(): the user chose "Sign out".
        closed(): the window was closed (the app quits).
    """

    sign_out_requested = Signal()
    closed = Signal()

    def __init__(self, session: GuiSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        ctx = session.ctx
        self._settings = ctx.settings
        data = ctx.services.data
        who = data.session.email if data.session is not None else ""
        self.setWindowTitle(f"TNM Desktop — {who} · {ctx.services.profile.name}")
        self.setWindowIcon(theme.app_icon())
        self.setObjectName("main_window")

        self.offline_banner = Banner(self)
        self.offline_banner.action_clicked.connect(self._on_offline_banner_action_clicked)
        self.message_banner = Banner(self, closable=True)
        self.demo_banner = Banner(self)
        self.demo_banner.setObjectName("demo_banner")
        self.demo_banner.action_clicked.connect(self.open_connect_mt5)
        self.is_demo = ctx.services.profile.id == DEMO_PROFILE_ID
        if self.is_demo:
            self.demo_banner.show_message("Demo workspace: paper money on a simulator — nothing reaches a broker.",
                                          "idle", "Connect my MetaTrader 5…")
        self.guide: GettingStarted | None = None
        self.about: AboutDialog | None = None
        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setFixedWidth(170)
        self.nav.setIconSize(QSize(0, 0))
        self.nav.setStyleSheet(_NAV_STYLE)
        self.stack = QStackedWidget()
        self.views: dict[str, QWidget] = {}
        self._pages: list[Page] = pages()
        for page in self._pages:
            self.stack.addWidget(QWidget())  # stands in until the page is built
            item = QListWidgetItem(page.title)
            item.setData(Qt.ItemDataRole.UserRole, page.key)
            self.nav.addItem(item)
        self.nav.currentRowChanged.connect(self._on_nav_current_row_changed)

        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        body.addWidget(self.nav)
        body.addWidget(self.stack, 1)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.offline_banner)
        column.addWidget(self.message_banner)
        column.addWidget(self.demo_banner)
        column.addLayout(body, 1)
        self.setCentralWidget(central)

        self.status = StatusPanel(ctx, self)
        self.busy = BusyIndicator(self)
        self.statusBar().addPermanentWidget(self.busy)
        self.statusBar().addPermanentWidget(self.status)
        self._build_menu()

        self.trading = TradingSwitch(ctx, self)
        self.stop_bar = StopTradingBar(ctx, self.trading, self)
        self._build_trading_toolbar()

        self.notifier = Notifier(ctx.live, self)
        self.notifier.notify.connect(self._on_notifier_notify)
        self.tray_menu = self._build_tray_menu()
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(theme.app_icon(), self)
            self.tray.setToolTip("TNM Desktop")
            self.tray.setContextMenu(self.tray_menu)
            self.tray.show()
        self.trading.refresh()

        ctx.bridge.message.connect(self._on_bridge_message)
        ctx.bridge.busy.connect(self._on_bridge_busy)
        session.connectivity.offline_changed.connect(self._on_connectivity_offline_changed)
        session.connectivity.restored.connect(self._on_connectivity_restored)
        # Pages are built one per event-loop turn, the open one first: building all six at once
        # would hold the GUI thread for longer than a frame or two.
        self._unbuilt: list[str] = []
        self._restore_layout()
        current = self._pages[max(self.nav.currentRow(), 0)].key
        self._unbuilt = [current] + [page.key for page in self._pages if page.key != current]
        QTimer.singleShot(0, self._on_build_timer_timeout)
        if self.is_demo and not self._settings.value("guide/shown", False, type=bool):
            self._settings.setValue("guide/shown", True)
            QTimer.singleShot(0, self.open_guide)  # the first demo: show the way on from it

    # Navigation -------------------------------------------------------------------------------

    def view(self, key: str) -> QWidget:
        """A page's view, built now if it was not yet."""
        found = self.views.get(key)
        if found is not None:
            return found
        index = next(i for i, page in enumerate(self._pages) if page.key == key)
        view = self._pages[index].create(self.session.ctx, self.stack)
        placeholder = self.stack.widget(index)
        current = self.stack.currentIndex()
        self.stack.insertWidget(index, view)
        if placeholder is not None:
            self.stack.removeWidget(placeholder)
            placeholder.deleteLater()
        self.stack.setCurrentIndex(current)
        self.views[key] = view
        return view

    def show_page(self, key: str) -> QWidget:
        """Switch to a page by its key and return its view."""
        index = next(i for i, page in enumerate(self._pages) if page.key == key)
        self.nav.setCurrentRow(index)
        return self.view(key)

    def _on_nav_current_row_changed(self, row: int) -> None:
        if 0 <= row < len(self._pages):
            if self._unbuilt or self.views:  # not while the window itself is being built
                self.view(self._pages[row].key)
            self.stack.setCurrentIndex(row)
            self._settings.setValue("main/page", self._pages[row].key)

    @property
    def building(self) -> bool:
        """Whether some pages are still to be built."""
        return bool(self._unbuilt)

    def _on_build_timer_timeout(self) -> None:
        while self._unbuilt and self._unbuilt[0] in self.views:
            self._unbuilt.pop(0)
        if self.session.closed:
            self._unbuilt = []
        if self._unbuilt:
            self.view(self._unbuilt.pop(0))
            QTimer.singleShot(0, self._on_build_timer_timeout)

    # Menu -------------------------------------------------------------------------------------

    def _build_menu(self) -> None:
        account = self.menuBar().addMenu("&Account")
        sign_out = QAction("Sign &out", self)
        sign_out.triggered.connect(self.sign_out_requested)
        account.addAction(sign_out)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut("Ctrl+Q")
        quit_action.triggered.connect(self.close)
        account.addAction(quit_action)

        view = self.menuBar().addMenu("&View")
        themes = QActionGroup(self)
        for choice, title in ((theme.Theme.LIGHT, "&Light theme"), (theme.Theme.DARK, "&Dark theme")):
            action = QAction(title, self, checkable=True)
            action.setChecked(theme.current() is choice)
            action.triggered.connect(lambda _checked=False, c=choice: self.set_theme(c))
            themes.addAction(action)
            view.addAction(action)
        self._theme_actions = themes

        help_menu = self.menuBar().addMenu("&Help")
        for title, slot in (("&Getting started…", self.open_guide),
                            ("&Connect my MetaTrader 5…", self.open_connect_mt5),
                            ("&About TNM Desktop", self.open_about)):
            action = QAction(title, self)
            action.triggered.connect(slot)
            help_menu.addAction(action)

    # Help -------------------------------------------------------------------------------------

    def open_guide(self) -> GettingStarted:
        """Show Getting started (one at a time)."""
        if self.guide is None:
            self.guide = GettingStarted(self)
            self.guide.go.connect(self._on_guide_go)
        self.guide.show()
        return self.guide

    def _on_guide_go(self, target: str) -> None:
        if target == "connect":
            self.open_connect_mt5()
        else:
            self.show_page(target)

    def open_connect_mt5(self) -> ConnectMt5Dialog:
        """Open “Connect my MetaTrader 5”."""
        return open_connect_mt5(self.session.ctx, self)  # deleted when closed: not kept here

    def open_about(self) -> AboutDialog:
        """Open Help → About."""
        if self.about is None:
            self.about = AboutDialog(self.session.ctx.services, self.session.ctx.tasks, self)
        self.about.show()
        return self.about

    # The trading switch: always in view, in the toolbar and the tray ---------------------------

    def _build_trading_toolbar(self) -> None:
        toolbar = self.addToolBar("Trading")
        toolbar.setObjectName("trading_toolbar")
        toolbar.setMovable(False)
        toolbar.setFloatable(False)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addWidget(self.stop_bar)

    def _build_tray_menu(self) -> QMenu:
        menu = QMenu(self)
        self.tray_stop = menu.addAction("Stop trading")
        self.tray_stop.triggered.connect(self._on_tray_stop_triggered)
        self.tray_start = menu.addAction("Start trading")
        self.tray_start.triggered.connect(self.trading.start)
        self.tray_start.setEnabled(False)
        menu.addSeparator()
        show = menu.addAction("Show TNM Desktop")
        show.triggered.connect(self._on_tray_show_triggered)
        self.trading.changed.connect(self._on_trading_changed)
        return menu

    def _on_trading_changed(self, enabled: bool, _reason: str) -> None:
        self.tray_stop.setEnabled(enabled)
        self.tray_start.setEnabled(not enabled)

    def _on_tray_stop_triggered(self) -> None:
        # Trading stops at once; the question about closing everything needs the window.
        self._on_tray_show_triggered()
        self.stop_bar.request_stop()

    def _on_tray_show_triggered(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def set_theme(self, choice: theme.Theme) -> None:
        """Apply a theme to the whole app and remember it."""
        theme.apply(choice)
        self._settings.setValue("ui/theme", choice.value)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in _PALETTE_EVENTS and hasattr(self, "status"):
            # A style sheet keeps the colours it was polished with: set it again to pick up the theme.
            self.nav.setStyleSheet(_NAV_STYLE)
            for action in self._theme_actions.actions():
                action.setChecked(action.text().lower().startswith(f"&{theme.current().value}"))
            self.status.set_offline(self.session.connectivity.offline)  # recolour the dots

    # Messages, offline, notifications ---------------------------------------------------------

    def _on_bridge_message(self, level: str, text: str) -> None:
        connectivity = self.session.connectivity
        if connectivity.offline and text == connectivity.reason:
            return  # the offline banner says it already; once is enough
        if level == "info":
            self.statusBar().showMessage(text, 6000)
        else:
            self.message_banner.show_message(text, "warn" if level == "warning" else "bad")

    def _on_bridge_busy(self, busy: bool) -> None:
        self.busy.set_busy(busy, "Working…")

    def _on_connectivity_offline_changed(self, offline: bool) -> None:
        self.status.set_offline(offline)
        if offline:
            reason = self.session.connectivity.reason or "The backend does not answer."
            self.offline_banner.show_message(
                f"Offline — {reason} Retrying automatically; what you see may be out of date.",
                "bad", "Retry now")
        else:
            self.offline_banner.hide()

    def _on_offline_banner_action_clicked(self) -> None:
        self.session.connectivity.check_now()

    def _on_connectivity_restored(self) -> None:
        # Changes made while offline were not pushed: each page reloads what it shows.
        self.status.reload()
        for view in list(self.views.values()):
            reload = getattr(view, "reload", None)
            if callable(reload):
                reload()

    def _on_notifier_notify(self, title: str, text: str) -> None:
        self.statusBar().showMessage(f"{title}: {text}", 10000)
        if self.tray is not None:
            self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Warning, 8000)

    # Layout -----------------------------------------------------------------------------------

    def _restore_layout(self) -> None:
        geometry = self._settings.value("main/geometry")
        if isinstance(geometry, QByteArray | bytes):
            self.restoreGeometry(QByteArray(geometry))
        else:
            self.resize(1280, 800)
        state = self._settings.value("main/state")
        if isinstance(state, QByteArray | bytes):
            self.restoreState(QByteArray(state))
        keys = [page.key for page in self._pages]
        last = self._settings.value("main/page")
        self.nav.setCurrentRow(keys.index(last) if last in keys else 0)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._unbuilt = []  # the session closes next: build nothing more
        # Its own windows go with it: left open, they would act on a session that is closing.
        for window in self.findChildren(QDialog):  # only the living: a closed Connect dialog is deleted
            if isinstance(window, GettingStarted | AboutDialog | ConnectMt5Dialog) and window.isVisible():
                window.close()
        self._settings.setValue("main/geometry", self.saveGeometry())
        self._settings.setValue("main/state", self.saveState())
        if self.tray is not None:
            self.tray.hide()
        super().closeEvent(event)
        self.closed.emit()


def current_window() -> MainWindow | None:
    """The open main window, if any (for the crash dialog's parent)."""
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, MainWindow) and widget.isVisible():
            return widget
    return None
