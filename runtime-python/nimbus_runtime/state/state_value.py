"""A value as the store will take it (runtime-node's state-value.ts and @nimbus/store's jsonProblem):
plain JSON that comes back as it went in, no larger than the limit. Checked before anything is
sent; the supervisor checks again, and its check is the one that counts."""

from __future__ import annotations

import json
import math
from typing import Any

from .state_errors import InvalidStateValueError, StateValueTooLargeError

_MAX_DEPTH = 100
# JavaScript numbers hold integers exactly only up to 2**53 - 1; the supervisor is JavaScript.
_MAX_SAFE_INTEGER = 2**53 - 1


def check_state_value(key: Any, value: Any, max_value_bytes: int) -> None:
    problem = json_problem(value)
    if problem is not None:
        raise InvalidStateValueError(f'state key {_quote(key)}: the value must be plain JSON: {problem}')
    size = len(json.dumps(value, ensure_ascii=False, separators=(',', ':')).encode('utf-8'))
    if size > max_value_bytes:
        raise StateValueTooLargeError(
            f'state key {_quote(key)}: the value is {size} bytes as JSON,'
            f' over the limit of {max_value_bytes} bytes',
            max_value_bytes,
        )


def json_problem(value: Any, path: str = '$', depth: int = 0, seen: set[int] | None = None) -> str | None:
    """Why `value` is not plain JSON, or None when it is. A tuple, a datetime, a float NaN or an int
    key would come back different from what was stored, so they are refused rather than converted."""
    if value is None or isinstance(value, (bool, str)):
        return None
    if isinstance(value, int):
        if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
            return None
        return f'{path} is an integer outside ±(2**53 - 1)'
    if isinstance(value, float):
        return None if math.isfinite(value) else f'{path} is {value}, not a finite number'
    if not isinstance(value, (list, dict)):
        return f'{path} is a {type(value).__name__}, not JSON'
    if depth >= _MAX_DEPTH:
        return f'{path} is nested more than {_MAX_DEPTH} levels deep'
    seen = seen if seen is not None else set()
    if id(value) in seen:
        return f'{path} refers back to itself'
    seen.add(id(value))
    try:
        if isinstance(value, list):
            for index, item in enumerate(value):
                problem = json_problem(item, f'{path}[{index}]', depth + 1, seen)
                if problem is not None:
                    return problem
            return None
        for name, item in value.items():
            if not isinstance(name, str):
                return f'{path} has a key of type {type(name).__name__}; JSON keys are strings'
            problem = json_problem(item, f'{path}.{name}', depth + 1, seen)
            if problem is not None:
                return problem
        return None
    finally:
        seen.discard(id(value))


def _quote(key: Any) -> str:
    return json.dumps(key, ensure_ascii=False) if isinstance(key, str) else repr(key)
