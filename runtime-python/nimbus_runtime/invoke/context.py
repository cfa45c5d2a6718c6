"""A handler's `ctx` (runtime-node's invoke/context.ts), in two flavours: an async handler's, whose
invoke and state calls are coroutines and whose `cancelled` is an asyncio.Event; and a sync
handler's, running on a handler thread, whose calls block that thread and whose `cancelled` is a
threading.Event. `log` is made on first use: most handlers never log. In a traced invocation
(invoke/invocation_spans.py) each ctx.invoke and ctx.state call is a client span under the handler's."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ..config import GatewayUrl
from ..log import JsonLogger
from ..state.function_state import AsyncFunctionState, SyncFunctionState
from .cancellation import Cancellation, CancelledEvent, ThreadCancelledEvent
from .handler_threads import HandlerThreads

if TYPE_CHECKING:
    # Imported on the first ctx.invoke: most functions never make one.
    from .function_invoker import Caller, GatewayInvoker, InvokeResponse
    from .invocation_spans import OpenSpan


class InvocationInfo:
    """What one invocation contributes to its ctx."""

    __slots__ = ('invocation_id', 'deadline', 'cancellation', 'traceparent', 'span')

    def __init__(
        self,
        invocation_id: str,
        deadline: int,
        cancellation: Cancellation,
        traceparent: str | None,
        span: OpenSpan | None,
    ) -> None:
        self.invocation_id = invocation_id
        self.deadline = deadline
        self.cancellation = cancellation
        self.traceparent = traceparent
        #: The handler's span when the invocation is traced: ctx's calls record spans under it.
        self.span = span


class _Context:
    __slots__ = (
        'function_name',
        'namespace',
        'invocation_id',
        'deadline',
        'state',
        '_info',
        '_logger',
        '_log',
        '_factory',
        '_cancelled',
    )

    function_name: str
    namespace: str
    invocation_id: str
    #: Epoch milliseconds after which the runtime answers 504.
    deadline: int

    def __init__(self, factory: ContextFactory, info: InvocationInfo) -> None:
        self.function_name = factory.function_name
        self.namespace = factory.namespace
        self.invocation_id = info.invocation_id
        self.deadline = info.deadline
        self._info = info
        self._logger = factory.logger
        self._log: JsonLogger | None = None
        self._factory = factory

    def remaining_ms(self) -> int:
        """Milliseconds left before the deadline, never below 0."""
        return max(0, self.deadline - time.time_ns() // 1_000_000)

    @property
    def log(self) -> JsonLogger:
        """`ctx.log.info(msg, **fields)`: a JSON line carrying the function and the invocation id."""
        if self._log is None:
            self._log = self._logger.child(invocationId=self.invocation_id)
        return self._log

    def _invoke(self, invoker: GatewayInvoker, name: Any, payload: Any, seconds: float) -> InvokeResponse:
        """Blocks until the gateway answers. Traced, the call is a span of its own, and the callee's
        spans hang under it rather than under the handler's."""
        info = self._info
        if info.span is None:
            return invoker.invoke(name, payload, self._caller(info.traceparent), seconds)
        with info.span.child(f'ctx.invoke {name}', 'client', {'nimbus.callee': str(name)}) as span:
            response = invoker.invoke(name, payload, self._caller(span.traceparent), seconds)
            span.set('http.response.status_code', response.status_code)
            return response

    def _caller(self, traceparent: str | None) -> Caller:
        from .function_invoker import Caller

        return Caller(self.invocation_id, self.namespace, traceparent)

    async def _publish(self, subject: Any, data: Any, content_type: str | None, event_type: str | None) -> str:
        """On the event loop. Traced, the publish is a client span of its own."""
        publisher = self._factory.publisher
        span = self._info.span
        if span is None:
            return await publisher.publish(subject, data, content_type, event_type)
        with span.child(f'ctx.publish {subject}', 'client', {'messaging.destination.name': str(subject)}):
            return await publisher.publish(subject, data, content_type, event_type)

    def _state_for(self, state: Any) -> Any:
        """The shared ctx.state, or when traced a twin that records its calls."""
        span = self._info.span
        if span is None:
            return state
        from .traced_state import traced_state

        return traced_state(state, span)

    def __repr__(self) -> str:
        return f'<ctx {self.function_name}.{self.namespace} invocation {self.invocation_id}>'


class AsyncContext(_Context):
    __slots__ = ('_threads',)

    def __init__(self, factory: ContextFactory, info: InvocationInfo) -> None:
        super().__init__(factory, info)
        self.state: AsyncFunctionState = self._state_for(factory.state)
        self._threads = factory.threads
        self._cancelled: CancelledEvent | None = None

    @property
    def cancelled(self) -> CancelledEvent:
        """Set at the deadline or when the client goes; `reason` says which. The handler's task is
        cancelled one loop step later, so code woken by `await ctx.cancelled.wait()` runs first."""
        if self._cancelled is None:
            self._cancelled = CancelledEvent(self._info.cancellation)
        return self._cancelled

    async def invoke(self, name: str, payload: Any = None) -> InvokeResponse:
        seconds = self.remaining_ms() / 1000
        invoker = self._factory.invoker
        return await self._threads.run(lambda: self._invoke(invoker, name, payload, seconds))

    async def publish(
        self, subject: str, data: Any, content_type: str | None = None, type: str | None = None
    ) -> str:
        """A CloudEvent on `subject` for every function with a trigger on it; returns its id. Raises
        a PublishError: not configured, refused (the gateway's reason and status), unavailable."""
        return await self._publish(subject, data, content_type, type)


class SyncContext(_Context):
    __slots__ = ()

    def __init__(self, factory: ContextFactory, info: InvocationInfo) -> None:
        super().__init__(factory, info)
        self.state: SyncFunctionState = self._state_for(factory.sync_state)
        # Made here, on the loop's thread, so it cannot miss an abort that races its creation.
        self._cancelled = ThreadCancelledEvent(info.cancellation)

    @property
    def cancelled(self) -> ThreadCancelledEvent:
        """Set at the deadline or when the client goes; `reason` says which. Python cannot stop a
        thread: a handler that runs on should look at `ctx.cancelled.is_set()` and return."""
        return self._cancelled

    def invoke(self, name: str, payload: Any = None) -> InvokeResponse:
        return self._invoke(self._factory.invoker, name, payload, self.remaining_ms() / 1000)

    def publish(self, subject: str, data: Any, content_type: str | None = None, type: str | None = None) -> str:
        """As the async ctx.publish, blocking the handler's thread while the loop sends it."""
        call = self._publish(subject, data, content_type, type)
        return asyncio.run_coroutine_threadsafe(call, self._factory.loop).result()


class ContextFactory:
    """Builds the handler's `ctx` from the runtime's shared adapters and one invocation's facts."""

    def __init__(
        self,
        function_name: str,
        namespace: str,
        logger: JsonLogger,
        state: AsyncFunctionState,
        gateway_url: GatewayUrl | None,
        threads: HandlerThreads,
        loop: asyncio.AbstractEventLoop,
        publisher: Any = None,
    ) -> None:
        self.function_name = function_name
        self.namespace = namespace
        self.logger = logger
        self.state = state
        self.sync_state = SyncFunctionState(state, loop)
        self._gateway_url = gateway_url
        self._invoker: GatewayInvoker | None = None
        self.threads = threads
        self.loop = loop
        #: ctx.publish's way out (events/publisher.py); none given: not configured.
        self.publisher = publisher if publisher is not None else _unconfigured()

    @property
    def invoker(self) -> GatewayInvoker:
        """Made on the first ctx.invoke: most functions never make one."""
        if self._invoker is None:
            from .function_invoker import GatewayInvoker

            self._invoker = GatewayInvoker(self._gateway_url)
        return self._invoker

    def create(self, info: InvocationInfo, is_async: bool) -> AsyncContext | SyncContext:
        return AsyncContext(self, info) if is_async else SyncContext(self, info)


def _unconfigured() -> Any:
    from ..events.publisher import UnconfiguredPublisher

    return UnconfiguredPublisher()
