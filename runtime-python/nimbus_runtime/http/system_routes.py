"""The runtime's own endpoints under /_/ (runtime-node's http/system-routes.ts): /_/health,
/_/ready and /_/metrics, answered only at their literal paths. /_/specialise belongs to a pool
replica (pool/specialise_endpoint.py); in a replica started for its function it is a 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..metrics.metrics import EXPOSITION_CONTENT_TYPE
from .response_writer import json_response_bytes, response_bytes

if TYPE_CHECKING:
    from .connection import HttpConnection
    from .request_head import RequestHead

#: Where a pool replica takes on a function over HTTP (POST).
SPECIALISE_PATH = '/_/specialise'
_READ_ONLY_PATHS = frozenset(('/_/health', '/_/ready', '/_/metrics'))
#: Every internal route, as counted in nimbus_runtime_system_requests_total.
SYSTEM_ROUTES = _READ_ONLY_PATHS | {SPECIALISE_PATH}


class SystemReply:
    __slots__ = ('status_code', 'body', 'kind', 'headers')

    def __init__(
        self, status_code: int, body: Any, kind: str = 'json', headers: dict[str, str] | None = None
    ) -> None:
        self.status_code = status_code
        #: A JSON body (kind `json`) or the exposition text (kind `text`).
        self.body = body
        self.kind = kind
        self.headers = headers


def disguised_system_path() -> SystemReply:
    """A path that reads as an internal route only once decoded or normalised: refused, never served."""
    return SystemReply(
        400,
        {
            'error': 'this path reaches /_/ only once decoded or normalised; internal routes answer only'
            ' their literal path',
            'code': 'DisguisedInternalPath',
        },
    )


def system_reply(
    method: str, path: str, report: Callable[[], dict[str, str]], render_metrics: Callable[[], str]
) -> SystemReply:
    if path not in _READ_ONLY_PATHS:
        return not_found(path)
    if method not in ('GET', 'HEAD'):
        return SystemReply(405, {'error': 'method not allowed; use GET'}, headers={'allow': 'GET, HEAD'})
    if path == '/_/health':
        return SystemReply(200, {'status': 'ok'})
    if path == '/_/ready':
        readiness = report()
        return SystemReply(200 if readiness['status'] == 'ready' else 503, readiness)
    return SystemReply(200, render_metrics(), kind='text', headers={'content-type': EXPOSITION_CONTENT_TYPE})


def not_found(path: str) -> SystemReply:
    return SystemReply(404, {'error': f'no runtime endpoint at {path}'})


def write_system_reply(
    connection: HttpConnection, head: RequestHead, reply: SystemReply, close: bool
) -> None:
    """Answers a request for one of the runtime's own routes; `close` asks the client not to reuse
    the connection, as does a request that wants that itself or whose body is left unread."""
    close = close or not head.keep_alive or not connection.request_complete
    head_only = head.method == 'HEAD'
    if reply.kind == 'json':
        data = json_response_bytes(
            reply.status_code,
            reply.body,
            invocation_id=None,
            close=close,
            head_only=head_only,
            headers=reply.headers,
        )
    else:
        data = response_bytes(
            reply.status_code,
            reply.headers or {},
            reply.body.encode('utf-8'),
            invocation_id=None,
            close=close,
            head_only=head_only,
        )
    connection.finish(data, close)
