"""`POST /_/specialise` (runtime-node's pool/specialise-endpoint.ts): with the pool token and
`{"env": {...}, "files": {"main.py": "..."}}` (files optional), 202 accepted, 400 bad settings, 409
already specialised; 401 or 403 without the token, before anything about the replica is said."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from ..http.http_errors import (
    BadRequestError,
    ClientDisconnectedError,
    ConflictError,
    ForbiddenError,
    HttpError,
    MethodNotAllowedError,
    UnauthorizedError,
    error_response,
)
from ..http.system_routes import SystemReply, write_system_reply
from ..log import JsonLogger
from .pool_token import PoolToken
from .specialise_access import specialise_access

if TYPE_CHECKING:
    from typing import Protocol

    from ..http.connection import HttpConnection
    from ..http.request_head import RequestHead

    class Specialiser(Protocol):
        @property
        def refusal(self) -> str | None:
            """Why a specialise would be refused now, or None while it would be accepted."""

        def specialise(self, env: Any, files: Any = ...) -> SpecialiseOutcome: ...


#: Settings, env vars and the code of one inline function (at most 1 MiB), JSON-escaped.
MAX_BODY_BYTES = 3 * 1_048_576

#: `files` left out of a command, told apart from `"files": null` (which is refused).
NO_FILES: Any = object()


class SpecialiseOutcome:
    """How a pool replica answered one specialise command: `accepted`; `invalid` (the settings
    cannot be used, nothing was applied, the replica is still generic; `field` names the part); or
    `refused` (it has taken on a function already, or it is shutting down)."""

    __slots__ = ('kind', 'field', 'reason')

    def __init__(self, kind: str, field: str | None = None, reason: str | None = None) -> None:
        self.kind = kind
        self.field = field
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpecialiseOutcome):
            return NotImplemented
        return (self.kind, self.field, self.reason) == (other.kind, other.field, other.reason)

    def __repr__(self) -> str:
        return f'SpecialiseOutcome({self.kind!r}, field={self.field!r}, reason={self.reason!r})'


ACCEPTED = SpecialiseOutcome('accepted')


class SpecialiseEndpoint:
    def __init__(
        self,
        token: PoolToken | None,
        specialiser: Specialiser,
        logger: JsonLogger,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        #: None: no HTTP caller may specialise (local mode, IPC only).
        self._token = token
        self._specialiser = specialiser
        self._logger = logger
        self._loop = loop
        # asyncio keeps only weak references to tasks: these are the strong ones.
        self._tasks: set[asyncio.Task[None]] = set()

    def serve(self, connection: HttpConnection, head: RequestHead, close: bool) -> None:
        """`close` asks the client not to reuse the connection (the replica is draining)."""
        task = self._loop.create_task(self._serve(connection, head, close))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, connection: HttpConnection, head: RequestHead, close: bool) -> None:
        try:
            await self._accept(connection, head)
        except ClientDisconnectedError:
            return
        except Exception as error:
            if not isinstance(error, HttpError):
                self._logger.error('specialise request failed', error=error)
            answer = error_response(error, None, False)
            reply = SystemReply(answer.status_code, answer.body, headers=answer.headers or None)
        else:
            reply = SystemReply(202, {'status': 'specialising'})
        # A refused request's body may be unread: write_system_reply closes the connection then.
        write_system_reply(connection, head, reply, close)

    async def _accept(self, connection: HttpConnection, head: RequestHead) -> None:
        """Returns once the specialise is accepted; raises the HttpError to answer otherwise."""
        if head.method != 'POST':
            raise MethodNotAllowedError('POST')
        authorization = head.headers.get('authorization')
        access = specialise_access(authorization if isinstance(authorization, str) else None, self._token)
        if not access.allowed:
            self._logger.warn(
                'specialise request refused',
                remoteAddress=connection.remote_address,
                statusCode=access.status_code,
            )
            if access.status_code == 401:
                raise UnauthorizedError(access.reason)
            raise ForbiddenError(access.reason)
        # Checked before the body is read, and again by specialise() for a race with another command.
        refusal = self._specialiser.refusal
        if refusal is not None:
            raise ConflictError(refusal)
        if head.expects_continue and not (head.content_length or 0) > MAX_BODY_BYTES:
            connection.write_continue()
        body = connection.read_body(MAX_BODY_BYTES, head.chunked, head.content_length)
        if isinstance(body, asyncio.Future):
            body = await body
        payload = _parse_json(body)
        outcome = self._specialiser.specialise(payload.get('env'), payload.get('files', NO_FILES))
        if outcome.kind == 'invalid':
            raise BadRequestError(outcome.reason or 'invalid', {'field': outcome.field})
        if outcome.kind == 'refused':
            raise ConflictError(outcome.reason or 'refused')


def _parse_json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode('utf-8', 'replace'), parse_constant=_not_json)
    except ValueError as error:
        raise BadRequestError(
            'the body must be JSON: { "env": { "NAME": "value", ... } }', {'field': 'body'}
        ) from error
    if not isinstance(payload, dict):
        raise BadRequestError('the body must be a JSON object with an "env" object', {'field': 'body'})
    return payload


def _not_json(constant: str) -> Any:
    # NaN and Infinity are Python's extensions; JSON.parse refuses them.
    raise ValueError(f'{constant} is not JSON')
