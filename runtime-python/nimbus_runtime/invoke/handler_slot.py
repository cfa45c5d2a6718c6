"""Holds the handler once loaded, and lets invocations that arrive earlier wait for it
(runtime-node's invoke/handler-slot.ts). The module is imported on a handler thread, so the event
loop answers /_/health and /_/ready ("loading") while a heavy import runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..config import HandlerRef
from ..http.http_errors import HandlerUnavailableError
from ..log import error_message
from .handler_loader import LoadedHandler, load_handler
from .handler_threads import HandlerThreads


class LoadState:
    __slots__ = ('status', 'handler', 'reason', 'error')

    def __init__(
        self,
        status: str,
        handler: LoadedHandler | None = None,
        reason: str | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.status = status  # 'loading', 'ready' or 'failed'
        self.handler = handler
        self.reason = reason
        self.error = error


class HandlerSlot:
    def __init__(self, function_dir: str, handler: HandlerRef, threads: HandlerThreads) -> None:
        self._load: Callable[[], LoadedHandler] = lambda: load_handler(function_dir, handler)
        self._threads = threads
        self.state = LoadState('loading')
        self._loading: asyncio.Future[LoadState] | None = None

    @property
    def loaded(self) -> bool:
        return self.state.status == 'ready'

    @property
    def loaded_handler(self) -> LoadedHandler | None:
        """The handler once loaded: lets an invocation skip waiting for it."""
        return self.state.handler

    def load(self) -> asyncio.Future[LoadState]:
        """Starts loading once; settles with the final state and never fails."""
        if self._loading is None:
            loop = asyncio.get_running_loop()
            self._loading = loop.create_future()
            self._threads.run(self._load).add_done_callback(self._settle)
        return self._loading

    async def handler(self) -> LoadedHandler:
        """The handler, waiting for the load if it is still running; a 503 error if it failed."""
        state = await self.load() if self.state.status == 'loading' else self.state
        if state.handler is None:
            raise HandlerUnavailableError(state.reason or 'the handler did not load')
        return state.handler

    def _settle(self, outcome: asyncio.Future[LoadedHandler]) -> None:
        error = outcome.exception()
        if error is None:
            self.state = LoadState('ready', handler=outcome.result())
        else:
            self.state = LoadState('failed', reason=error_message(error), error=error)
        assert self._loading is not None
        self._loading.set_result(self.state)
