"""What ctx.state raises: runtime-node's state errors under the same names, so a handler tells them
apart as a JavaScript one does (`type(error).__name__`, or `except StateUnavailableError`). Each is
an HttpError: one the handler does not catch answers with its status and a JSON body naming the
problem (`code`), never a traceback."""

from __future__ import annotations

from typing import Any

from ..http.http_errors import HttpError


class StateError(HttpError):
    code = 'StateError'

    def __init__(self, status_code: int, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(status_code, message, {'code': self.code, **(details or {})})


class StateUnavailableError(StateError):
    """The store cannot be reached now (the supervisor gone or slow): worth a retry later."""

    code = 'StateUnavailable'

    def __init__(self, message: str) -> None:
        super().__init__(503, message)

    @property
    def headers(self) -> dict[str, str]:
        return {'retry-after': '1'}


class StateValueTooLargeError(StateError):
    code = 'StateValueTooLarge'

    def __init__(self, message: str, limit: int | None = None) -> None:
        super().__init__(413, message, {} if limit is None else {'limit': limit})
        self.limit = limit


class InvalidStateKeyError(StateError):
    code = 'InvalidStateKey'

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class InvalidStateValueError(StateError):
    """Not plain JSON, or an option (ttl_seconds, incr's amount, a version) out of range."""

    code = 'InvalidStateValue'

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class StateQuotaExceededError(StateError):
    """The write would take the function past its state quota; nothing was written."""

    code = 'StateQuotaExceeded'

    def __init__(self, message: str, limit: int | None = None) -> None:
        super().__init__(507, message, {} if limit is None else {'limit': limit})
        self.limit = limit


class StateStoreFullError(StateError):
    code = 'StateStoreFull'

    def __init__(self, message: str) -> None:
        super().__init__(507, message)


class StateNotAnIntegerError(StateError):
    """incr met a stored value that is not a safe integer, or would leave the safe-integer range."""

    code = 'StateNotAnInteger'

    def __init__(self, message: str) -> None:
        super().__init__(409, message)


class StateRefusedError(StateError):
    """The store said no for a reason that is neither availability nor input."""

    code = 'StateRefused'

    def __init__(self, message: str) -> None:
        super().__init__(500, message)


class StateNotEnabledError(StateError):
    code = 'StateNotEnabled'

    def __init__(self) -> None:
        super().__init__(
            500, 'function state is not enabled for this function (set spec.state.enabled: true)'
        )


def to_state_error(info: Any) -> StateError:
    """The StateError for what the supervisor answered (`{name, message, limit?}`), told apart by
    name as runtime-node's toStateError does."""
    name = info.get('name') if isinstance(info, dict) else None
    message = info.get('message') if isinstance(info, dict) else None
    message = message if isinstance(message, str) else str(info)
    limit = info.get('limit') if isinstance(info, dict) else None
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
    if name in ('StateUnavailableError', 'StoreUnavailableError'):
        return StateUnavailableError(message)
    if name == 'StateValueTooLargeError':
        return StateValueTooLargeError(message, limit)
    if name == 'InvalidStateKeyError':
        return InvalidStateKeyError(message)
    if name in ('InvalidStateValueError', 'InvalidStoreInputError'):
        return InvalidStateValueError(message)
    if name == 'StateNotAnIntegerError':
        return StateNotAnIntegerError(message)
    if name == 'StateQuotaExceededError':
        return StateQuotaExceededError(message, limit)
    if name == 'StateStoreFullError':
        return StateStoreFullError(message)
    if name == 'StateNotEnabledError':
        return StateNotEnabledError()
    return StateRefusedError(f'function state failed: {message}')
