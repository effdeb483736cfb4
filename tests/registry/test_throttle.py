"""The token bucket and retry waits, with the clock as a plain number."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from headwater.registry.throttle import TokenBucket, backoff, retry_after


def test_burst_goes_at_once_then_one_request_per_interval() -> None:
    bucket = TokenBucket(rate=10, burst=3, now=100.0)
    assert [bucket.reserve(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    # Callers that reserve at the same instant queue up 1/rate apart.
    assert bucket.reserve(100.0) == pytest.approx(0.1)
    assert bucket.reserve(100.0) == pytest.approx(0.2)


def test_tokens_refill_with_time_up_to_burst() -> None:
    bucket = TokenBucket(rate=2, burst=2, now=0.0)
    bucket.reserve(0.0)
    bucket.reserve(0.0)
    assert bucket.reserve(0.25) == pytest.approx(0.25)  # half a token back; wait for the rest
    assert bucket.reserve(100.0) == 0.0  # a long idle saves up `burst`, not more
    assert bucket.reserve(100.0) == 0.0
    assert bucket.reserve(100.0) == pytest.approx(0.5)


def test_a_clock_going_back_does_not_mint_tokens() -> None:
    bucket = TokenBucket(rate=1, burst=1, now=10.0)
    assert bucket.reserve(10.0) == 0.0
    assert bucket.reserve(9.0) == pytest.approx(1.0)


def test_rate_and_burst_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rps > 0"):
        TokenBucket(rate=0, burst=1, now=0)
    with pytest.raises(ValueError, match="burst >= 1"):
        TokenBucket(rate=1, burst=0, now=0)


NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("3", 3.0),
    (" 120 ", 120.0),
    ("Tue, 02 Jan 2024 03:04:15 GMT", 10.0),
    ("Tue, 02 Jan 2024 03:04:00 GMT", 0.0),  # a date in the past: go now
    ("soon", None),
    ("", None),
    (None, None),
])
def test_retry_after_reads_seconds_and_http_dates(value: str | None, seconds: float | None) -> None:
    assert retry_after(value, now=NOW) == seconds


def test_backoff_doubles_is_capped_and_jittered_down_by_at_most_half() -> None:
    assert backoff(1, base=0.5, cap=60, rand=1.0) == pytest.approx(0.5)
    assert backoff(3, base=0.5, cap=60, rand=1.0) == pytest.approx(2.0)
    assert backoff(3, base=0.5, cap=60, rand=0.0) == pytest.approx(1.0)
    assert backoff(20, base=0.5, cap=60, rand=1.0) == pytest.approx(60)
    assert 0.25 <= backoff(1, base=0.5, cap=60) <= 0.5
