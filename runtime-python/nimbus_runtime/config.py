"""The runtime's settings, parsed once from an env map at start-up (the keys and defaults of
runtime-node's config.ts). A bad value raises a ConfigError naming the key and what it accepts; an
empty value counts as unset, so templated manifests can leave a key blank."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

LOG_LEVELS = ('debug', 'info', 'warn', 'error')
ERROR_DETAILS = ('full', 'none')
STATE_BACKENDS = ('none', 'supervisor')

MAX_TIMEOUT_MS = 3_600_000
DEFAULT_STATE_TIMEOUT_MS = 1_000
DEFAULT_STATE_MAX_VALUE_BYTES = 64 * 1024

_FUNCTION_NAME = r'[A-Za-z_][A-Za-z0-9_]*\Z'
_GATEWAY_URL = r'(?i)(https?)://([^/?#\s]+)([^?#\s]*)\Z'
_SERVICE_ONLY = ('NIMBUS_STATE_URL', 'NIMBUS_STATE_TOKEN', 'NIMBUS_STATE_TOKEN_FILE')


class ConfigError(Exception):
    """A setting that cannot be used; the message names the key and what it accepts."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class _Settings:
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


class HandlerRef(_Settings):
    """NIMBUS_HANDLER split at its last dot: `pkg/mod.py.handle` is module `pkg/mod.py`, function `handle`."""

    __slots__ = ('module', 'function')
    module: str
    function: str


class StateSettings(_Settings):
    """Where ctx.state keeps its keys: nowhere (`none`) or the local-mode supervisor over IPC."""

    __slots__ = ('backend', 'timeout_ms', 'max_value_bytes')
    backend: str
    timeout_ms: int
    max_value_bytes: int


class GatewayUrl(_Settings):
    """NIMBUS_GATEWAY_URL in the parts http.client needs."""

    __slots__ = ('href', 'https', 'netloc', 'base_path')
    href: str
    https: bool
    netloc: str
    base_path: str


class RuntimeConfig(_Settings):
    __slots__ = (
        'port',
        'host',
        'shutdown_delay_ms',
        'function_dir',
        'handler',
        'function_name',
        'namespace',
        'timeout_ms',
        'concurrency',
        'queue_size',
        'max_body_bytes',
        'drain_timeout_ms',
        'debug',
        'error_detail',
        'gateway_url',
        'log_level',
        'state',
    )
    port: int
    host: str
    shutdown_delay_ms: int
    function_dir: str
    handler: HandlerRef
    function_name: str
    namespace: str
    timeout_ms: int
    concurrency: int
    queue_size: int
    max_body_bytes: int
    drain_timeout_ms: int
    debug: bool
    #: NIMBUS_ERROR_DETAIL: `none` gives callers of a failed handler a generic message and the
    #: invocation id (the error goes to the log), `full` the error's message.
    error_detail: str
    gateway_url: GatewayUrl | None
    log_level: str
    state: StateSettings


def load_config(env: Mapping[str, str]) -> RuntimeConfig:
    """Every setting, or a ConfigError for the first that cannot be used."""
    if _boolean(env, 'NIMBUS_POOL', False):
        raise ConfigError('NIMBUS_POOL', 'NIMBUS_POOL: the Python runtime has no warm pool yet; unset it')
    timeout_ms = _integer(env, 'NIMBUS_TIMEOUT_MS', 30_000, 1, MAX_TIMEOUT_MS)
    return RuntimeConfig(
        port=_integer(env, 'PORT', 8080, 0, 65_535),
        host=_text(env, 'HOST', '0.0.0.0'),
        shutdown_delay_ms=_integer(env, 'NIMBUS_SHUTDOWN_DELAY_MS', 0, 0, 120_000),
        function_dir=os.path.abspath(_text(env, 'NIMBUS_FUNCTION_DIR', '/var/nimbus/function')),
        handler=_handler_ref(_text(env, 'NIMBUS_HANDLER', 'main.handle')),
        function_name=_text(env, 'NIMBUS_FUNCTION_NAME', 'function'),
        namespace=_text(env, 'NIMBUS_FUNCTION_NAMESPACE', 'default'),
        timeout_ms=timeout_ms,
        concurrency=_integer(env, 'NIMBUS_CONCURRENCY', 50, 1, 10_000),
        queue_size=_integer(env, 'NIMBUS_QUEUE_SIZE', 100, 0, 100_000),
        max_body_bytes=_integer(env, 'NIMBUS_MAX_BODY_BYTES', 6_291_456, 0, 1_073_741_824),
        drain_timeout_ms=_integer(env, 'NIMBUS_DRAIN_TIMEOUT_MS', timeout_ms, 0, MAX_TIMEOUT_MS),
        debug=_boolean(env, 'NIMBUS_DEBUG', False),
        error_detail=_one_of(env, 'NIMBUS_ERROR_DETAIL', ERROR_DETAILS, 'none'),
        gateway_url=_gateway_url(env),
        log_level=_one_of(env, 'NIMBUS_LOG_LEVEL', LOG_LEVELS, 'info'),
        state=_state_settings(env),
    )


def _read(env: Mapping[str, str], key: str) -> str | None:
    value = env.get(key)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _text(env: Mapping[str, str], key: str, fallback: str) -> str:
    return _read(env, key) or fallback


def _quote(raw: str | None) -> str:
    """JSON.stringify's spelling of a value, so messages read as runtime-node's do."""
    return json.dumps(raw, ensure_ascii=False)


def _integer(env: Mapping[str, str], key: str, fallback: int, low: int, high: int) -> int:
    raw = _read(env, key)
    if raw is None:
        return fallback
    # The length bound keeps int() away from absurdly long digit strings.
    if not (raw.isascii() and raw.isdigit() and len(raw.lstrip('0')) <= 16) or not low <= int(raw) <= high:
        raise ConfigError(key, f'{key} must be an integer from {low} to {high}, got {_quote(raw)}')
    return int(raw)


def _boolean(env: Mapping[str, str], key: str, fallback: bool) -> bool:
    raw = _read(env, key)
    if raw is None:
        return fallback
    if raw.lower() in ('true', '1'):
        return True
    if raw.lower() in ('false', '0'):
        return False
    raise ConfigError(key, f'{key} must be true or false, got {_quote(env.get(key))}')


def _one_of(env: Mapping[str, str], key: str, allowed: tuple[str, ...], fallback: str) -> str:
    raw = _read(env, key)
    if raw is None:
        return fallback
    if raw.lower() not in allowed:
        raise ConfigError(key, f'{key} must be one of {", ".join(allowed)}, got {_quote(raw)}')
    return raw.lower()


def _handler_ref(raw: str) -> HandlerRef:
    module, dot, function = raw.rpartition('.')
    expected = 'NIMBUS_HANDLER must be <module>.<function> with the module a relative path inside'
    if not dot or not module or not re.match(_FUNCTION_NAME, function):
        raise ConfigError(
            'NIMBUS_HANDLER', f'{expected} the function directory (e.g. main.handle), got {_quote(raw)}'
        )
    segments = re.split(r'[\\/]', module)
    if os.path.isabs(module) or module.startswith('\\') or '..' in segments or '\0' in module:
        raise ConfigError(
            'NIMBUS_HANDLER', f'{expected} the function directory, without "..", got {_quote(raw)}'
        )
    return HandlerRef(module=module, function=function)


def _gateway_url(env: Mapping[str, str]) -> GatewayUrl | None:
    raw = _read(env, 'NIMBUS_GATEWAY_URL')
    if raw is None:
        return None
    match = re.match(_GATEWAY_URL, raw)
    if match is None or '@' in match.group(2):
        raise ConfigError(
            'NIMBUS_GATEWAY_URL', f'NIMBUS_GATEWAY_URL must be an http(s) URL, got {_quote(raw)}'
        )
    scheme, netloc, path = match.groups()
    scheme = scheme.lower()
    base_path = path.rstrip('/')
    return GatewayUrl(
        href=f'{scheme}://{netloc}{base_path}', https=scheme == 'https', netloc=netloc, base_path=base_path
    )


def _state_settings(env: Mapping[str, str]) -> StateSettings:
    raw = _read(env, 'NIMBUS_STATE_BACKEND')
    backend = raw.lower() if raw is not None else None
    if backend is None:
        # runtime-node takes NIMBUS_STATE_URL alone to mean the gateway's state service.
        backend = 'none' if _read(env, 'NIMBUS_STATE_URL') is None else 'service'
    if backend not in STATE_BACKENDS:
        why = ' (the Python runtime reaches state only through the local-mode supervisor so far)'
        raise ConfigError(
            'NIMBUS_STATE_BACKEND',
            f'NIMBUS_STATE_BACKEND must be one of {", ".join(STATE_BACKENDS)}, got {_quote(backend)}{why}',
        )
    timeout_ms = _integer(env, 'NIMBUS_STATE_TIMEOUT_MS', DEFAULT_STATE_TIMEOUT_MS, 10, 60_000)
    # Checked whatever the backend, so a bad value is caught before it matters.
    max_value_bytes = _integer(
        env, 'NIMBUS_STATE_MAX_VALUE_BYTES', DEFAULT_STATE_MAX_VALUE_BYTES, 1, 16 * 1024 * 1024
    )
    for key in _SERVICE_ONLY:
        if _read(env, key) is not None:
            raise ConfigError(key, f'{key} is set, but NIMBUS_STATE_BACKEND is {backend}; it needs service')
    return StateSettings(backend=backend, timeout_ms=timeout_ms, max_value_bytes=max_value_bytes)
