"""What every settings module of the runtime shares: the error that names a key, read-only settings
objects, and readers of one env key each (runtime-node's config.ts helpers). An empty value
counts as unset, so templated manifests can leave a key blank."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class ConfigError(Exception):
    """A setting that cannot be used; the message names the key and what it accepts."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class Settings:
    """Read-only once made, as runtime-node freezes its config. Plain slotted classes rather than
    NamedTuples: a replica's cold start pays for every class it defines."""

    __slots__ = ()

    def __init__(self, **values: Any) -> None:
        for name in self.__slots__:
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f'{type(self).__name__} is read-only')

    def __eq__(self, other: object) -> bool:
        same = type(other) is type(self)
        return same and all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __repr__(self) -> str:
        fields = ', '.join(f'{name}={getattr(self, name)!r}' for name in self.__slots__)
        return f'{type(self).__name__}({fields})'


def read(env: Mapping[str, str], key: str) -> str | None:
    value = env.get(key)
    if value is None:
        return None
    value = value.strip()
    return value or None


def text(env: Mapping[str, str], key: str, fallback: str) -> str:
    return read(env, key) or fallback


def quote(raw: str | None) -> str:
    """JSON.stringify's spelling of a value, so messages read as runtime-node's do."""
    return json.dumps(raw, ensure_ascii=False)


def integer(env: Mapping[str, str], key: str, fallback: int, low: int, high: int) -> int:
    raw = read(env, key)
    if raw is None:
        return fallback
    # The length bound keeps int() away from absurdly long digit strings.
    if not (raw.isascii() and raw.isdigit() and len(raw.lstrip('0')) <= 16) or not low <= int(raw) <= high:
        raise ConfigError(key, f'{key} must be an integer from {low} to {high}, got {quote(raw)}')
    return int(raw)


def boolean(env: Mapping[str, str], key: str, fallback: bool) -> bool:
    raw = read(env, key)
    if raw is None:
        return fallback
    if raw.lower() in ('true', '1'):
        return True
    if raw.lower() in ('false', '0'):
        return False
    raise ConfigError(key, f'{key} must be true or false, got {quote(env.get(key))}')


def one_of(env: Mapping[str, str], key: str, allowed: tuple[str, ...], fallback: str) -> str:
    raw = read(env, key)
    if raw is None:
        return fallback
    if raw.lower() not in allowed:
        raise ConfigError(key, f'{key} must be one of {", ".join(allowed)}, got {quote(raw)}')
    return raw.lower()
