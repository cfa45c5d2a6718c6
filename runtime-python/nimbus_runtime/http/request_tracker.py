"""Counts invocations being served, so a drain can wait until none are left."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class RequestTracker:
    def __init__(self) -> None:
        self.count = 0
        self._waiters: list[asyncio.Future[None]] = []

    def start(self) -> Callable[[], None]:
        """Marks one started; the returned function (idempotent) marks it done."""
        self.count += 1
        finished = False

        def done() -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            self.count -= 1
            if self.count == 0:
                waiters, self._waiters = self._waiters, []
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)

        return done

    async def idle(self) -> None:
        if self.count == 0:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter
