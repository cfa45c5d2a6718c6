"""At most `concurrency` holders, then a FIFO queue of at most `queue_size` waiters; a waiter whose
invocation is cancelled (client gone, deadline passed) leaves the queue at once. runtime-node's
invoke/concurrency-limiter.ts, on the event loop's thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .cancellation import Cancellation


class Permit:
    """A held slot; release is idempotent."""

    __slots__ = ('_hand_over',)

    def __init__(self, hand_over: Callable[[], None]) -> None:
        self._hand_over: Callable[[], None] | None = hand_over

    def release(self) -> None:
        hand_over, self._hand_over = self._hand_over, None
        if hand_over is not None:
            hand_over()


class ConcurrencyLimiter:
    def __init__(self, concurrency: int, queue_size: int) -> None:
        self._concurrency = concurrency
        self._queue_size = queue_size
        self._active = 0
        # A dict keeps insertion order (FIFO) and removes a cancelled waiter from the middle in O(1).
        self._waiters: dict[asyncio.Future[Permit], None] = {}

    @property
    def inflight(self) -> int:
        return self._active

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def try_acquire(self) -> Permit | None:
        """A permit if a slot is free. Never jumps the queue: waiters exist only while every slot is
        held, because a freed slot goes straight to the oldest of them."""
        if self._active >= self._concurrency:
            return None
        self._active += 1
        return Permit(self._hand_over)

    def acquire(self, cancellation: Cancellation) -> asyncio.Future[Permit] | None:
        """A permit now or a place in the queue; None when slots and queue are both full (429). The
        future fails with the cancellation's reason if it is cancelled before a slot is granted."""
        future: asyncio.Future[Permit] = asyncio.get_running_loop().create_future()
        if cancellation.aborted:
            assert cancellation.reason is not None
            future.set_exception(cancellation.reason)
            return future
        permit = self.try_acquire()
        if permit is not None:
            future.set_result(permit)
            return future
        if len(self._waiters) >= self._queue_size:
            return None

        def on_abort() -> None:
            if self._waiters.pop(future, 0) is None and not future.done():
                assert cancellation.reason is not None
                future.set_exception(cancellation.reason)

        self._waiters[future] = None
        cancellation.on_abort(on_abort)
        future.add_done_callback(lambda _: cancellation.off_abort(on_abort))
        return future

    def _hand_over(self) -> None:
        """The freed slot goes to the oldest waiter still waiting, so `active` drops only when none is."""
        while self._waiters:
            waiter = next(iter(self._waiters))
            del self._waiters[waiter]
            if not waiter.done():
                waiter.set_result(Permit(self._hand_over))
                return
        self._active -= 1
