"""Why one invocation should stop (its deadline passed, its client left) and whom to tell. Lives on
the event loop's thread; what the handler sees of it (`ctx.cancelled`) is made only when asked for."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any


class Cancellation:
    __slots__ = ('aborted', 'reason', '_listeners')

    def __init__(self) -> None:
        self.aborted = False
        self.reason: BaseException | None = None
        # Most invocations have at most one listener at a time, so a small list beats a set.
        self._listeners: list[Callable[[], None]] | None = None

    def abort(self, reason: BaseException) -> None:
        """Only the first call counts; later reasons are ignored."""
        if self.aborted:
            return
        self.aborted = True
        self.reason = reason
        listeners, self._listeners = self._listeners, None
        for listener in listeners or ():
            listener()

    def raise_if_aborted(self) -> None:
        if self.aborted:
            assert self.reason is not None
            raise self.reason

    def on_abort(self, listener: Callable[[], None]) -> None:
        """Calls `listener` once, on abort; never if aborted already (check `aborted` first)."""
        if self.aborted:
            return
        if self._listeners is None:
            self._listeners = [listener]
        else:
            self._listeners.append(listener)

    def off_abort(self, listener: Callable[[], None]) -> None:
        if self._listeners is not None and listener in self._listeners:
            self._listeners.remove(listener)


class CancelledEvent(asyncio.Event):
    """An async handler's `ctx.cancelled`: `await ctx.cancelled.wait()`, `ctx.cancelled.is_set()`,
    and `reason` (the timeout or disconnect) once set. Only the runtime sets it."""

    def __init__(self, cancellation: Cancellation) -> None:
        super().__init__()
        self.reason: BaseException | None = None
        _follow(self, cancellation)


class ThreadCancelledEvent(threading.Event):
    """A sync handler's `ctx.cancelled`: `is_set()`, `wait(timeout)` from any thread, and `reason`."""

    def __init__(self, cancellation: Cancellation) -> None:
        super().__init__()
        self.reason: BaseException | None = None
        _follow(self, cancellation)


def _follow(event: CancelledEvent | ThreadCancelledEvent, cancellation: Cancellation) -> None:
    """Sets `event`, with the cancellation's reason, once it is cancelled (at once if it is)."""

    def fire() -> None:
        event.reason = cancellation.reason
        event.set()

    if cancellation.aborted:
        fire()
    else:
        cancellation.on_abort(fire)


def until_cancelled(
    work: asyncio.Future[Any],
    cancellation: Cancellation,
    on_late_failure: Callable[[BaseException], None] | None = None,
) -> asyncio.Future[Any]:
    """A future with `work`'s outcome, or failing with the cancellation's reason as soon as it is
    cancelled. A failure of `work` after that goes to `on_late_failure`, if given."""
    waiter: asyncio.Future[Any] = work.get_loop().create_future()

    def on_abort() -> None:
        if not waiter.done():
            assert cancellation.reason is not None
            waiter.set_exception(cancellation.reason)

    def on_work(done: asyncio.Future[Any]) -> None:
        cancellation.off_abort(on_abort)
        error = None if done.cancelled() else done.exception()
        if waiter.done():
            if error is not None and on_late_failure is not None:
                on_late_failure(error)
        elif done.cancelled():
            waiter.cancel()
        elif error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(done.result())

    if cancellation.aborted:
        on_abort()
    else:
        cancellation.on_abort(on_abort)
    work.add_done_callback(on_work)
    return waiter
