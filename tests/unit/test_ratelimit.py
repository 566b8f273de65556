"""Token buckets and the per-key limiter, with explicit times."""

from __future__ import annotations

import pytest

from realtime.ratelimit import RateLimiter, TokenBucket


def test_full_bucket_starts_with_burst_tokens() -> None:
    bucket = TokenBucket.full(rate_per_s=2.0, burst=5.0, now=100.0)
    assert (bucket.tokens, bucket.updated_at) == (5.0, 100.0)
    assert bucket.is_full(100.0)


def test_burst_is_spent_then_refused() -> None:
    bucket = TokenBucket.full(rate_per_s=1.0, burst=3.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]


def test_refill_is_rate_times_elapsed_seconds() -> None:
    bucket = TokenBucket.full(rate_per_s=4.0, burst=10.0, now=0.0)
    assert bucket.take(0.0, cost=10.0)
    assert not bucket.take(0.5, cost=2.5)
    assert bucket.tokens == 2.0
    assert bucket.take(0.625, cost=2.5)
    assert bucket.tokens == 0.0


def test_refill_never_exceeds_burst() -> None:
    bucket = TokenBucket.full(rate_per_s=100.0, burst=3.0, now=0.0)
    assert bucket.take(0.0)
    assert bucket.take(3600.0)
    assert bucket.tokens == 2.0


def test_refused_take_spends_nothing() -> None:
    bucket = TokenBucket.full(rate_per_s=1.0, burst=2.0, now=0.0)
    assert not bucket.take(0.0, cost=3.0)
    assert bucket.tokens == 2.0


def test_cost_may_exceed_one() -> None:
    bucket = TokenBucket.full(rate_per_s=1.0, burst=5.0, now=0.0)
    assert bucket.take(0.0, cost=5.0)
    assert not bucket.take(4.0, cost=5.0)
    assert bucket.take(5.0, cost=5.0)


def test_clock_going_backwards_adds_no_tokens() -> None:
    bucket = TokenBucket.full(rate_per_s=1.0, burst=10.0, now=100.0)
    assert bucket.take(100.0, cost=10.0)
    assert not bucket.take(40.0)
    assert bucket.tokens == 0.0


def test_clock_going_backwards_and_forward_again_credits_time_once() -> None:
    """Out-of-order ``now`` values must not credit the same interval twice."""
    bucket = TokenBucket.full(rate_per_s=1.0, burst=10.0, now=100.0)
    assert bucket.take(100.0, cost=10.0)
    assert not bucket.take(40.0)
    assert not bucket.take(100.0)
    assert bucket.tokens == 0.0


def test_is_full_accounts_for_refill_up_to_now() -> None:
    bucket = TokenBucket.full(rate_per_s=2.0, burst=4.0, now=0.0)
    assert bucket.take(0.0, cost=4.0)
    assert not bucket.is_full(1.999)
    assert bucket.is_full(2.0)
    assert not bucket.is_full(-5.0)


def test_limiter_keys_are_independent() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=2.0)
    assert limiter.allow("room:alice", 0.0)
    assert limiter.allow("room:alice", 0.0)
    assert not limiter.allow("room:alice", 0.0)
    assert limiter.allow("room:bob", 0.0)
    assert limiter.allow("room:bob", 0.0)
    assert not limiter.allow("room:bob", 0.0)
    assert len(limiter) == 2


def test_limiter_refills_per_key() -> None:
    limiter = RateLimiter(rate_per_s=2.0, burst=1.0)
    assert limiter.allow("alice", 0.0)
    assert not limiter.allow("alice", 0.25)
    assert limiter.allow("alice", 0.5)


def test_limiter_passes_the_cost_on() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=5.0)
    assert not limiter.allow("alice", 0.0, cost=6.0)
    assert limiter.allow("alice", 0.0, cost=5.0)
    assert not limiter.allow("alice", 0.0)


@pytest.mark.parametrize("max_keys", [1, 2, 3, 10])
def test_limiter_never_keeps_more_than_max_keys(max_keys: int) -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=5.0, max_keys=max_keys)
    for index in range(50):
        limiter.allow(f"user-{index}", 0.0)
        assert len(limiter) <= max_keys
    assert len(limiter) == max_keys


def test_eviction_forgets_full_buckets_before_the_oldest_key() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1.0, max_keys=3)
    assert limiter.allow("busy-oldest", 0.0)
    assert limiter.allow("idle", 0.0)
    assert limiter.allow("busy-oldest", 1.0)
    assert limiter.allow("busy-2", 1.0)
    assert limiter.allow("newcomer", 1.5)
    assert len(limiter) == 3
    assert not limiter.allow("busy-oldest", 1.5), "the oldest key was kept: it is not full"
    assert not limiter.allow("busy-2", 1.5)
    assert not limiter.allow("newcomer", 1.5)


def test_eviction_drops_the_oldest_key_when_none_is_full() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1.0, max_keys=2)
    assert limiter.allow("first", 0.0)
    assert limiter.allow("second", 0.0)
    assert limiter.allow("third", 0.5)
    assert len(limiter) == 2
    assert not limiter.allow("third", 0.5)
    assert limiter.allow("first", 0.5), "an evicted key starts again with a full bucket"
