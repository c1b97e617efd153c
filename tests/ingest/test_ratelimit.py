"""Token buckets: bursts pass, sustained overload waits whole seconds, buckets refill."""

from __future__ import annotations

from yavio_ingest.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_bucket_says_how_long_to_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=100, burst=1000, clock=clock)
    assert limiter.take("project", 1000) == 0
    assert limiter.take("project", 250) == 3  # 250 tokens at 100/s: wait 2.5 s, rounded up
    clock.now = 2.5
    assert limiter.take("project", 250) == 0


def test_a_refused_request_takes_nothing_and_keys_are_independent() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=20, clock=clock)
    assert limiter.take("a", 20) == 0
    assert limiter.take("a", 5) >= 1
    clock.now = 0.5
    assert limiter.take("a", 5) == 0, "the refused request must not have taken tokens"
    assert limiter.take("b", 20) == 0


def test_a_batch_larger_than_the_burst_passes_on_a_full_bucket_and_leaves_a_debt() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=100, burst=1000, clock=clock)
    assert limiter.take("p", 1500) == 0
    assert limiter.take("p", 1) == 6  # 500 tokens of debt plus the one asked for, at 100/s
    clock.now = 6
    assert limiter.take("p", 1) == 0
