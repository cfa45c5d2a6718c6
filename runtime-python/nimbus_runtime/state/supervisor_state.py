"""ctx.state in local mode: each call is a `state` request to the supervisor over IPC, which keeps
one key space per function for all its replicas (runtime-node's state/supervisor-state.ts, message
for message). A reply that does not come within the timeout, or a channel that is gone, fails the
call as unavailable; a late reply is dropped."""

from __future__ import annotations

import asyncio
from typing import Any

from ..supervisor_channel import SupervisorChannel
from .state_errors import StateError, StateUnavailableError, to_state_error
from .state_value import check_state_value


class SupervisorStatePort:
    """Runs on the event loop's thread; the sync face of ctx.state hops onto it."""

    def __init__(self, channel: SupervisorChannel, timeout_ms: int, max_value_bytes: int) -> None:
        self._channel = channel
        self._timeout_ms = timeout_ms
        self._max_value_bytes = max_value_bytes
        self._pending: dict[int, tuple[asyncio.Future[Any], asyncio.TimerHandle]] = {}
        self._next_id = 1
        channel.on_message(self._received)

    async def get(self, key: Any) -> dict[str, Any] | None:
        return await self._request({'op': 'get', 'key': key})

    async def set(self, key: Any, value: Any, ttl_ms: int | None) -> str:
        check_state_value(key, value, self._max_value_bytes)
        return await self._request(_with_ttl({'op': 'set', 'key': key, 'value': value}, ttl_ms))

    async def delete(self, key: Any) -> bool:
        return await self._request({'op': 'delete', 'key': key})

    async def incr(self, key: Any, by: Any) -> int:
        return await self._request({'op': 'incr', 'key': key, 'by': by})

    async def compare_and_set(
        self, key: Any, expected_version: Any, value: Any, ttl_ms: int | None
    ) -> dict[str, Any]:
        check_state_value(key, value, self._max_value_bytes)
        operation = {'op': 'compareAndSet', 'key': key, 'expectedVersion': expected_version, 'value': value}
        return await self._request(_with_ttl(operation, ttl_ms))

    def close(self) -> None:
        """Fails the calls still waiting: the process is going away."""
        for call_id in list(self._pending):
            closing = StateUnavailableError('function state is closing: the runtime is shutting down')
            self._settle(call_id, closing)

    def _request(self, operation: dict[str, Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        call_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[Any] = loop.create_future()
        op = operation['op']
        timeout = StateUnavailableError(
            f'state {op}: the local supervisor did not answer within {self._timeout_ms} ms'
        )
        timer = loop.call_later(self._timeout_ms / 1000, self._settle, call_id, timeout)
        self._pending[call_id] = (future, timer)
        if not self._channel.send({'type': 'state', 'id': call_id, **operation}):
            self._settle(
                call_id,
                StateUnavailableError(
                    f'state {op}: no supervisor channel (NIMBUS_STATE_BACKEND=supervisor works only in a'
                    ' runtime started by local mode)'
                ),
            )
        return future

    def _received(self, message: Any) -> None:
        if not _is_state_reply(message) or message['id'] not in self._pending:
            return  # not a reply, or one that timed out already
        if message['ok']:
            self._settle(message['id'], None, message.get('result'))
        else:
            self._settle(message['id'], to_state_error(message['error']))

    def _settle(self, call_id: int, error: StateError | None, result: Any = None) -> None:
        entry = self._pending.pop(call_id, None)
        if entry is None:
            return
        future, timer = entry
        timer.cancel()
        if future.done():
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


def _with_ttl(operation: dict[str, Any], ttl_ms: int | None) -> dict[str, Any]:
    if ttl_ms is not None:
        operation['ttlMs'] = ttl_ms
    return operation


def _is_state_reply(message: Any) -> bool:
    if not isinstance(message, dict) or message.get('type') != 'state-result':
        return False
    call_id, ok = message.get('id'), message.get('ok')
    if not isinstance(call_id, int) or isinstance(call_id, bool) or not isinstance(ok, bool):
        return False
    if ok:
        return True
    error = message.get('error')
    if not isinstance(error, dict):
        return False
    return isinstance(error.get('name'), str) and isinstance(error.get('message'), str)
