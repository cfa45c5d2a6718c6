"""ctx.state as handlers see it (runtime-node's FunctionState): coroutines for async handlers, plain
calls for sync ones, the same errors for both. Keys and values are the store's: plain JSON values,
at most NIMBUS_STATE_MAX_VALUE_BYTES as JSON; TTLs in seconds, fractions allowed (at least 0.001)."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any


_MAX_SAFE_INTEGER = 2**53 - 1


class StateEntry:
    """A stored value and its version: an opaque string that changes on every write. Unpacks as
    `value, version = entry`."""

    __slots__ = ('value', 'version')

    def __init__(self, value: Any, version: str) -> None:
        self.value = value
        self.version = version

    def __iter__(self) -> Iterator[Any]:
        return iter((self.value, self.version))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StateEntry) and (self.value, self.version) == (other.value, other.version)

    def __repr__(self) -> str:
        return f'StateEntry(value={self.value!r}, version={self.version!r})'


if TYPE_CHECKING:
    from typing import Protocol

    class StatePort(Protocol):
        """What a backend provides, TTLs in milliseconds (supervisor_state.SupervisorStatePort)."""

        async def get(self, key: Any) -> dict[str, Any] | None: ...
        async def set(self, key: Any, value: Any, ttl_ms: int | None) -> str: ...
        async def delete(self, key: Any) -> bool: ...
        async def incr(self, key: Any, by: Any) -> int: ...
        async def compare_and_set(
            self, key: Any, expected_version: Any, value: Any, ttl_ms: int | None
        ) -> dict[str, Any]: ...
        def close(self) -> None: ...


class AsyncFunctionState:
    """ctx.state for async handlers, on a backend."""

    def __init__(self, port: StatePort) -> None:
        self._port = port

    async def get(self, key: str) -> Any:
        """The value, or None when the key is absent or expired."""
        entry = await self.get_with_version(key)
        return None if entry is None else entry.value

    async def get_with_version(self, key: str) -> StateEntry | None:
        """The value and its version, for compare_and_set; None when absent."""
        found = await self._port.get(key)
        return None if found is None else StateEntry(found.get('value'), found.get('version'))

    async def set(self, key: str, value: Any, ttl_seconds: float | None = None) -> str:
        """Writes the value (replacing any expiry) and returns its new version."""
        return await self._port.set(key, value, ttl_ms(key, ttl_seconds))

    async def delete(self, key: str) -> bool:
        """Whether there was a key to delete."""
        return await self._port.delete(key)

    async def incr(self, key: str, by: int = 1) -> int:
        """Adds `by` atomically (a missing key counts as 0) and keeps the expiry."""
        return await self._port.incr(key, by)

    async def compare_and_set(
        self, key: str, expected_version: str | None, value: Any, ttl_seconds: float | None = None
    ) -> bool:
        """Writes only if the key's version still equals `expected_version` (None: only if absent)."""
        result = await self._port.compare_and_set(key, expected_version, value, ttl_ms(key, ttl_seconds))
        return bool(isinstance(result, dict) and result.get('ok'))

    def close(self) -> None:
        self._port.close()


class DisabledFunctionState(AsyncFunctionState):
    """ctx.state for a function without state enabled: every call says so."""

    def __init__(self) -> None:
        pass

    async def get_with_version(self, key: str) -> StateEntry | None:
        raise _not_enabled()

    async def set(self, key: str, value: Any, ttl_seconds: float | None = None) -> str:
        raise _not_enabled()

    async def delete(self, key: str) -> bool:
        raise _not_enabled()

    async def incr(self, key: str, by: int = 1) -> int:
        raise _not_enabled()

    async def compare_and_set(
        self, key: str, expected_version: str | None, value: Any, ttl_seconds: float | None = None
    ) -> bool:
        raise _not_enabled()

    def close(self) -> None:
        pass


class SyncFunctionState:
    """ctx.state for sync handlers: each call runs on the event loop (where the IPC channel lives)
    and the handler's thread waits for it."""

    def __init__(self, state: AsyncFunctionState, loop: asyncio.AbstractEventLoop) -> None:
        self._state = state
        self._loop = loop

    def get(self, key: str) -> Any:
        return self._wait(self._state.get(key))

    def get_with_version(self, key: str) -> StateEntry | None:
        return self._wait(self._state.get_with_version(key))

    def set(self, key: str, value: Any, ttl_seconds: float | None = None) -> str:
        return self._wait(self._state.set(key, value, ttl_seconds))

    def delete(self, key: str) -> bool:
        return self._wait(self._state.delete(key))

    def incr(self, key: str, by: int = 1) -> int:
        return self._wait(self._state.incr(key, by))

    def compare_and_set(
        self, key: str, expected_version: str | None, value: Any, ttl_seconds: float | None = None
    ) -> bool:
        return self._wait(self._state.compare_and_set(key, expected_version, value, ttl_seconds))

    def _wait(self, call: Any) -> Any:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            call.close()
            # Waiting here would block the loop that has to answer.
            raise RuntimeError(
                'the sync ctx.state was called on the event loop; an async handler has an async ctx.state'
            )
        return asyncio.run_coroutine_threadsafe(call, self._loop).result()


def ttl_ms(key: Any, ttl_seconds: Any) -> int | None:
    """ttl_seconds as the port's milliseconds; refuses what is not a positive number of seconds."""
    if ttl_seconds is None:
        return None
    millis = None
    number = isinstance(ttl_seconds, (int, float)) and not isinstance(ttl_seconds, bool)
    if number and math.isfinite(ttl_seconds):
        if abs(ttl_seconds) < 1e15:
            # Half up, as Math.round in runtime-node; round() would go to even.
            millis = math.floor(ttl_seconds * 1000 + 0.5)
    if millis is None or not 1 <= millis <= _MAX_SAFE_INTEGER:
        from .state_errors import InvalidStateValueError

        raise InvalidStateValueError(
            f'state key {json.dumps(key) if isinstance(key, str) else repr(key)}: ttl_seconds must be'
            f' a positive number of seconds (at least 0.001), got {ttl_seconds!r}'
        )
    return millis


def _not_enabled() -> Exception:
    # The errors module is imported when one is raised: a replica without state never needs it.
    from .state_errors import StateNotEnabledError

    return StateNotEnabledError()
