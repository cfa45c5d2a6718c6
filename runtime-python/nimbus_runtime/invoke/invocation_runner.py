"""One invocation from arrival to outcome (runtime-node's invoke/invocation-runner.ts): read the
event, wait for the handler, take a concurrency slot (or queue, or 429), call the handler, map its
result. The deadline runs from arrival, so reading the body, waiting for the handler to load and
queueing all count toward it.

At the deadline (or when the client goes) the invocation ends at once and its slot is released,
whatever the handler is doing: holding the slot until it returns would let a handler that never
returns take the replica out of service. `ctx.cancelled` tells the handler to stop; an async
handler's task is also cancelled one loop step later (so code woken by `ctx.cancelled` runs first).
A sync handler's thread runs on until it returns: Python cannot stop a thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..http.http_errors import ClientDisconnectedError, FunctionTimeoutError, HttpError, QueueFullError
from ..log import JsonLogger, now_ms
from .cancellation import Cancellation, until_cancelled
from .concurrency_limiter import ConcurrencyLimiter, Permit
from .context import ContextFactory, InvocationInfo
from .event import Event
from .handler_loader import LoadedHandler
from .handler_slot import HandlerSlot
from .handler_threads import HandlerThreads
from .response_mapping import ResponseSpec, map_handler_result


if TYPE_CHECKING:
    from typing import Protocol

    from .invocation_spans import OpenSpan

    class InvocationRequest(Protocol):
        invocation_id: str
        traceparent: str | None
        #: The invocation's server span, when the gateway asked for spans.
        span: OpenSpan | None
        #: Cancelled by the caller when the client goes away; the runner cancels it at the deadline.
        cancellation: Cancellation

        async def read_event(self) -> Event:
            """Reads and parses the request; may raise an HttpError (400, 413)."""
            ...


class Outcome:
    __slots__ = ('kind', 'response', 'error')

    def __init__(
        self, kind: str, response: ResponseSpec | None = None, error: BaseException | None = None
    ) -> None:
        self.kind = kind  # 'response', 'failed' or 'disconnected'
        self.response = response
        self.error = error


DISCONNECTED = Outcome('disconnected')


class InvocationRunner:
    def __init__(
        self,
        timeout_ms: int,
        limiter: ConcurrencyLimiter,
        handlers: HandlerSlot,
        contexts: ContextFactory,
        threads: HandlerThreads,
        logger: JsonLogger,
    ) -> None:
        self._timeout_ms = timeout_ms
        self._limiter = limiter
        self._handlers = handlers
        self._contexts = contexts
        self._threads = threads
        self._logger = logger

    async def run(self, request: InvocationRequest) -> Outcome:
        loop = asyncio.get_running_loop()
        cancellation = request.cancellation
        deadline = now_ms() + self._timeout_ms
        timer = loop.call_later(self._timeout_ms / 1000, self._time_out, cancellation)
        permit: Permit | None = None
        work: asyncio.Future[Any] | None = None
        try:
            event = await request.read_event()
            handler = self._handlers.loaded_handler or await self._load_handler(request.span)
            cancellation.raise_if_aborted()
            permit = self._limiter.try_acquire()
            if permit is None:
                permit = await self._queue_for_slot(request)
                cancellation.raise_if_aborted()
            work = self._call(handler, event, request, deadline)
            value = await until_cancelled(work, cancellation, self._late_failure(request.invocation_id))
            if _is_awaitable(value):
                # A sync handler that returned an awaitable: it runs on the loop, like an async one.
                work = asyncio.ensure_future(value)
                value = await until_cancelled(work, cancellation, self._late_failure(request.invocation_id))
            return Outcome('response', map_handler_result(value))
        except BaseException as error:
            if isinstance(error, asyncio.CancelledError) and _being_cancelled():
                raise
            return self._outcome_of(error, cancellation, request.invocation_id)
        finally:
            timer.cancel()
            if permit is not None:
                permit.release()
            if cancellation.aborted and isinstance(work, asyncio.Task) and not work.done():
                loop.call_soon(work.cancel)

    async def _load_handler(self, span: OpenSpan | None) -> LoadedHandler:
        """The first requests of a replica wait for its handler to load: a part of the cold start."""
        if span is None:
            return await self._handlers.handler()
        with span.child('load handler', 'internal'):
            return await self._handlers.handler()

    async def _queue_for_slot(self, request: InvocationRequest) -> Permit:
        """Every slot is taken: wait in the replica's queue (or 429 when it is full)."""
        acquired = self._limiter.acquire(request.cancellation)
        if acquired is None:
            raise QueueFullError()
        if request.span is None:
            return await acquired
        with request.span.child('wait for a slot', 'internal'):
            return await acquired

    def _time_out(self, cancellation: Cancellation) -> None:
        cancellation.abort(FunctionTimeoutError(self._timeout_ms))

    def _call(
        self, handler: LoadedHandler, event: Event, request: InvocationRequest, deadline: int
    ) -> asyncio.Future[Any]:
        info = InvocationInfo(
            request.invocation_id, deadline, request.cancellation, request.traceparent, request.span
        )
        ctx = self._contexts.create(info, handler.is_async)
        function = handler.function
        if handler.is_async:
            return asyncio.ensure_future(_contained(function(event, ctx)))
        return self._threads.run(lambda: _call_contained(function, event, ctx))

    def _outcome_of(self, error: BaseException, cancellation: Cancellation, invocation_id: str) -> Outcome:
        log = self._logger.child(invocationId=invocation_id)
        if cancellation.aborted and error is cancellation.reason:
            if isinstance(error, ClientDisconnectedError):
                log.info('client disconnected; invocation abandoned')
                return DISCONNECTED
            log.warn('function timed out', timeoutMs=self._timeout_ms)
            return Outcome('failed', error=error)
        from ..state.state_errors import StateError

        if isinstance(error, StateError):
            # A handler that let a ctx.state failure through: worth seeing whatever its status.
            log.warn('state call failed', statusCode=error.status_code, code=error.code, reason=error.message)
        elif isinstance(error, HttpError) and error.status_code < 500:
            log.debug('request refused', statusCode=error.status_code, reason=error.message)
        elif not isinstance(error, HttpError) or error.status_code == 500:
            log.error('handler failed', error=error)
        return Outcome('failed', error=error)

    def _late_failure(self, invocation_id: str) -> Callable[[BaseException], None]:
        """After a timeout or disconnect the handler's result is discarded, but a late failure is
        still worth a line."""

        def report(error: BaseException) -> None:
            if isinstance(error, (asyncio.CancelledError, FunctionTimeoutError, ClientDisconnectedError)):
                return
            self._logger.child(invocationId=invocation_id).warn(
                'handler failed after its invocation had ended', error=error
            )

        return report


async def _contained(work: Any) -> Any:
    """A handler's sys.exit() is its failure: asyncio would otherwise let SystemExit out of the event
    loop and end the replica without a drain."""
    try:
        return await work
    except (SystemExit, KeyboardInterrupt) as error:
        raise _exit_failure(error) from error


def _call_contained(function: Any, event: Event, ctx: Any) -> Any:
    """The same for a sync handler, on its thread."""
    try:
        return function(event, ctx)
    except (SystemExit, KeyboardInterrupt) as error:
        raise _exit_failure(error) from error


def _exit_failure(error: BaseException) -> RuntimeError:
    return RuntimeError(f'the handler raised {type(error).__name__}({error}) instead of returning')


def _is_awaitable(value: Any) -> bool:
    return hasattr(value, '__await__') and not isinstance(value, type)


def _being_cancelled() -> bool:
    """Whether the runner's own task is being cancelled (the loop is shutting down), as opposed to a
    handler that let a CancelledError of its own escape."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
