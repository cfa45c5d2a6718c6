"""Whatever a handler returned, as a response (runtime-node's invoke/response-mapping.ts). A dict
with a numeric `statusCode` is an explicit response; any other value is the body of a 200 (204 for
None): str as text, bytes as octet-stream, anything else as compact JSON. Raises an
InvalidResultError (500) when the value cannot be sent as asked."""

from __future__ import annotations

import json
import re
from typing import Any

from ..http.http_errors import InvalidResultError
from ..json_text import to_json

TEXT_TYPE = 'text/plain; charset=utf-8'
BYTES_TYPE = 'application/octet-stream'
JSON_TYPE = 'application/json'

# node:http's validateHeaderName and validateHeaderValue.
# Patterns rather than compiled regexes: most handlers set no headers, and re caches them on first use.
_TOKEN = r"[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+\Z"
_INVALID_VALUE_CHAR = r'[^\t\x20-\x7e\x80-\xff]'

_BYTES = (bytes, bytearray, memoryview)


class ResponseSpec:
    """A response ready to write: lower-cased header names, the body as bytes or none."""

    __slots__ = ('status_code', 'headers', 'body')

    def __init__(self, status_code: int, headers: dict[str, str | list[str]], body: bytes | None) -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body


# Shared by every plain 200; never changed downstream.
_CONTENT_TYPE_HEADERS = {kind: {'content-type': kind} for kind in (TEXT_TYPE, BYTES_TYPE, JSON_TYPE)}
NO_CONTENT = ResponseSpec(204, {}, None)


def map_handler_result(value: Any) -> ResponseSpec:
    if isinstance(value, dict) and _is_status_code(value.get('statusCode')):
        return _explicit_response(value)
    if value is None:
        return NO_CONTENT
    content_type, body = encode_body(value)
    return ResponseSpec(200, _CONTENT_TYPE_HEADERS[content_type], body)


def _is_status_code(value: Any) -> bool:
    # JavaScript's `typeof value === 'number'`: a bool is not one here either.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _explicit_response(value: dict[str, Any]) -> ResponseSpec:
    status_code = value['statusCode']
    # 1xx codes are interim responses: sent as the final one, they leave the client hanging.
    if not (isinstance(status_code, int) or status_code.is_integer()) or not 200 <= status_code <= 599:
        raise InvalidResultError(
            f'handler returned an invalid statusCode {_number(status_code)};'
            ' it must be an integer from 200 to 599'
        )
    status_code = int(status_code)
    headers = _normalize_headers(value.get('headers'))
    body = value.get('body')
    if body is None:
        return ResponseSpec(status_code, headers, None)
    content_type, encoded = encode_body(body)
    if 'content-type' not in headers:
        headers['content-type'] = content_type
    return ResponseSpec(status_code, headers, encoded)


def encode_body(body: Any) -> tuple[str, bytes]:
    if isinstance(body, str):
        return TEXT_TYPE, body.encode('utf-8', 'replace')
    if isinstance(body, _BYTES):
        return BYTES_TYPE, bytes(body)
    try:
        return JSON_TYPE, to_json(body).encode('utf-8', 'replace')
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidResultError(f'handler returned a body that cannot be sent as JSON: {error}') from error


def _normalize_headers(headers: Any) -> dict[str, str | list[str]]:
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise InvalidResultError('handler returned headers that are not an object of name → value')
    result: dict[str, str | list[str]] = {}
    for raw_name, raw_value in headers.items():
        if raw_value is None:
            continue
        name = str(raw_name).lower()
        value: str | list[str] = (
            [_text(item) for item in raw_value] if isinstance(raw_value, (list, tuple)) else _text(raw_value)
        )
        if not re.match(_TOKEN, name):
            raise _invalid_header(raw_name, f'Header name must be a valid HTTP token ["{name}"]')
        for item in value if isinstance(value, list) else (value,):
            if re.search(_INVALID_VALUE_CHAR, item):
                raise _invalid_header(raw_name, f'Invalid character in header content ["{name}"]')
        result[name] = value
    return result


def _invalid_header(raw_name: Any, reason: str) -> InvalidResultError:
    # node:http's own words for the problem, after runtime-node's.
    return InvalidResultError(f'handler returned an invalid header {json.dumps(str(raw_name))}: {reason}')


def _text(value: Any) -> str:
    """String(value) as JavaScript spells it, for the values a handler is likely to put in a header."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: float | int) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
