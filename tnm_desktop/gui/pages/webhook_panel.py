"""A strategy's webhook: the URL (secret masked until revealed), the alert message and what an opposite
signal does, rotation, a test.

The secret only ever leaves this panel through the clipboard or the test request; what is shown
and what goes into messages is the masked URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.domain import Strategy, StrategyDraft
from tnm_desktop.domain.alerts import (
    OPPOSITE_CHOICES,
    alert_message,
    opposite_explained,
    pine_example,
    pine_settings,
    sample_alert,
)
from tnm_desktop.errors import TnmError, UserError
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.webhook_reach import describe_route, unreachable_hint, where_alerts_go
from tnm_desktop.gui.widgets import BusyIndicator, InlineMessage, ask, copy_to_clipboard, monospace_font

TEST_TIMEOUT_S = 5.0
MASK = "•" * 16


def masked_url(strategy: Strategy, base_url: str) -> str:
    """The webhook URL with its secret hidden."""
    return strategy.webhook_url(base_url).removesuffix(strategy.webhook_secret) + MASK


async def post_test_alert(url: str, shown_url: str, body: str, wait_s: float = TEST_TIMEOUT_S, *,
                          unreachable: str | None = None) -> str:
    """POST ``body`` to the webhook as TradingView would; return what the receiver answered.

    Errors name ``shown_url`` (masked), never the real one; ``unreachable`` replaces the message
    when nothing answers (it says what to check on this route).
    """
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=wait_s)) as http, \
                http.post(url, data=body.encode(), headers={"Content-Type": "application/json"}) as answer:
            text = (await answer.text()).strip()
            summary = f"{answer.status} {answer.reason or ''}".strip()
            return f"The receiver answered {summary}" + (f": {text[:300]}" if text else ".")
    except TimeoutError as exc:
        raise UserError(f"No answer from {shown_url} within {wait_s:g} s.", code="receiver_timeout") from exc
    except aiohttp.ClientError as exc:
        host = urlsplit(url).netloc
        why = unreachable or f"Nothing answered at {host} — is the webhook receiver running?"
        raise UserError(f"{why} ({type(exc).__name__})", code="receiver_unreachable") from exc


class WebhookPanel(QWidget):
    """The webhook of the selected strategy.

    Signals:
        strategy_changed(object): the strategy was changed here (its secret was rotated).
    """

    strategy_changed = Signal(object)

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.strategy: Strategy | None = None
        self._route = ""

        self.url = QLineEdit()
        self.url.setReadOnly(True)
        self.url.setFont(monospace_font())
        self.url.setObjectName("webhook_url")
        self.reveal = QPushButton("Show")
        self.reveal.setCheckable(True)
        self.reveal.toggled.connect(self._on_reveal_toggled)
        self.copy_url = QPushButton("Copy URL")
        self.copy_url.clicked.connect(self._on_copy_url_clicked)
        self.message_text = QPlainTextEdit()
        self.message_text.setReadOnly(True)
        self.message_text.setFont(monospace_font())
        self.message_text.setFixedHeight(92)
        self.message_text.setObjectName("alert_message")
        self.opposite = QComboBox()
        self.opposite.setObjectName("opposite_signal")
        for choice, (title, _text) in OPPOSITE_CHOICES.items():
            self.opposite.addItem(title, choice.value)
        self.opposite.setToolTip("What this strategy's signal does to its own open position on the other side.")
        self.opposite.activated.connect(self._on_opposite_activated)
        self.opposite_note = QLabel()
        self.opposite_note.setObjectName("opposite_note")
        self.opposite_note.setWordWrap(True)
        self.copy_message = QPushButton("Copy message")
        self.copy_message.clicked.connect(self._on_copy_message_clicked)
        self.rotate = QPushButton("Rotate secret…")
        self.rotate.clicked.connect(self._on_rotate_clicked)
        self.test = QPushButton("Send test signal")
        self.test.clicked.connect(self._on_test_clicked)
        self.busy = BusyIndicator()
        self.answer = InlineMessage()
        self.hint = QLabel("In TradingView (webhooks need a paid plan and two-factor authentication): Create "
                           "Alert → Notifications → Webhook URL, then paste the message into the alert's Message "
                           "box.")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: palette(placeholder-text);")
        self.route = QLabel()
        self.route.setObjectName("webhook_route")
        self.route.setWordWrap(True)
        # The strategy's reading of PineConnector's numbers (its EA settings live on the strategy here).
        self.pine = QLabel()
        self.pine.setObjectName("pine_settings")
        self.pine.setWordWrap(True)
        self.pine.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pine.setMinimumHeight(self.pine.fontMetrics().lineSpacing() * 3)  # the splitter sizes it up front

        grid = QGridLayout()
        grid.addWidget(QLabel("Webhook URL"), 0, 0)
        url_column = QVBoxLayout()
        url_column.addWidget(self.url)
        url_column.addWidget(self.route)
        grid.addLayout(url_column, 0, 1)
        url_buttons = QHBoxLayout()
        url_buttons.addWidget(self.reveal)
        url_buttons.addWidget(self.copy_url)
        grid.addLayout(url_buttons, 0, 2)
        grid.addWidget(QLabel("Alert message"), 1, 0)
        grid.addWidget(self.message_text, 1, 1)
        grid.addWidget(self.copy_message, 1, 2)
        grid.addWidget(QLabel("Opposite signal"), 2, 0)
        grid.addWidget(self.opposite_note, 2, 1)
        grid.addWidget(self.opposite, 2, 2)
        grid.addWidget(self.pine, 3, 1, 1, 2)
        grid.setColumnStretch(1, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.rotate)
        actions.addWidget(self.test)
        actions.addWidget(self.busy)
        actions.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addLayout(grid)
        layout.addLayout(actions)
        layout.addWidget(self.answer)
        self.show_strategy(None)

    # Showing ----------------------------------------------------------------------------------

    def show_strategy(self, strategy: Strategy | None) -> None:
        """Show a strategy's webhook (None: nothing selected)."""
        changed = strategy is None or self.strategy is None or strategy.id != self.strategy.id
        self.strategy = strategy
        if changed:
            self.answer.clear()
            self.reveal.setChecked(False)
        for widget in (self.reveal, self.copy_url, self.copy_message, self.rotate, self.test, self.opposite):
            widget.setEnabled(strategy is not None)
        self.refresh()

    def refresh(self) -> None:
        """Render again (the profile's webhook base URL may have changed)."""
        strategy = self.strategy
        if strategy is None:
            self.url.setText("")
            self.url.setPlaceholderText("Select a strategy to see its webhook URL")
            self.message_text.setPlainText("")
            self.opposite_note.setText("")
            self.pine.setText("")
            return
        base = self._ctx.services.webhook_base_url
        self.url.setText(strategy.webhook_url(base) if self.reveal.isChecked() else masked_url(strategy, base))
        route = where_alerts_go(self._ctx)
        self.route.setText(route)
        self.route.setVisible(bool(route))
        self.message_text.setPlainText(alert_message(strategy))
        self.opposite.setCurrentIndex(max(self.opposite.findData(strategy.opposite_signal), 0))
        self.opposite_note.setText(opposite_explained(strategy.opposite_signal))
        self.pine.setText(f"{pine_settings(strategy)}\nFor example: {pine_example(strategy)}")

    def real_url(self) -> str:
        """The URL with its secret (only for the clipboard and the test request)."""
        assert self.strategy is not None
        return self.strategy.webhook_url(self._ctx.services.webhook_base_url)

    # Slots ------------------------------------------------------------------------------------

    def _on_reveal_toggled(self, shown: bool) -> None:
        self.reveal.setText("Hide" if shown else "Show")
        self.refresh()

    def _on_copy_url_clicked(self) -> None:
        if self.strategy is not None:
            copy_to_clipboard(self.real_url())
            self.answer.show_info("Webhook URL copied. Paste it into the alert's Webhook URL field.")

    def _on_copy_message_clicked(self) -> None:
        if self.strategy is not None:
            copy_to_clipboard(alert_message(self.strategy))
            self.answer.show_info("Alert message copied. Paste it into the alert's Message box.")

    def _on_opposite_activated(self, _index: int) -> None:
        strategy = self.strategy
        chosen = str(self.opposite.currentData())
        if strategy is None or chosen == strategy.opposite_signal:
            return
        draft = StrategyDraft(name=strategy.name, broker_connection_id=strategy.broker_connection_id,
                              risk_override_pct=strategy.risk_override_pct, allowed_pairs=strategy.allowed_pairs,
                              is_enabled=strategy.is_enabled, opposite_signal=chosen,
                              target_type=strategy.target_type, entry_type=strategy.entry_type,
                              account_filter=strategy.account_filter, trading_window=strategy.trading_window)
        self.busy.set_busy(True, "Saving…")
        self._ctx.tasks.spawn(self._ctx.services.data.update_strategy(strategy.id, draft), name="opposite-signal",
                              key=f"webhook-{id(self)}", on_result=self._opposite_saved, on_error=self._failed)

    def _opposite_saved(self, strategy: Strategy) -> None:
        self.busy.set_busy(False)
        self.strategy_changed.emit(strategy)
        self.show_strategy(strategy)
        title = OPPOSITE_CHOICES[next(c for c in OPPOSITE_CHOICES if c.value == strategy.opposite_signal)][0]
        self.answer.show_info(f"Saved: “{title}” applies to the next alert. The message stays the same.")

    def _on_rotate_clicked(self) -> None:
        strategy = self.strategy
        if strategy is None:
            return
        ask(self, "Rotate webhook secret",
            f"Give “{strategy.name}” a new webhook URL?",
            "Rotate secret", lambda: self._rotate(strategy), destructive=True,
            details="The current URL stops working immediately: alerts still sent to it are refused "
                    "until you paste the new URL into each TradingView alert.")

    def _rotate(self, strategy: Strategy) -> None:
        self.busy.set_busy(True, "Rotating…")
        self._ctx.tasks.spawn(self._ctx.services.data.rotate_strategy_secret(strategy.id), name="rotate-secret",
                              key=f"webhook-{id(self)}", on_result=self._rotated, on_error=self._failed)

    def _rotated(self, strategy: Strategy) -> None:
        self.busy.set_busy(False)
        self.strategy_changed.emit(strategy)
        self.show_strategy(strategy)
        self.answer.show_info("New URL ready. The old one no longer works — update your TradingView alerts.")

    def _on_test_clicked(self) -> None:
        strategy = self.strategy
        if strategy is None:
            return
        self.busy.set_busy(True, "Sending…")
        self.answer.clear()
        url = self.real_url()  # the public address when one is set: the whole way TradingView takes
        self._route = describe_route(self._ctx)
        self._ctx.tasks.spawn(
            post_test_alert(url, masked_url(strategy, self._ctx.services.webhook_base_url), sample_alert(),
                            unreachable=unreachable_hint(self._ctx, urlsplit(url).netloc)),
            name="test-signal", key=f"webhook-{id(self)}", on_result=self._answered, on_error=self._failed)

    def _answered(self, text: str) -> None:
        self.busy.set_busy(False)
        self.answer.show_info(f"{self._route} {text} The signal shows up in Signals.")

    def _failed(self, exc: TnmError) -> None:
        self.busy.set_busy(False)
        self.answer.show_error(exc.message)
        self.refresh()  # back to what is stored
