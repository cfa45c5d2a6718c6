"""The threads sync handlers run on, so they never block the event loop.

Not a ThreadPoolExecutor, for two reasons. Its workers are joined at interpreter exit, so one
handler stuck in a call would keep a drained replica from exiting; these are daemon threads. And it
caps its threads: a sync handler that runs on past its deadline (Python cannot stop a thread) keeps
its thread while its slot goes to the next call, as in runtime-node, so a cap would let a few hung
calls starve every later one. Here a call takes an idle thread or starts one; idle threads leave
after a while."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

_IDLE_SECONDS = 60.0


class HandlerThreads:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # deque's append and popleft are atomic; `_queued` counts what it holds, so a thread waits
        # on the semaphore rather than polling (what queue.SimpleQueue does, without its import).
        self._work: deque[tuple[Callable[[], Any], asyncio.Future[Any]]] = deque()
        self._queued = threading.Semaphore(0)
        # One token per idle thread: a call that takes one knows a waiting thread will pick it up.
        self._idle = threading.Semaphore(0)
        self._started = 0

    def run(self, call: Callable[[], Any]) -> asyncio.Future[Any]:
        """`call()` on a thread of its own; the future (of the loop) settles with its outcome.
        Must be called on the event loop's thread."""
        future: asyncio.Future[Any] = self._loop.create_future()
        self._work.append((call, future))
        self._queued.release()
        if not self._idle.acquire(blocking=False):
            self._started += 1
            threading.Thread(target=self._serve, name=f'nimbus-handler-{self._started}', daemon=True).start()
        return future

    def _serve(self) -> None:
        while True:
            if not self._queued.acquire(timeout=_IDLE_SECONDS):
                # Leave only by taking back this thread's own idle token; if a caller took it, a call
                # is on its way to some idle thread, so stay and look again.
                if self._idle.acquire(blocking=False):
                    return
                continue
            call, future = self._work.popleft()
            self._execute(call, future)
            self._idle.release()

    def _execute(self, call: Callable[[], Any], future: asyncio.Future[Any]) -> None:
        try:
            result = call()
        except StopIteration as error:
            # A future refuses StopIteration (it would end a coroutine silently): say what it was.
            self._settle(future, None, RuntimeError(f'StopIteration: {error}'))
        except BaseException as error:  # whatever the call raised is its outcome
            self._settle(future, None, error)
        else:
            self._settle(future, result, None)

    def _settle(self, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        def settle() -> None:
            if future.done():
                return
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

        try:
            self._loop.call_soon_threadsafe(settle)
        except RuntimeError:
            pass  # the loop is closed: the process is exiting and nobody waits for this call
