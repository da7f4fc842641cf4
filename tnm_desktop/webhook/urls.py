"""Webhook base URLs: which one the trader's alerts go to, and whether TradingView can reach it.

TradingView sends webhooks only to public addresses, on port 443 (https) or 80 (http). A loopback
address is this computer itself and a private one is the home network: TradingView's servers
reach neither, so the app warns while such a URL is the one shown.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

# Where this computer's own receiver listens by default; profiles saved before the base URL could
# be left empty hold it, and it means "automatic" like an empty one.
LOCAL_DEFAULT = "http://127.0.0.1:8787"
EDGE_FUNCTION = "tv"


def edge_function_base(supabase_url: str) -> str:
    """The base of a Supabase project's webhook URLs: ``<project>/functions/v1`` (+ ``/tv/<secret>``)."""
    return f"{supabase_url.rstrip('/')}/functions/v1"


def local_base(port: int) -> str:
    """This computer's receiver on ``port``."""
    return f"http://127.0.0.1:{port}"


def is_automatic(base_url: str) -> bool:
    """Whether a profile's base URL leaves the choice to the app (empty, or the old default)."""
    return base_url.strip().rstrip("/") in ("", LOCAL_DEFAULT)


def _host(base_url: str) -> str:
    try:
        return (urlsplit(base_url).hostname or "").lower()
    except ValueError:
        return ""


def is_loopback(base_url: str) -> bool:
    """Whether the URL points at this computer (127.0.0.0/8, ::1, localhost)."""
    host = _host(base_url)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def reachability_problem(base_url: str) -> str | None:
    """Why TradingView cannot deliver to this base URL, in a trader's words; None when it can."""
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError:
        return "This webhook address is not a valid URL."
    host = (parts.hostname or "").lower()
    if is_loopback(base_url):
        return (f"TradingView cannot reach {host}: it is this computer's own address, which only programs on "
                "this computer can use.")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if (address is not None and (address.is_private or address.is_link_local)) or host.endswith(".local"):
        return f"TradingView cannot reach {host}: it is an address inside your own network."
    if port is not None and port not in (80, 443):
        return (f"TradingView only sends alerts to port 443 (https) or 80 (http); this address uses port "
                f"{port}.")
    return None
