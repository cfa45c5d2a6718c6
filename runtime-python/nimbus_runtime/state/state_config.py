"""Where ctx.state keeps its keys, from the environment (runtime-node's state/state-config.ts):
nowhere (`none`), the gateway's state service (`service`, in a cluster: the function holds a token,
never Redis credentials) or the local-mode supervisor over IPC (`supervisor`)."""

from __future__ import annotations

from collections.abc import Mapping

from ..env_settings import ConfigError, ServiceSettings, integer, quote, read, service_access

STATE_BACKENDS = ('none', 'service', 'supervisor')
DEFAULT_STATE_TIMEOUT_MS = 1_000
DEFAULT_STATE_MAX_VALUE_BYTES = 64 * 1024

_SERVICE_ONLY = ('NIMBUS_STATE_URL', 'NIMBUS_STATE_TOKEN', 'NIMBUS_STATE_TOKEN_FILE')

#: The keys load_state_settings reads (function settings too: a pool replica drops its own).
STATE_SETTINGS = (
    'NIMBUS_STATE_BACKEND',
    'NIMBUS_STATE_URL',
    'NIMBUS_STATE_TOKEN',
    'NIMBUS_STATE_TOKEN_FILE',
    'NIMBUS_STATE_TIMEOUT_MS',
    'NIMBUS_STATE_MAX_VALUE_BYTES',
)


class StateSettings(ServiceSettings):
    """Where ctx.state keeps its keys: nowhere (`none`), the gateway's state service (`service`, in
    a cluster) or the local-mode supervisor over IPC (`supervisor`)."""

    __slots__ = ('backend', 'timeout_ms', 'max_value_bytes')
    backend: str
    #: A call without an answer by then fails as unavailable.
    timeout_ms: int
    #: Checked before a value is sent, so one too large costs no upload; the store checks again.
    max_value_bytes: int


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
    url, token, token_file = service_access(env, 'NIMBUS_STATE', url, 'the state service')
    return StateSettings(
        backend='service',
        timeout_ms=timeout_ms,
        max_value_bytes=max_value_bytes,
        url=url,
        token=token,
        token_file=token_file,
    )
