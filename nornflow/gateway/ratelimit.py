"""In-memory limits for the gateway: a token bucket per caller, and a lockout for repeated bad logins.

Both keep state per key (a user, a token id, an IP) in an LRU-ordered dict. A key whose
state has returned to "as if never seen" (a bucket refilled to full, a failure window
that has passed) is dropped as soon as it reaches the old end of the dict, and the dict
never holds more than ``max_keys`` entries, so a flood of distinct keys (spoofed IPs,
guessed user names) costs bounded memory. Forgetting a key early can only make a limit
more lenient for that key, never lock someone out.

Time comes from ``time.monotonic`` (wall-clock jumps must not unlock or lock anyone);
tests pass their own ``clock``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]
MAX_KEYS = 100_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per key: ``burst`` requests at once, then ``rate_per_second`` sustained."""

    def __init__(self, rate_per_second: float, burst: int, *, clock: Clock = time.monotonic,
                 max_keys: int = MAX_KEYS) -> None:
        if rate_per_second <= 0 or burst < 1 or max_keys < 1:
            raise ValueError(f"rate_per_second must be > 0, burst >= 1 and max_keys >= 1 "
                             f"(got {rate_per_second}, {burst}, {max_keys})")
        self.rate = float(rate_per_second)
        self.burst = float(burst)
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()
        # After this long untouched, a bucket is full again and equals a missing one.
        self._idle_after = self.burst / self.rate

    def hit(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens: 0.0 when allowed, else the seconds to wait (for Retry-After)."""
        if cost <= 0 or cost > self.burst:
            raise ValueError(f"cost must be > 0 and <= burst ({self.burst:g}); got {cost}")
        with self._lock:
            now = self._clock()
            self._evict(now)
            bucket = self._buckets.pop(key, None)
            if bucket is None:
                bucket = _Bucket(self.burst, now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
                bucket.updated = now
            self._buckets[key] = bucket  # most recently used at the end
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return 0.0
            return (cost - bucket.tokens) / self.rate

    def _evict(self, now: float) -> None:
        buckets = self._buckets
        while buckets:
            oldest = next(iter(buckets.values()))
            if now - oldest.updated < self._idle_after and len(buckets) < self.max_keys:
                break
            buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass
class _Failures:
    times: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    touched: float = 0.0


class LoginGuard:
    """Locks a key for ``lockout_seconds`` after ``max_failures`` failures within ``window_seconds``.

    Only time forgets a failure: it leaves the count when it is ``window_seconds`` old, and a
    lockout ends when its time is up. No success resets a key (there is deliberately no
    ``success()``): an attacker who logs into their own account between guesses, or a colleague
    behind the same NAT logging in, must not wipe the failures an address or a user name has
    collected; only :meth:`reset` does.

    The login form checks before verifying a password (so a locked key costs no hashing) and
    reports each failure. The gateway keeps one guard per client IP (one address cannot guess
    on) and a second per user name with a short lockout (many addresses cannot guess one
    user's password, yet an attacker can only hold that user out for a short cooldown at a
    time). The same class, keyed by IP, throttles failed API and websocket authentications;
    there the credential is checked first, because a token check is cheap (an HMAC), and only a
    failed one is counted or meets the lockout, so a valid token is never refused for what
    someone else at the same address guessed.
    """

    def __init__(self, max_failures: int, window_seconds: float, lockout_seconds: float, *,
                 clock: Clock = time.monotonic, max_keys: int = MAX_KEYS) -> None:
        if max_failures < 1 or window_seconds <= 0 or lockout_seconds <= 0 or max_keys < 1:
            raise ValueError("max_failures, window_seconds, lockout_seconds and max_keys must be positive")
        self.max_failures = max_failures
        self.window = float(window_seconds)
        self.lockout = float(lockout_seconds)
        self.max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()
        self._forget_after = max(self.window, self.lockout)

    def check(self, key: str) -> float:
        """Seconds left of this key's lockout, or 0.0 when it may try."""
        with self._lock:
            entry = self._keys.get(key)
            if entry is None:
                return 0.0
            return max(0.0, entry.locked_until - self._clock())

    def failure(self, key: str) -> float:
        """Record a failed attempt; returns the lockout seconds when this failure locked the key, else 0.0."""
        with self._lock:
            now = self._clock()
            self._evict(now)
            entry = self._keys.pop(key, None) or _Failures()
            entry.touched = now
            self._keys[key] = entry
            if entry.locked_until > now:
                return 0.0  # already locked; do not extend, so a lockout always ends
            while entry.times and now - entry.times[0] >= self.window:
                entry.times.popleft()
            entry.times.append(now)
            if len(entry.times) >= self.max_failures:
                entry.times.clear()
                entry.locked_until = now + self.lockout
                return self.lockout
            return 0.0

    def reset(self, key: str) -> None:
        """Forget the key's failures and lift its lockout (an owner unlocking an address)."""
        with self._lock:
            self._keys.pop(key, None)

    def _evict(self, now: float) -> None:
        keys = self._keys
        while keys:
            oldest = next(iter(keys.values()))
            if now - oldest.touched < self._forget_after and len(keys) < self.max_keys:
                break
            keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)


class Throttle:
    """At most one event per key and ``window_seconds``: the audit of an attacker's repeated refusals.

    ``allow`` answers None while the key is muted, else the number of events muted since the last
    one allowed (0 the first time), which the caller writes into the one record it keeps, so the
    log says how much was left out without one line per refused guess.
    """

    def __init__(self, window_seconds: float, *, clock: Clock = time.monotonic, max_keys: int = MAX_KEYS) -> None:
        if window_seconds <= 0 or max_keys < 1:
            raise ValueError("window_seconds and max_keys must be positive")
        self.window = float(window_seconds)
        self.max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[str, list[float]] = OrderedDict()  # key -> [last allowed, muted since]
        self._lock = threading.Lock()

    def allow(self, key: str) -> int | None:
        with self._lock:
            now = self._clock()
            while self._keys:
                last, muted = next(iter(self._keys.values()))
                if len(self._keys) < self.max_keys and (now - last < self.window or muted):
                    break  # a muted count stays until its key speaks again (or memory runs short)
                self._keys.popitem(last=False)
            entry = self._keys.pop(key, None)
            if entry is not None and now - entry[0] < self.window:
                entry[1] += 1
                self._keys[key] = entry
                return None
            muted = int(entry[1]) if entry is not None else 0
            self._keys[key] = [now, 0.0]
            return muted

    def __len__(self) -> int:
        return len(self._keys)
