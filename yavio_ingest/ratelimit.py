"""Token buckets keyed by project, widget token or client IP (SPEC section 1, "Rate limits").

A bucket holds at most `burst` tokens and refills at `rate` per second; a request takes as many
tokens as it carries events (or one, for failed authentications). A refused request learns how many
whole seconds to wait, for `Retry-After`.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

# Buckets untouched this long are full again and can be forgotten; bounding the table keeps a flood
# of distinct keys (IPs, tokens) from growing memory without limit.
_MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, amount: float = 1) -> int:
        """Take `amount` tokens from `key`'s bucket: 0 if granted, else the whole seconds to wait
        before that many tokens are there (never less than 1). A refused request takes nothing."""
        now = self._clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        # A request larger than the burst would never fit: it passes when the bucket is full and
        # leaves it in debt, so the next requests wait for the excess too.
        needed = min(amount, self.burst)
        if tokens >= needed:
            tokens -= amount
            wait = 0
        else:
            wait = max(1, math.ceil((needed - tokens) / self.rate))
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > _MAX_BUCKETS:
            self._buckets.popitem(last=False)
        return wait
