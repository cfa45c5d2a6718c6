"""ctx.state for a traced invocation (runtime-node's invoke/traced-context.ts): each call a client
span under the handler's, named after it (`ctx.state get`), with the key's length but not the key
itself, which may hold a user's data. Imported only when an invocation is traced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..state.function_state import AsyncFunctionState, SyncFunctionState
from .invocation_spans import OpenSpan

_STATE_CALLS = ('get', 'get_with_version', 'set', 'delete', 'incr', 'compare_and_set')


class _TracedState:
    __slots__ = ('_state', '_parent')

    def __init__(self, state: AsyncFunctionState | SyncFunctionState, parent: OpenSpan) -> None:
        self._state = state
        self._parent = parent

    def _span(self, method: str, key: Any) -> OpenSpan:
        return self._parent.child(f'ctx.state {method}', 'client', {'nimbus.state.key_length': len(str(key))})


class TracedAsyncState(_TracedState):
    """An async handler's ctx.state, its calls coroutines as AsyncFunctionState's."""

    __slots__ = ()


class TracedSyncState(_TracedState):
    """A sync handler's ctx.state, its calls blocking the handler's thread as SyncFunctionState's."""

    __slots__ = ()


def _async_call(method: str) -> Callable[..., Any]:
    async def call(self: _TracedState, key: Any, *args: Any, **kwargs: Any) -> Any:
        with self._span(method, key):
            return await getattr(self._state, method)(key, *args, **kwargs)

    return call


def _sync_call(method: str) -> Callable[..., Any]:
    def call(self: _TracedState, key: Any, *args: Any, **kwargs: Any) -> Any:
        with self._span(method, key):
            return getattr(self._state, method)(key, *args, **kwargs)

    return call


for _method in _STATE_CALLS:
    setattr(TracedAsyncState, _method, _async_call(_method))
    setattr(TracedSyncState, _method, _sync_call(_method))


def traced_state(state: AsyncFunctionState | SyncFunctionState, parent: OpenSpan) -> _TracedState:
    """`state`'s traced twin: calls of the same kind (coroutines or blocking), each in a span."""
    if isinstance(state, SyncFunctionState):
        return TracedSyncState(state, parent)
    return TracedAsyncState(state, parent)
