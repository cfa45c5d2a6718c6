"""The handler's `event` (runtime-node's invoke/event.ts): method, path, query, params, headers,
body, raw_body, cloud_event and auth, built from one request."""

from __future__ import annotations

import json
import re
from typing import Any

from .request_body import parse_body

Headers = dict[str, 'str | list[str]']
Query = dict[str, 'str | list[str]']

# Binary mode is recognised by any of these (CloudEvents 1.0's required attributes, as headers).
_CLOUD_EVENT_HEADERS = ('ce-specversion', 'ce-id', 'ce-source', 'ce-type')
_ESCAPES = r'(?:%[0-9A-Fa-f]{2})+'
# The matched route's parameters, as JSON set by the gateway (api/src/gateway-headers.ts), which
# drops a caller's own copy; the handler reads them as `params`, never as a header.
_PARAMS_HEADER = 'x-nimbus-params'
# The verified token claims the gateway sends (api/src/gateway-headers.ts AUTH_CLAIMS_HEADER).
_AUTH_CLAIMS_HEADER = 'x-nimbus-auth'


class Event:
    """What the handler is called with. `headers` has lower-cased names; `query` turns repeated keys
    into lists; `params` holds the route's parameters (strings; empty for /function/{name});
    `body` is parsed JSON for JSON and +json types, a str for text and forms, bytes
    otherwise, None without a body; `cloud_event` is a dict of the CloudEvent's attributes and
    `data` (bytes for `data_base64`), or None for an ordinary request; `auth` is the dict of claims
    of the token the gateway verified (`spec.http.auth: jwt`), or None."""

    __slots__ = ('method', 'path', 'query', 'headers', 'body', 'raw_body', 'cloud_event', 'params', 'auth')

    def __init__(
        self,
        method: str,
        path: str,
        query: Query,
        headers: Headers,
        body: Any,
        raw_body: bytes,
        cloud_event: Any,
        params: dict[str, str] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.raw_body = raw_body
        self.cloud_event = cloud_event
        self.params = params if params is not None else {}
        self.auth = auth

    def __repr__(self) -> str:
        return f'<event {self.method} {self.path}>'


def build_event(method: str, target: str, headers: Headers, raw_body: bytes) -> Event:
    """Raises a 400 for a body or CloudEvent that does not parse."""
    params = _read_params(headers.pop(_PARAMS_HEADER, None))
    auth = _claims_of(headers)
    path, mark, search = target.partition('?')
    query = parse_query(search) if mark else {}
    body = parse_body(raw_body, _first(headers.get('content-type')))
    cloud_event = None
    if 'cloudevents' in str(headers.get('content-type', '')).lower() or any(
        name in headers for name in _CLOUD_EVENT_HEADERS
    ):
        from .cloud_event import read_cloud_event

        cloud_event = read_cloud_event(headers, body)
    return Event(method, path, query, headers, body, raw_body, cloud_event, params, auth)


def _read_params(value: str | list[str] | None) -> dict[str, str]:
    """The gateway's JSON object of strings; anything else (no route, a malformed value) is none."""
    if not isinstance(value, str):
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {k: v for k, v in parsed.items() if isinstance(k, str) and isinstance(v, str)}


def _claims_of(headers: Headers) -> dict[str, Any] | None:
    """The gateway's verified claims, taken out of `headers`; None when absent or not a JSON object."""
    raw = headers.pop(_AUTH_CLAIMS_HEADER, None)
    if not isinstance(raw, str):
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def parse_query(search: str) -> Query:
    """As URLSearchParams reads a query: `&`-separated pairs, `+` for a space, percent-escapes
    decoded as UTF-8 (U+FFFD for bad bytes), a leading `?` dropped; repeated keys become lists, in
    order of appearance."""
    if search.startswith('?'):
        search = search[1:]
    query: dict[str, Any] = {}
    for pair in search.split('&'):
        if not pair:
            continue
        key, _, value = pair.partition('=')
        if '%' in pair or '+' in pair:
            key, value = _decode(key), _decode(value)
        existing = query.get(key)
        if existing is None:
            query[key] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            query[key] = [existing, value]
    return query


def _decode(text: str) -> str:
    text = text.replace('+', ' ')
    if '%' not in text:
        return text
    return re.sub(_ESCAPES, _decode_escapes, text)


def _decode_escapes(run: re.Match[str]) -> str:
    return bytes.fromhex(run.group().replace('%', '')).decode('utf-8', 'replace')


def _first(value: str | list[str] | None) -> str | None:
    return value[0] if isinstance(value, list) else value
