"""The token bucket behind the relay budget (sfu/ratelimit.py): a burst, then the refill rate."""

from __future__ import annotations

import pytest

from sfu.ratelimit import TokenBucket


def test_a_burst_then_the_refill_rate_and_a_refusal_takes_nothing():
    now = [0.0]
    b = TokenBucket(rate=10.0, capacity=30.0, clock=lambda: now[0])
    assert [b.take(10) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take(10) == pytest.approx(1.0)  # 10 tokens at 10/s
    now[0] = 0.5
    assert b.take(10) == pytest.approx(0.5)  # the refused try took nothing
    now[0] = 1.0
    assert b.take(10) == 0.0
    now[0] = 100.0
    assert [b.take(10) for _ in range(3)] == [0.0, 0.0, 0.0]  # refilled to the capacity, never beyond
    assert b.take(10) > 0
    assert b.take(31) == float("inf")  # more than the bucket holds never passes


def test_a_bucket_needs_a_positive_rate_and_capacity():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, capacity=1)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, capacity=0)
