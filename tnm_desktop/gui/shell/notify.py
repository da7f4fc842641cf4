"""The tray's share of the notifications: every event recorded for the trader, shown once.

Events are decided and recorded in one place — the database's outbox (a failed signal, an agent
down or back, a limit reached, a sync that keeps failing), whoever saw them — and arrive here
live; Telegram and e-mail go out through the dispatcher (:mod:`tnm_desktop.notify`). The
:class:`Notifier` only turns each new event into one ``notify`` signal; the main window shows it
through the tray icon and the status bar, so what is told is testable without a system tray.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from tnm_desktop.data.port import Change
from tnm_desktop.domain.notifications import Notification
from tnm_desktop.gui.widgets.hubs import LiveHub


class Notifier(QObject):
    """Turns recorded events into tray notifications.

    Signals:
        notify(str, str): a title and a message for the user.
    """

    notify = Signal(str, str)

    def __init__(self, live: LiveHub, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._told: set[str] = set()
        live.notification_added.connect(self._on_live_notification_added)

    def _on_live_notification_added(self, change: Change) -> None:
        note = change.row
        if not isinstance(note, Notification) or note.id in self._told:
            return
        self._told.add(note.id)
        self.notify.emit(note.title, note.body)
