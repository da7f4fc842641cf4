"""Per-strategy rate limiting: a token bucket per webhook secret."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """Token buckets keyed by strategy: ``burst`` requests at once, then ``rate`` per second.

    Only the event loop's thread uses it, so it needs no lock. The number of buckets is bounded:
    random secrets (someone probing URLs) cannot grow memory without limit; the least recently
    used bucket is forgotten first, and a forgotten bucket starts full again.

    Args:
        rate: Tokens added per second.
        burst: Size of each bucket.
        clock: Monotonic seconds (injectable for tests).
        max_keys: Buckets kept at most.
    """

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000) -> None:
        self._rate = float(rate)
        self._burst = float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def acquire(self, key: str) -> float:
        """Take a token for ``key``.

        Returns:
            0.0 when the request may pass, else the seconds until a token is available.
        """
        now = self._clock()
        tokens, at = self._buckets.pop(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self._rate
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait
