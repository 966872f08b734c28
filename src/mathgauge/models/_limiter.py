"""Concurrency that adapts to rate limits: multiplicative decrease on 429/503, quick recovery when they stop."""

from __future__ import annotations

import asyncio
import collections
import time


class AdaptiveLimiter:
    """An async semaphore whose size shrinks under rate limiting and grows back to ``max_limit``.

    Waiters are woken one at a time in FIFO order (a condition variable would wake every waiter on each
    release, which costs O(waiters) per request when thousands of samples queue up).

    Args:
        max_limit: the concurrency the user asked for.
        min_fraction: never shrink below this share of ``max_limit`` (Retry-After already spaces retries;
            shrinking to 1 would turn a brief storm into a sequential run).
    """

    def __init__(self, max_limit: int, *, min_fraction: float = 0.125) -> None:
        if max_limit < 1:
            raise ValueError("concurrency must be at least 1")
        self.max_limit = max_limit
        self.limit = max_limit
        self._floor = max(1, int(max_limit * min_fraction))
        self._in_use = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._last_decrease = 0.0
        self._last_limited = 0.0
        self.rate_limited = 0

    @property
    def in_use(self) -> int:
        return self._in_use

    async def __aenter__(self) -> AdaptiveLimiter:
        if self._in_use < self.limit and not self._waiters:
            self._in_use += 1
            return self
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # the releaser hands its slot over: _in_use is already counted for us
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # we were handed a slot but won't use it
            else:
                # Still queued, unless a release already popped it (it skips waiters that are done): only a
                # queued waiter is removed, so a cancellation can never fail here.
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
                self._wake()  # the slot a cancelled head waiter stood for may be free
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        self._in_use -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._in_use < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)

    def on_rate_limited(self) -> None:
        now = time.monotonic()
        self.rate_limited += 1
        self._last_limited = now
        if now - self._last_decrease >= 1.0:
            self.limit = max(self._floor, int(self.limit * 0.8))
            self._last_decrease = now

    def on_success(self) -> None:
        if self.limit < self.max_limit and time.monotonic() - self._last_limited > 2.0:
            self.limit += 1
            self._wake()
