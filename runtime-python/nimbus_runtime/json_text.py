"""JSON as runtime-node writes it with JSON.stringify: compact, non-ASCII characters as they are,
and NaN or an infinity as null (Python's json would write NaN, which is not JSON)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any


def to_json(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """Raises TypeError for what JSON cannot hold (unless `default` turns it into something that can)."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(',', ':'), allow_nan=False, default=default)
    except ValueError as error:
        if 'Out of range float' not in str(error):
            raise
        return json.dumps(
            _finite(value), ensure_ascii=False, separators=(',', ':'), allow_nan=False, default=default
        )


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
