"""The CloudEvent a request carries, per the CloudEvents HTTP binding (runtime-node's
invoke/cloud-event.ts): structured mode when the content type is application/cloudevents+json (the
body is the envelope), binary mode when any required `ce-*` header is present (attributes in
headers, the body is `data`). None for an ordinary request; a 400 for a CloudEvent missing a
required attribute."""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from typing import Any

from ..http.http_errors import BadRequestError
from .request_body import media_type

REQUIRED_ATTRIBUTES = ('specversion', 'id', 'source', 'type')
STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json'

_REQUIRED_HEADERS = tuple(f'ce-{name}' for name in REQUIRED_ATTRIBUTES)
_BASE64 = re.compile(r'[A-Za-z0-9+/]*={0,2}\Z')
_WHITESPACE = re.compile(r'\s+')


def read_cloud_event(headers: dict[str, Any], body: Any) -> dict[str, Any] | None:
    content_type = _header_value(headers.get('content-type'))
    if media_type(content_type) == STRUCTURED_CONTENT_TYPE:
        return _structured(body)
    if any(name in headers for name in _REQUIRED_HEADERS):
        return _binary(headers, body, content_type)
    return None


def _structured(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequestError('a structured CloudEvent must be a JSON object')
    _require_attributes(body, lambda name: f'"{name}"')
    if 'data_base64' not in body:
        return dict(body)
    if 'data' in body:
        raise BadRequestError('a CloudEvent must not carry both "data" and "data_base64"')
    event = {name: value for name, value in body.items() if name != 'data_base64'}
    encoded = body['data_base64']
    compact = _WHITESPACE.sub('', encoded) if isinstance(encoded, str) else None
    if compact is None or len(compact) % 4 != 0 or not _BASE64.match(compact):
        raise BadRequestError('CloudEvent attribute "data_base64" must be a base64 string')
    event['data'] = binascii.a2b_base64(compact)
    return event


def _binary(headers: dict[str, Any], body: Any, content_type: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for name, value in headers.items():
        if name.startswith('ce-') and len(name) > 3:
            attributes[name[3:]] = _percent_decode(_header_value(value) or '')
    _require_attributes(attributes, lambda name: f'"{name}" (header ce-{name})')
    if content_type is not None:
        attributes['datacontenttype'] = content_type
    if body is not None:
        attributes['data'] = body
    return attributes


def _require_attributes(attributes: dict[str, Any], describe: Callable[[str], str]) -> None:
    for name in REQUIRED_ATTRIBUTES:
        value = attributes.get(name)
        if not isinstance(value, str) or value == '':
            raise BadRequestError(
                f'CloudEvent is missing required attribute {describe(name)}', {'attribute': name}
            )


def _header_value(value: str | list[str] | None) -> str | None:
    return ', '.join(value) if isinstance(value, list) else value


def _percent_decode(value: str) -> str:
    """Binary-mode header values are percent-encoded (CloudEvents HTTP binding §3.1.3.2); one that
    does not decode (as decodeURIComponent would refuse it) is kept as it came."""
    from ..http.internal_path import decode_uri_component

    try:
        return decode_uri_component(value)
    except ValueError:
        return value
