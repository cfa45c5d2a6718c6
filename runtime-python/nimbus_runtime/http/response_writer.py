"""A response as the bytes to send (runtime-node's http/response-writer.ts plus what node:http adds
to it): the status line, the handler's headers without the framing ones, x-call-id, the length,
Date and the connection's fate; no body for HEAD, 204 or 304. Pure apart from the clock."""

from __future__ import annotations

import json
import time
from typing import Any

from ..json_text import to_json
from .http_errors import ErrorResponse
from .status_text import status_text

CALL_ID_HEADER = 'x-call-id'
#: The invocation's spans, when the gateway asked for them (invoke/invocation_spans.py).
SPANS_RESPONSE_HEADER = 'x-nimbus-spans'
JSON_TYPE = 'application/json'

# Set by the runtime for the body and connection it sends, and the spans it records; a handler's own
# values (say, copied from a ctx.invoke response) would be wrong or unsafe.
_FRAMING_HEADERS = frozenset(
    ('content-length', 'transfer-encoding', 'connection', 'keep-alive', CALL_ID_HEADER, SPANS_RESPONSE_HEADER)
)
# Longer than typical client idle timeouts, so the gateway closes idle connections first and never
# sends a request on a connection this side is closing (node:http's keepAliveTimeout in runtime-node).
KEEP_ALIVE_SECONDS = 65
_KEEP_ALIVE = f'\r\nConnection: keep-alive\r\nKeep-Alive: timeout={KEEP_ALIVE_SECONDS}'

_date_second = -1
_date_text = ''


def http_date() -> str:
    """The Date header's value, made once a second."""
    global _date_second, _date_text
    now = int(time.time())
    if now != _date_second:
        _date_text = time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime(now))
        _date_second = now
    return _date_text


def response_bytes(
    status_code: int,
    headers: dict[str, Any],
    body: bytes | None,
    *,
    invocation_id: str | None,
    close: bool,
    head_only: bool,
    spans: str | None = None,
) -> bytes:
    """`invocation_id` is echoed as x-call-id (the runtime's own /_/ endpoints have none); `close`
    asks the client not to reuse the connection; `head_only` answers HEAD: the GET's headers,
    content-length included, and no body; `spans` are the invocation's, encoded, when the gateway
    asked for them."""
    lines = [f'HTTP/1.1 {status_code} {status_text(status_code)}']
    for name, value in headers.items():
        if name in _FRAMING_HEADERS:
            continue
        if isinstance(value, list):
            lines.extend(f'{name}: {item}' for item in value)
        else:
            lines.append(f'{name}: {value}')
    if invocation_id is not None:
        lines.append(f'{CALL_ID_HEADER}: {invocation_id}')
    if close:
        lines.append('connection: close')
    if spans is not None:
        lines.append(f'{SPANS_RESPONSE_HEADER}: {spans}')
    body_allowed = status_code not in (204, 304)
    if body_allowed:
        lines.append(f'content-length: {len(body) if body else 0}')
    if 'date' not in headers:
        lines.append(f'Date: {http_date()}')
    head = '\r\n'.join(lines)
    if not close:
        head += _KEEP_ALIVE
    data = (head + '\r\n\r\n').encode('latin-1', 'replace')
    return data + body if body and body_allowed and not head_only else data


def json_response_bytes(
    status_code: int,
    body: Any,
    *,
    invocation_id: str | None,
    close: bool,
    head_only: bool,
    headers: dict[str, str] | None = None,
    spans: str | None = None,
) -> bytes:
    encoded = to_json(body).encode('utf-8')
    return response_bytes(
        status_code,
        {**(headers or {}), 'content-type': JSON_TYPE},
        encoded,
        invocation_id=invocation_id,
        close=close,
        head_only=head_only,
        spans=spans,
    )


def error_response_bytes(
    error: ErrorResponse,
    *,
    invocation_id: str | None,
    close: bool,
    head_only: bool,
    spans: str | None = None,
) -> bytes:
    return json_response_bytes(
        error.status_code,
        error.body,
        invocation_id=invocation_id,
        close=close,
        head_only=head_only,
        headers=error.headers,
        spans=spans,
    )


def client_error_bytes(status_code: int, code: str) -> bytes:
    """The raw answer to a request the parser rejected before it became a request, as runtime-node's
    http/client-error.ts writes it: JSON, never node:http's text/plain, and the connection closes."""
    reason = status_text(status_code)
    message = f'{reason.lower()}: the request could not be parsed ({code})'
    body = json.dumps({'error': message}, separators=(',', ':'))
    return (
        f'HTTP/1.1 {status_code} {reason}\r\nContent-Type: application/json\r\n'
        f'Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}'
    ).encode('latin-1')
