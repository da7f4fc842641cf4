"""E-mail: one message through the trader's SMTP server (stdlib smtplib; blocking, run in a thread)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from tnm_desktop.domain.notifications import NotificationSettings, SmtpSecurity
from tnm_desktop.errors import TransientError, UserError


def check_email_settings(settings: NotificationSettings) -> None:
    """Raise UserError naming what is missing before anything is tried."""
    if not settings.smtp_host.strip():
        raise UserError("Enter the SMTP server (for example smtp.gmail.com).", code="smtp_incomplete")
    if not settings.email_from.strip() or "@" not in settings.email_from:
        raise UserError("Enter the address the e-mails come from.", code="smtp_incomplete")
    if not settings.recipients() or any("@" not in a for a in settings.recipients()):
        raise UserError("Enter the address (or addresses, separated by commas) to send to.", code="smtp_incomplete")


def send_email(settings: NotificationSettings, password: str | None, subject: str, body: str, *,
               timeout: float = 20.0) -> None:
    """Send one message (blocking).

    Raises:
        UserError: The server refused the sign-in, the sender or the recipients.
        TransientError: The server could not be reached or failed (retry later).
    """
    check_email_settings(settings)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.email_from.strip()
    message["To"] = ", ".join(settings.recipients())
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="tnm-desktop")
    message.set_content(body)
    host, port = settings.smtp_host.strip(), settings.smtp_port
    try:
        if settings.smtp_security is SmtpSecurity.SSL:
            server: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                                    context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        with server:
            if settings.smtp_security is SmtpSecurity.STARTTLS:
                server.starttls(context=ssl.create_default_context())
            if settings.smtp_username.strip():
                server.login(settings.smtp_username.strip(), password or "")
            server.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise UserError(f"The mail server refused the user name or password ({exc.smtp_code}). Check them, or use "
                        "an app password where your provider asks for one.", code="smtp_auth") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise UserError(f"The mail server does not offer what these settings ask ({exc}). Try another security "
                        "setting or port.", code="smtp_unsupported") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise UserError(f"The mail server refused the recipient(s): {', '.join(exc.recipients)}.",
                        code="smtp_recipients") from None
    except smtplib.SMTPSenderRefused as exc:
        raise UserError(f"The mail server refused the sender {exc.sender} ({exc.smtp_code}).",
                        code="smtp_sender") from None
    except ssl.SSLError as exc:
        raise UserError(f"The secure connection to {host}:{port} failed ({exc.reason}). Check the security setting "
                        "and the port (465 for SSL, 587 for STARTTLS).", code="smtp_tls") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientError(f"The mail server {host}:{port} cannot be reached or failed: {exc}.",
                             code="smtp_unreachable") from None
