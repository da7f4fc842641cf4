"""The receiver's logs, with no webhook secret in any line whatever a client sends.

A secret travels in the request path, so nothing a client controls is written as it came: a path
is shown as its route with the secret replaced by a short tag (the first 8 hex digits of its
SHA-256, the tag the ingestion lines use too), any other path only as a tag, and an unusual method
as ``<other>``. aiohttp's own error reports quote the raw request line in their exception
messages and print a traceback per malformed request; :class:`ServerErrorLog` turns each into one
short line without the message, at most one line per kind every ``interval`` seconds.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from tnm_desktop.webhook.config import secret_tag

ACCESS_LOGGER = "tnm_desktop.webhook.access"
SERVER_LOGGER = "tnm_desktop.webhook.http"

# Paths that carry no secret, shown as they are.
_PLAIN_PATHS = frozenset({"/", "/healthz", "/tv", "/tv/", "/tv/healthz"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "UNKNOWN"})


def redact_path(path: str) -> str:
    """A request path fit for a log line: ``/tv/<tag>``, a plain path, or ``<path tag>``."""
    if path in _PLAIN_PATHS:
        return path
    if path.startswith("/tv/"):
        return "/tv/" + secret_tag(path[4:])
    # Anything else may still hold a secret (/TV/<secret>, //tv/<secret>, a mistyped route).
    return f"<path {secret_tag(path)}>"


def redact_method(method: str) -> str:
    """The method when it is a standard one; a client may send any token, a secret included."""
    return method if method in _METHODS else "<other>"


class RedactingAccessLogger(AbstractAccessLogger):
    """One access line per request: method, path (redacted), status, time; never the query string."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write one line per request (a malformed one has its rate-limited line already)."""
        if request.method == "UNKNOWN" and response.status == 400:  # aiohttp's stand-in for a bad message
            return
        self.logger.info("%s %s %s %.1f ms", redact_method(request.method), redact_path(request.path),
                         response.status, time * 1000)


def exception_summary(exc: BaseException) -> str:
    """The exception's type and where it was raised, without its message (it may quote the request)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {Path(last.filename).name}:{last.lineno} in {last.name}"


class ServerErrorLog:
    """Stands in for aiohttp's server logger (``AppRunner(logger=...)``): one line, rate-limited.

    aiohttp calls ``exception`` (or ``debug``, for garbage on a fresh connection) with the exception
    as ``exc_info``. A malformed HTTP message is the client's mistake: it becomes an INFO line
    naming the kind of error; anything else is the receiver's own failure (answered 500): an
    ERROR line with the exception's type and place. Neither carries the exception's message or a
    traceback, and each kind writes at most one line per ``interval`` seconds, saying how many
    more it held back.

    Args:
        logger: Where the lines go.
        interval: Seconds between two lines of the same kind.
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(self, logger: logging.Logger | None = None, *, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger or logging.getLogger(SERVER_LOGGER)
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    # The logging.Logger methods aiohttp calls ---------------------------------------------------

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        """aiohttp's debug reports: only those about a failed request, made safe."""
        exc = _exception(kwargs.get("exc_info"))
        if exc is not None:
            self._report(exc, args, logging.DEBUG)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        """Unused by aiohttp's server; kept so that this can stand in for a logger."""
        self._generic(logging.INFO, kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        """aiohttp's warnings (settings it could not use); their text holds no request data."""
        self._generic(logging.WARNING, kwargs)

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        """An error report: one safe line."""
        self._generic(logging.ERROR, kwargs)

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        """aiohttp's report of a request it could not handle: one safe line."""
        exc = _exception(kwargs.get("exc_info", True))
        if exc is None:
            self._generic(logging.ERROR, kwargs)
        else:
            self._report(exc, args, logging.ERROR)

    def isEnabledFor(self, level: int) -> bool:  # the logging.Logger name
        """Whether a line of ``level`` would be written."""
        return self._logger.isEnabledFor(level)

    # ---------------------------------------------------------------------------------------------

    def _generic(self, level: int, kwargs: dict[str, Any]) -> None:
        exc = _exception(kwargs.get("exc_info"))
        if exc is not None:
            self._report(exc, (), level)
        else:
            self._write("server", level, "the HTTP server reported a problem (details withheld: they may quote "
                                         "a request)")

    def _report(self, exc: BaseException, args: tuple[object, ...], level: int) -> None:
        peer = _address(args[0]) if args else None
        source = f" from {peer}" if peer else ""
        if isinstance(exc, HttpProcessingError):
            self._write("malformed", min(level, logging.INFO),
                        f"malformed HTTP request{source} answered 400 ({type(exc).__name__})")
        else:
            self._write("failed", logging.ERROR,
                        f"a request{source} failed inside the receiver ({exception_summary(exc)})")

    def _write(self, kind: str, level: int, line: str) -> None:
        if not self._logger.isEnabledFor(level):
            return
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        self._last[kind] = now
        held = self._held.pop(kind, 0)
        suffix = f"; {held} more like it in the last {self._interval:g} s not logged" if held else ""
        self._logger.log(level, "%s%s", line, suffix)


def _exception(exc_info: object) -> BaseException | None:
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and isinstance(exc_info[1], BaseException):
        return exc_info[1]
    return None


def _address(value: object) -> str | None:
    # Only an IP address is shown: whatever else a transport reports is not ours to print.
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return None
