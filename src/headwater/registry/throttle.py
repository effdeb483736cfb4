"""Pacing requests: a token bucket shared by all requests of a client, and the wait
a 429 or 5xx asks for (`Retry-After`) or earns (exponential backoff with jitter).

All pure: the clock is a float passed in (seconds, e.g. `time.monotonic()`), so the
arithmetic is tested without sleeping.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; each request takes one.

    `reserve(now)` takes a token at once and returns how long to wait before using it
    (0 if one was there). Tokens may go negative, so concurrent callers queue up in
    the order they reserved, each `1/rate` after the previous (golang.org/x/time/rate's
    `Reserve`, which Flux's registry rate limiter uses).
    """

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a rate limit needs rps > 0 and burst >= 1, not {rate}/{burst}")
        self.rate, self.burst = rate, burst
        self._tokens, self._stamp = float(burst), now

    def reserve(self, now: float) -> float:
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta-seconds or an HTTP date)."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff(attempt: int, *, base: float, cap: float, rand: float | None = None) -> float:
    """The wait before retry number `attempt` (1, 2, ...): `base * 2**(attempt-1)`,
    capped, scaled by a jitter factor in [0.5, 1) so clients do not retry in step."""
    factor = 0.5 + 0.5 * (random.random() if rand is None else rand)  # noqa: S311
    return float(min(cap, base * 2.0 ** (attempt - 1)) * factor)
