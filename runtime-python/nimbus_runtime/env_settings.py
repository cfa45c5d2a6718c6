"""What every settings module of the runtime shares: the error that names a key, read-only settings
objects (a gateway service's among them, whose token is never printed), and readers of one env
key each (runtime-node's config.ts helpers). An empty value counts as unset, so templated
manifests can leave a key blank."""

from __future__ import annotations

import json
import re
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
    #: The slots of the class and of its bases, its own first; set once per class.
    _fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._fields = tuple(name for klass in cls.__mro__ for name in klass.__dict__.get('__slots__', ()))

    def __init__(self, **values: Any) -> None:
        for name in self._fields:
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f'{type(self).__name__} is read-only')

    def __eq__(self, other: object) -> bool:
        same = type(other) is type(self)
        return same and all(getattr(self, name) == getattr(other, name) for name in self._fields)

    def __repr__(self) -> str:
        fields = ', '.join(f'{name}={self._shown(name)}' for name in self._fields)
        return f'{type(self).__name__}({fields})'

    def _shown(self, name: str) -> str:
        return repr(getattr(self, name))


class ServiceSettings(Settings):
    """Settings of a gateway service the function calls with its own token (ctx.state's state
    service, ctx.publish's events endpoint). `url`, `token` and `token_file` are the service's,
    None for the other backends."""

    __slots__ = ('url', 'token', 'token_file')
    #: `http(s)://host:port` of the gateway's service, without a trailing slash.
    url: str | None
    #: The function's token, given directly (tests) or read from a file (a mounted Secret).
    token: str | None
    token_file: str | None

    def _shown(self, name: str) -> str:
        # A config that is logged or printed must not carry the token along.
        if name == 'token' and self.token is not None:
            return '<hidden>'
        return super()._shown(name)



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


_SERVICE_URL = r'https?://[^\s/@]+/?\Z'


def service_access(
    env: Mapping[str, str], prefix: str, url: str, service: str
) -> tuple[str, str | None, str | None]:
    """A gateway service's URL, checked and without its trailing slash, then the function's token
    or the file that holds it: `url` is `{prefix}_URL`'s value, the token `{prefix}_TOKEN` or
    `{prefix}_TOKEN_FILE`, exactly one of them. `service` names the service in an error."""
    if not re.match(_SERVICE_URL, url):
        raise ConfigError(
            f'{prefix}_URL',
            f'{prefix}_URL must be an http:// or https:// base URL such as'
            ' http://nimbus-gateway-state.nimbus.svc:8081',
        )
    token = read(env, f'{prefix}_TOKEN')
    token_file = read(env, f'{prefix}_TOKEN_FILE')
    if token is not None and token_file is not None:
        raise ConfigError(f'{prefix}_TOKEN_FILE', f'set {prefix}_TOKEN or {prefix}_TOKEN_FILE, not both')
    if token is None and token_file is None:
        raise ConfigError(f'{prefix}_TOKEN_FILE', f'{service} needs {prefix}_TOKEN_FILE or {prefix}_TOKEN')
    return url.removesuffix('/'), token, token_file
