"""Where ctx.state keeps its keys, from the environment (runtime-node's state/state-config.ts):
nowhere (`none`), the gateway's state service (`service`, in a cluster: the function holds a token,
never Redis credentials) or the local-mode supervisor over IPC (`supervisor`)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..env_settings import ConfigError, Settings, integer, quote, read

STATE_BACKENDS = ('none', 'service', 'supervisor')
DEFAULT_STATE_TIMEOUT_MS = 1_000
DEFAULT_STATE_MAX_VALUE_BYTES = 64 * 1024

_SERVICE_ONLY = ('NIMBUS_STATE_URL', 'NIMBUS_STATE_TOKEN', 'NIMBUS_STATE_TOKEN_FILE')
_STATE_URL = r'https?://[^\s/@]+/?\Z'

#: The keys load_state_settings reads (function settings too: a pool replica drops its own).
STATE_SETTINGS = (
    'NIMBUS_STATE_BACKEND',
    'NIMBUS_STATE_URL',
    'NIMBUS_STATE_TOKEN',
    'NIMBUS_STATE_TOKEN_FILE',
    'NIMBUS_STATE_TIMEOUT_MS',
    'NIMBUS_STATE_MAX_VALUE_BYTES',
)


class StateSettings(Settings):
    """Where ctx.state keeps its keys: nowhere (`none`), the gateway's state service (`service`, in
    a cluster) or the local-mode supervisor over IPC (`supervisor`). `url`, `token` and `token_file`
    are the service's, None for the others."""

    __slots__ = ('backend', 'timeout_ms', 'max_value_bytes', 'url', 'token', 'token_file')
    backend: str
    #: A call without an answer by then fails as unavailable.
    timeout_ms: int
    #: Checked before a value is sent, so one too large costs no upload; the store checks again.
    max_value_bytes: int
    #: `http(s)://host:port` of the gateway's state service, without a trailing slash.
    url: str | None
    #: The function's token, given directly (tests) or read from a file (a mounted Secret).
    token: str | None
    token_file: str | None

    def __repr__(self) -> str:
        # A config that is logged or printed must not carry the token along.
        shown = '<hidden>' if self.token is not None else None
        return (
            f'StateSettings(backend={self.backend!r}, timeout_ms={self.timeout_ms!r}, max_value_bytes='
            f'{self.max_value_bytes!r}, url={self.url!r}, token={shown}, token_file={self.token_file!r})'
        )


def load_state_settings(env: Mapping[str, str]) -> StateSettings:
    """NIMBUS_STATE_BACKEND defaults to `service` when NIMBUS_STATE_URL is set, else `none`. Tokens
    are never echoed in an error."""
    url = read(env, 'NIMBUS_STATE_URL')
    raw = read(env, 'NIMBUS_STATE_BACKEND')
    raw = raw.lower() if raw is not None else None
    backend = raw if raw is not None else ('none' if url is None else 'service')
    if backend not in STATE_BACKENDS:
        why = (
            ' (functions no longer connect to Redis: their state goes through the gateway)'
            if raw == 'redis'
            else ''
        )
        raise ConfigError(
            'NIMBUS_STATE_BACKEND',
            f'NIMBUS_STATE_BACKEND must be one of {", ".join(STATE_BACKENDS)}, got {quote(raw)}{why}',
        )
    timeout_ms = integer(env, 'NIMBUS_STATE_TIMEOUT_MS', DEFAULT_STATE_TIMEOUT_MS, 10, 60_000)
    # Checked whatever the backend, so a bad value is caught before it matters.
    max_value_bytes = integer(
        env, 'NIMBUS_STATE_MAX_VALUE_BYTES', DEFAULT_STATE_MAX_VALUE_BYTES, 1, 16 * 1024 * 1024
    )
    if backend != 'service':
        for key in _SERVICE_ONLY:
            if read(env, key) is not None:
                message = f'{key} is set, but NIMBUS_STATE_BACKEND is {backend}; it needs service'
                raise ConfigError(key, message)
        return StateSettings(
            backend=backend,
            timeout_ms=timeout_ms,
            max_value_bytes=max_value_bytes,
            url=None,
            token=None,
            token_file=None,
        )
    if url is None:
        raise ConfigError(
            'NIMBUS_STATE_URL', 'NIMBUS_STATE_URL must be set when NIMBUS_STATE_BACKEND is service'
        )
    if not re.match(_STATE_URL, url):
        raise ConfigError(
            'NIMBUS_STATE_URL',
            'NIMBUS_STATE_URL must be an http:// or https:// base URL such as'
            ' http://nimbus-gateway-state.nimbus.svc:8081',
        )
    token = read(env, 'NIMBUS_STATE_TOKEN')
    token_file = read(env, 'NIMBUS_STATE_TOKEN_FILE')
    if token is not None and token_file is not None:
        raise ConfigError(
            'NIMBUS_STATE_TOKEN_FILE', 'set NIMBUS_STATE_TOKEN or NIMBUS_STATE_TOKEN_FILE, not both'
        )
    if token is None and token_file is None:
        raise ConfigError(
            'NIMBUS_STATE_TOKEN_FILE', 'the state service needs NIMBUS_STATE_TOKEN_FILE or NIMBUS_STATE_TOKEN'
        )
    return StateSettings(
        backend='service',
        timeout_ms=timeout_ms,
        max_value_bytes=max_value_bytes,
        url=url.removesuffix('/'),
        token=token,
        token_file=token_file,
    )
