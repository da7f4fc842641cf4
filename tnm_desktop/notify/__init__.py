"""Notifications that reach a trader away from the desk: Telegram and e-mail, sent once.

Qt-free. Events are recorded in the database's outbox (``DataPort.record_notification``, or by
the database itself); :class:`~tnm_desktop.notify.dispatcher.Dispatcher` runs in every process
that can send — the app, a headless agent — and sends what it claims. The tray (the app only) shows
every recorded event as it arrives.
"""
