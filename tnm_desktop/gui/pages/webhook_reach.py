"""Whether TradingView can reach this profile's webhooks, and the ways to make it so.

The banner above the Strategies table says when alerts cannot arrive: the workspace's receiver
cannot listen on its port (another program holds it), or the URL shown is one TradingView's servers
cannot reach (this computer's own address, the home network, a port other than 443/80). Each
comes with its way out: another port, or a tunnel and the webhook base URL.
"""

from __future__ import annotations

import asyncio
import html
from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.errors import TnmError, UserError
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.widgets import Banner, BusyIndicator, InlineMessage
from tnm_desktop.profiles import ConnectionProfile, ProfileKind, ProfileStore
from tnm_desktop.webhook.urls import reachability_problem

TRADINGVIEW_NEEDS = ("TradingView sends webhooks only with a paid plan and two-factor authentication turned on in "
                     "your TradingView account, and only to public addresses on port 443 (https) or 80 (http).")


def tunnel_steps(port: int) -> str:
    """The tunnel instructions, as HTML, with this workspace's port filled in."""
    def block(*lines: str) -> str:
        return "<pre>" + html.escape("\n".join(lines)) + "</pre>"

    return (
        f"<p>{html.escape(TRADINGVIEW_NEEDS)}</p>"
        f"<p>This workspace's receiver listens on <b>http://127.0.0.1:{port}</b>, which only programs on this "
        "computer can use. A tunnel gives it a public HTTPS address without opening anything on your router. "
        "Pick one, keep it running while alerts may arrive, and enter the address it gives below.</p>"
        "<p><b>Cloudflare Tunnel</b> (a free Cloudflare account and a domain on it):</p>"
        + block("cloudflared tunnel login", "cloudflared tunnel create tnm",
                "cloudflared tunnel route dns tnm hooks.example.com",
                f"cloudflared tunnel run --url http://127.0.0.1:{port} tnm")
        + "<p>Address: <tt>https://hooks.example.com</tt> (your own name).</p>"
        "<p><b>ngrok</b> (a free account has one fixed dev domain, shown in its dashboard):</p>"
        + block("ngrok config add-authtoken <token>", f"ngrok http {port} --url https://<your-dev-domain>.ngrok-free.dev")
        + "<p><b>Tailscale Funnel</b> (Tailscale on this computer, Funnel allowed for your tailnet):</p>"
        + block(f"tailscale funnel --bg {port}")
        + "<p>Address: <tt>https://&lt;this-computer&gt;.&lt;your-tailnet&gt;.ts.net</tt>.</p>"
        "<p>Then “Send test signal” goes through that address: a 200 answer means TradingView's way in works. "
        "With a Supabase project instead, alerts go to its Edge Function and nothing runs at home "
        "(README, “Receiving alerts”).</p>")


class ReachBanner(Banner):
    """A banner saying why TradingView's alerts cannot arrive, with the way out.

    Signals:
        changed(): the port or the webhook base URL changed (URLs shown must be rendered again).
    """

    changed = Signal()

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None, *,
                 store: ProfileStore | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._store = store
        self.kind = ""  # what is shown: "", "port", "unreachable"
        self.action_clicked.connect(self._on_action_clicked)

    def refresh(self) -> None:
        """Show the problem of the moment, or hide."""
        services = self._ctx.services
        receiver = services.receiver
        if receiver is not None and not receiver.running and receiver.error:
            self.kind = "port"
            self.show_message(f"{receiver.error} TradingView's alerts cannot reach this workspace until its "
                              "receiver listens: choose another port for it.", "bad", "Choose another port…")
            return
        problem = reachability_problem(services.webhook_base_url)
        if problem is not None:
            self.kind = "unreachable"
            self.show_message(f"{problem} Alerts from TradingView will not arrive at the URLs below.", "warn",
                              "Make it reachable…")
            return
        self.kind = ""
        self.hide()

    def _on_action_clicked(self) -> None:
        # Not the banner's children: its white-on-colour style sheet would reach the dialogs' labels.
        owner = self.parentWidget() or self
        dialog: QDialog
        if self.kind == "port":
            dialog = PortDialog(self._ctx, owner)
            dialog.moved.connect(self._on_dialog_changed)
        else:
            dialog = ReachDialog(self._ctx, owner, store=self._store)
            dialog.saved.connect(self._on_dialog_changed)
        dialog.open()

    def _on_dialog_changed(self, *_args: object) -> None:
        self.refresh()
        self.changed.emit()


class PortDialog(QDialog):
    """Choose another port for the workspace's receiver; it is pinned once the receiver listens there.

    Signals:
        moved(str): the receiver listens at this base URL now.
    """

    moved = Signal(str)

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Webhook receiver port")
        self.setObjectName("port_dialog")
        self._ctx = ctx
        receiver = ctx.services.receiver
        current = receiver.port if receiver is not None else 8787
        self.port = QSpinBox()
        self.port.setRange(1024, 65535)
        self.port.setMinimumWidth(100)
        self.port.setValue(current + 1 if current < 65535 else 8788)
        why = QLabel(f"The receiver of this workspace cannot listen on port {current}. Choose another: every "
                     "strategy's webhook URL then uses it, so update the URLs in your TradingView alerts, and "
                     "point your tunnel at the new port if you use one.")
        why.setWordWrap(True)
        self.busy = BusyIndicator()
        self.message = InlineMessage()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.use = self.buttons.addButton("Use this port", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(QLabel("Port"))
        row.addWidget(self.port)
        row.addWidget(self.busy)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(why)
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.resize(460, self.sizeHint().height())

    def _on_buttons_accepted(self) -> None:
        receiver = self._ctx.services.receiver
        if receiver is None:
            self.reject()
            return
        self.use.setEnabled(False)
        self.busy.set_busy(True, "Starting…")
        self.message.clear()
        self._ctx.tasks.spawn(asyncio.to_thread(receiver.move_to, self.port.value()), name="move-receiver",
                              key=f"move-receiver-{id(self)}", on_result=self._moved, on_error=self._failed)

    def _moved(self, base_url: str) -> None:
        self.busy.set_busy(False)
        self.moved.emit(base_url)
        self.accept()

    def _failed(self, exc: TnmError) -> None:
        self.busy.set_busy(False)
        self.use.setEnabled(True)
        self.message.show_error(f"{exc.message} Choose another.")


class ReachDialog(QDialog):
    """How TradingView can reach this computer: the conditions, the tunnels, the webhook base URL.

    Signals:
        saved(object): the profile was saved with a new webhook base URL (a ConnectionProfile).
    """

    saved = Signal(object)

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None, *,
                 store: ProfileStore | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Reach this computer from TradingView")
        self.setObjectName("reach_dialog")
        self._ctx = ctx
        self._store = store
        services = ctx.services
        self.steps = QTextBrowser()
        self.steps.setOpenExternalLinks(True)
        if services.receiver is not None:
            self.steps.setHtml(tunnel_steps(services.receiver.port))
        else:
            self.steps.setHtml(f"<p>{html.escape(TRADINGVIEW_NEEDS)}</p><p>Enter the public address of your "
                               "webhook receiver: your server behind HTTPS, or a tunnel to it. For a Supabase "
                               "project, leave it empty: alerts go to its Edge Function.</p>")
        self.base = QLineEdit(services.profile.webhook_base_url)
        self.base.setPlaceholderText("https://hooks.example.com")
        self.save = QPushButton("Save")
        self.save.clicked.connect(self._on_save_clicked)
        self.message = InlineMessage()
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(QLabel("Webhook base URL"))
        row.addWidget(self.base, 1)
        row.addWidget(self.save)
        layout = QVBoxLayout(self)
        layout.addWidget(self.steps, 1)
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addWidget(close)
        self.resize(680, 560)

    def _on_save_clicked(self) -> None:
        services = self._ctx.services
        try:
            profile = replace(services.profile, webhook_base_url=self.base.text()).validated()
        except UserError as exc:
            self.message.show_error(exc.message)
            return
        store = self._store or ProfileStore()
        self._ctx.tasks.spawn(asyncio.to_thread(store.upsert, profile), name="save-webhook-base",
                              key=f"reach-{id(self)}", on_result=self._saved,
                              on_error=lambda exc: self.message.show_error(exc.message))

    def _saved(self, profile: ConnectionProfile) -> None:
        self._ctx.services.profile = profile
        base = self._ctx.services.webhook_base_url
        problem = reachability_problem(base)
        if problem is None:
            self.message.show_info(f"Saved. Webhook URLs now start with {base}/tv/ — use “Send test signal” to "
                                   "check the whole way, then update the URLs in your TradingView alerts.")
        else:
            self.message.show_error(f"Saved, but {problem[0].lower()}{problem[1:]}")
        self.saved.emit(profile)


def _is_edge_function(ctx: ViewContext, base: str) -> bool:
    profile = ctx.services.profile
    return profile.kind is ProfileKind.SUPABASE and bool(profile.supabase_url) and base.startswith(profile.supabase_url)


def where_alerts_go(ctx: ViewContext) -> str:
    """One sentence on what receives the alerts sent to the URLs shown ("" while they cannot arrive)."""
    services = ctx.services
    base = services.webhook_base_url
    if reachability_problem(base) is not None:
        return ""
    if _is_edge_function(ctx, base):
        return ("Your Supabase project's Edge Function “tv” receives these alerts in the cloud: nothing to open on "
                "this computer. Deploy it once with “supabase functions deploy tv” (README, “Receiving alerts”).")
    if services.receiver is not None:
        return (f"Your tunnel forwards these alerts to this computer's receiver on port {services.receiver.port}: "
                "keep the tunnel and the app running while alerts may arrive.")
    return f"These alerts go to your receiver at {base}."


def describe_route(ctx: ViewContext) -> str:
    """Where a test signal goes, for the answer shown after it."""
    services = ctx.services
    base = services.webhook_base_url
    if reachability_problem(base) is None:
        if _is_edge_function(ctx, base):
            return "Sent to your Supabase project's Edge Function, as TradingView will send it."
        return f"Sent through {base}, as TradingView will send it."
    return "Sent to the receiver on this computer (TradingView cannot use this address)."


def unreachable_hint(ctx: ViewContext, host: str) -> str:
    """What to check when nothing answered a test signal."""
    services = ctx.services
    base = services.webhook_base_url
    if reachability_problem(base) is not None:
        return f"Nothing answered at {host} — is the webhook receiver running?"
    if _is_edge_function(ctx, base):
        return f"Nothing answered at {host} — is the project up and the Edge Function deployed?"
    port = f" to port {services.receiver.port}" if services.receiver is not None else ""
    return f"Nothing answered at {host} — is your tunnel running, pointed{port}, and the app's receiver too?"
