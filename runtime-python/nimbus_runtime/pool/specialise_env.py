"""The `env` of a specialise command (runtime-node's pool/specialise-env.ts), checked to be what an
environment can hold: names to strings."""

from __future__ import annotations

import json
import re
from typing import Any

# Anything that can be an environment variable: no `=` in the name, no NUL anywhere.
_NAME = re.compile(r'[^=\0]+\Z')


class SpecialiseInputError(Exception):
    """A specialise command's input that cannot be used; `field` names the part, e.g. `env.FOO`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def function_env(value: Any) -> dict[str, str]:
    """A copy of `value` once it is names to strings; raises a SpecialiseInputError naming the part."""
    if not isinstance(value, dict):
        raise SpecialiseInputError('env', 'env must be an object of environment variables (name to string)')
    env: dict[str, str] = {}
    for name, entry in value.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise SpecialiseInputError(
                f'env.{name}',
                'env names must be non-empty, without "=" or NUL, got'
                f' {json.dumps(name, ensure_ascii=False)}',
            )
        if not isinstance(entry, str) or '\0' in entry:
            raise SpecialiseInputError(f'env.{name}', f'env.{name} must be a string without NUL')
        env[name] = entry
    return env
