"""Token buckets for per-user and per-address limits. Pure: ``now`` is passed in."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RateLimiter", "TokenBucket"]


@dataclass(slots=True)
class TokenBucket:
    """``rate_per_s`` tokens per second up to ``burst``; one message costs one token."""

    rate_per_s: float
    burst: float
    tokens: float
    updated_at: float

    @classmethod
    def full(cls, rate_per_s: float, burst: float, now: float) -> TokenBucket:
        return cls(rate_per_s, burst, burst, now)

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if there are enough; say whether it was allowed."""
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate_per_s)
        self.updated_at = max(self.updated_at, now)
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def is_full(self, now: float) -> bool:
        elapsed = max(0.0, now - self.updated_at)
        return self.tokens + elapsed * self.rate_per_s >= self.burst


class RateLimiter:
    """A bucket per key (a user id or an address), forgetting keys that are full again.

    Bounded: at most ``max_keys`` keys are kept; when full, the oldest key is
    evicted (policy ``evict_oldest``), which only ever makes a limit more lenient.
    """

    def __init__(self, rate_per_s: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_keys = max(1, max_keys)
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, key: str, now: float, cost: float = 1.0) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._evict(now)
            bucket = TokenBucket.full(self.rate_per_s, self.burst, now)
            self._buckets[key] = bucket
        return bucket.take(now, cost)

    def _evict(self, now: float) -> None:
        full = [key for key, bucket in self._buckets.items() if bucket.is_full(now)]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            del self._buckets[next(iter(self._buckets))]

    def __len__(self) -> int:
        return len(self._buckets)
