"""ctx.state in local mode: each call is a `state` request to the supervisor over IPC, which keeps
one key space per function for all its replicas (runtime-node's state/supervisor-state.ts, message
for message). A reply that does not come within the timeout, or a channel that is gone, fails the
call as unavailable; a late reply is dropped."""

from __future__ import annotations

from typing import Any

from ..supervisor_channel import SupervisorChannel
from ..supervisor_requests import SupervisorRequests
from .state_errors import StateUnavailableError, to_state_error
from .state_value import check_state_value


class SupervisorStatePort:
    """Runs on the event loop's thread; the sync face of ctx.state hops onto it."""

    def __init__(self, channel: SupervisorChannel, timeout_ms: int, max_value_bytes: int) -> None:
        self._max_value_bytes = max_value_bytes
        self._requests = SupervisorRequests(channel, timeout_ms, _is_state_reply)

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
        self._requests.fail_all(
            lambda: StateUnavailableError('function state is closing: the runtime is shutting down')
        )

    async def _request(self, operation: dict[str, Any]) -> Any:
        op = operation['op']
        reply = await self._requests.send(
            {'type': 'state', **operation},
            lambda why: StateUnavailableError(f'state {op}: {why}'),
            'no supervisor channel (NIMBUS_STATE_BACKEND=supervisor works only in a runtime started by local mode)',
        )
        if reply['ok']:
            return reply.get('result')
        raise to_state_error(reply['error'])


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
