"""The invocation id: the caller's `x-call-id` when it is safe to echo into headers and logs, else a
fresh UUID (runtime-node's invoke/invocation-id.ts and random-uuid.ts)."""

from __future__ import annotations

import os
import re
from typing import Any

CALL_ID_HEADER = 'x-call-id'

_SANE_CALL_ID = r'[A-Za-z0-9._-]{1,128}\Z'


def invocation_id_for(headers: dict[str, Any]) -> str:
    given = headers.get(CALL_ID_HEADER)
    return given if isinstance(given, str) and re.match(_SANE_CALL_ID, given) else random_uuid()


def random_uuid() -> str:
    """An RFC 4122 version-4 UUID from the kernel's CSPRNG, without importing uuid (a few ms that
    would land on a cold replica's first call)."""
    digits = bytearray(os.urandom(16))
    digits[6] = (digits[6] & 0x0F) | 0x40
    digits[8] = (digits[8] & 0x3F) | 0x80
    text = digits.hex()
    return f'{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}'
