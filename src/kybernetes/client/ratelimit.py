"""Rate limiters: a token bucket and per-key exponential backoff, both on an injectable `Clock`.

`TokenBucket` hands out reservations rather than blocking: `reserve()` takes one token and answers how long
the caller must wait before using it (0 when a token was in the bucket). Tokens may go negative, so a burst
of callers get increasing delays that are fair in arrival order. The REST client awaits the delay before a
request (client-side QPS); the workqueue turns it into a delayed add.

`ExponentialBackoff` gives each key its own failure count: `when(key)` returns base * 2^failures (capped)
and counts one more failure; `forget(key)` resets it. `WorkqueueRateLimiter` is the maximum of the two, the
default of Kubernetes controllers: per key 5 ms doubling to 1000 s, overall 10 qps with a burst of 100.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kybernetes.client.clock import REAL_CLOCK, Clock


class TokenBucket:
    """`qps` tokens per second, at most `burst` saved up."""

    def __init__(self, *, qps: float, burst: int, clock: Clock = REAL_CLOCK) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("a token bucket needs qps > 0 and burst >= 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.now()

    def _refill(self) -> None:
        now = self._clock.now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now

    def reserve(self) -> float:
        """Take a token; return the seconds to wait before it may be used."""
        self._refill()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def tokens(self) -> float:
        self._refill()
        return self._tokens

    async def wait(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await self._clock.sleep(delay)


class RateLimiter(Protocol):
    def when(self, key: str) -> float:
        """Seconds to wait before `key` may be retried; counts a failure."""
        ...

    def forget(self, key: str) -> None: ...

    def num_requeues(self, key: str) -> int: ...


class ExponentialBackoff:
    """Per-key backoff: `base * 2**failures`, at most `cap`."""

    def __init__(self, *, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[str, int] = {}

    def when(self, key: str) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        if failures > 62:  # 2**63 overflows any cap we would use
            return self.cap
        return min(self.cap, self.base * (2**failures))

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: str) -> int:
        return self._failures.get(key, 0)

    def __len__(self) -> int:
        return len(self._failures)


class WorkqueueRateLimiter:
    """The larger of a per-key exponential backoff and an overall token bucket."""

    def __init__(
        self,
        *,
        clock: Clock = REAL_CLOCK,
        base: float = 0.005,
        cap: float = 1000.0,
        qps: float = 10.0,
        burst: int = 100,
    ) -> None:
        self.backoff = ExponentialBackoff(base=base, cap=cap)
        self.bucket = TokenBucket(qps=qps, burst=burst, clock=clock)

    def when(self, key: str) -> float:
        return max(self.backoff.when(key), self.bucket.reserve())

    def forget(self, key: str) -> None:
        self.backoff.forget(key)

    def num_requeues(self, key: str) -> int:
        return self.backoff.num_requeues(key)


@dataclass(frozen=True, slots=True)
class Backoff:
    """A bounded exponential backoff for retrying one operation (connection errors, re-lists)."""

    initial: float = 0.2
    factor: float = 2.0
    cap: float = 30.0

    def delay(self, attempt: int) -> float:
        """The wait before retry number `attempt` (0-based)."""
        return min(self.cap, self.initial * self.factor ** min(attempt, 64))
