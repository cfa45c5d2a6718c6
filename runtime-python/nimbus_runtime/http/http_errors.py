"""Every error the runtime answers with, and the one place that turns an error into an HTTP status
and a JSON body `{"error": "...", ...}` (runtime-node's http/http-errors.ts)."""

from __future__ import annotations

from typing import Any

from ..log import error_message


class ErrorResponse:
    __slots__ = ('status_code', 'headers', 'body')

    def __init__(self, status_code: int, headers: dict[str, str], body: dict[str, Any]) -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body


class HttpError(Exception):
    """An error with a status of its own and extra body fields."""

    status_code = 500

    def __init__(self, status_code: int, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.details = details or {}

    @property
    def headers(self) -> dict[str, str]:
        """Headers beyond content-type, e.g. Retry-After."""
        return {}


class BadRequestError(HttpError):
    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(400, message, details)


class PayloadTooLargeError(HttpError):
    def __init__(self, limit: int) -> None:
        message = f'request body exceeds the limit of {limit} bytes (NIMBUS_MAX_BODY_BYTES)'
        super().__init__(413, message, {'limit': limit})


class QueueFullError(HttpError):
    def __init__(self) -> None:
        super().__init__(429, 'too many concurrent requests for this replica; retry later')

    @property
    def headers(self) -> dict[str, str]:
        return {'retry-after': '1'}


class HandlerUnavailableError(HttpError):
    """The handler failed to load; every invocation gets 503 with the reason until the replica is replaced."""

    def __init__(self, reason: str) -> None:
        super().__init__(503, f'function is not available: {reason}', {'reason': reason})
        self.reason = reason


NOT_SPECIALISED = 'generic pool replica: not specialised'


class NotSpecialisedError(HttpError):
    """A generic pool replica has no function yet; the caller should not have routed here."""

    def __init__(self) -> None:
        super().__init__(503, NOT_SPECIALISED, {'code': 'NotSpecialised'})


class UnauthorizedError(HttpError):
    """`POST /_/specialise` without the Bearer token NIMBUS_POOL_TOKEN_FILE holds."""

    def __init__(self, message: str) -> None:
        super().__init__(401, message)

    @property
    def headers(self) -> dict[str, str]:
        return {'www-authenticate': 'Bearer'}


class ForbiddenError(HttpError):
    def __init__(self, message: str) -> None:
        super().__init__(403, message)


class MethodNotAllowedError(HttpError):
    def __init__(self, allow: str) -> None:
        super().__init__(405, f'method not allowed; use {allow}')
        self._allow = allow

    @property
    def headers(self) -> dict[str, str]:
        return {'allow': self._allow}


class ConflictError(HttpError):
    """A request that contradicts the replica's state, e.g. a second specialise."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)


class FunctionTimeoutError(HttpError):
    def __init__(self, timeout_ms: int) -> None:
        super().__init__(504, f'function timed out after {timeout_ms}ms')


class InvalidResultError(HttpError):
    """The handler's return value cannot be turned into a response."""

    def __init__(self, message: str) -> None:
        super().__init__(500, message)


class ClientDisconnectedError(Exception):
    def __init__(self) -> None:
        super().__init__('client disconnected before the response was sent')


# The generic answers with `detail: none`; the log line under the same invocation id has the rest.
HIDDEN_FAILURE = 'the function failed; its log has the error under this invocationId'
HIDDEN_LOAD_FAILURE = (
    "the function is not available: its handler failed to load; the replica's log has the reason"
)


def error_response(
    error: BaseException, invocation_id: str | None, debug: bool, detail: str = 'full'
) -> ErrorResponse:
    """The JSON error response for anything raised while serving an invocation. Exceptions that are
    not HttpErrors come from handler code, and so does a load failure's reason: their text may hold
    anything the code had at hand, so with `detail: none` the caller gets a generic message and the
    invocation id to find the log line by. The runtime's own refusals say only what the caller sent
    or how long it took, and stay as they are. `debug` adds the traceback to a `full` answer."""
    id_field = {} if invocation_id is None else {'invocationId': invocation_id}
    hide = detail == 'none'
    if isinstance(error, HandlerUnavailableError) and hide:
        body = {'error': HIDDEN_LOAD_FAILURE, 'code': 'HandlerUnavailable', **id_field}
        return ErrorResponse(error.status_code, error.headers, body)
    if isinstance(error, HttpError) and not (isinstance(error, InvalidResultError) and hide):
        body = {'error': error.message, **error.details, **id_field}
        return ErrorResponse(error.status_code, error.headers, body)
    if hide:
        return ErrorResponse(500, {}, {'error': HIDDEN_FAILURE, 'code': 'FunctionError', **id_field})
    body = {'error': error_message(error), **id_field}
    if debug:
        import traceback

        body['stack'] = ''.join(traceback.format_exception(type(error), error, error.__traceback__))
    return ErrorResponse(500, {}, body)
