"""The handler-facing body of a request (runtime-node's invoke/request-body.ts): parsed JSON for JSON
types, a str for text and forms, the bytes otherwise, None when there are none."""

from __future__ import annotations

import json
import re
from typing import Any

from ..http.http_errors import BadRequestError

_STRUCTURED_JSON = r'[^/]+/[^;]+\+json\Z'


def media_type(content_type: str | None) -> str | None:
    """`application/json; charset=utf-8` → `application/json`."""
    if content_type is None:
        return None
    kind = content_type.split(';', 1)[0].strip().lower()
    return kind or None


def is_json_type(kind: str | None) -> bool:
    """application/json and any structured-syntax `+json` type (application/cloudevents+json, say)."""
    return kind is not None and (kind == 'application/json' or re.match(_STRUCTURED_JSON, kind) is not None)


def is_text_type(kind: str | None) -> bool:
    return kind is not None and (kind.startswith('text/') or kind == 'application/x-www-form-urlencoded')


def parse_body(raw_body: bytes, content_type: str | None) -> Any:
    """Raises a 400 for a JSON type that does not parse."""
    if not raw_body:
        return None
    kind = media_type(content_type)
    if is_json_type(kind):
        try:
            return json.loads(raw_body.decode('utf-8', 'replace'), parse_constant=_refuse_constant)
        except ValueError as error:
            raise BadRequestError(f'request body is not valid JSON: {error}') from error
    if is_text_type(kind):
        return raw_body.decode('utf-8', 'replace')
    return raw_body


def _refuse_constant(name: str) -> Any:
    # Python's json takes NaN and Infinity; JSON (and runtime-node) does not.
    raise ValueError(f'{name} is not valid JSON')
