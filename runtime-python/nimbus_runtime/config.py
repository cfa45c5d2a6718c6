"""The runtime's settings, parsed once from an env map (the keys and defaults of runtime-node's
config.ts): the process's own at start-up, the function's at start-up or, in a warm-pool replica,
from the env map of a `specialise` command. A bad value raises a ConfigError naming the key and
what it accepts; an empty value counts as unset, so templated manifests can leave a key blank."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

LOG_LEVELS = ('debug', 'info', 'warn', 'error')
ERROR_DETAILS = ('full', 'none')
STATE_BACKENDS = ('none', 'service', 'supervisor')

MAX_TIMEOUT_MS = 3_600_000
DEFAULT_STATE_TIMEOUT_MS = 1_000
DEFAULT_STATE_MAX_VALUE_BYTES = 64 * 1024

_FUNCTION_NAME = r'[A-Za-z_][A-Za-z0-9_]*\Z'
_GATEWAY_URL = r'(?i)(https?)://([^/?#\s]+)([^?#\s]*)\Z'
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

#: The keys load_function_config reads.
FUNCTION_SETTINGS = (
    'NIMBUS_FUNCTION_DIR',
    'NIMBUS_HANDLER',
    'NIMBUS_FUNCTION_NAME',
    'NIMBUS_FUNCTION_NAMESPACE',
    'NIMBUS_TIMEOUT_MS',
    'NIMBUS_CONCURRENCY',
    'NIMBUS_QUEUE_SIZE',
    'NIMBUS_MAX_BODY_BYTES',
    'NIMBUS_DRAIN_TIMEOUT_MS',
    'NIMBUS_GATEWAY_URL',
    'NIMBUS_DEBUG',
    'NIMBUS_ERROR_DETAIL',
    'NIMBUS_LOG_LEVEL',
    *STATE_SETTINGS,
)

#: The keys load_process_config reads: a function's env map cannot change them.
PROCESS_SETTINGS = (
    'PORT',
    'HOST',
    'NIMBUS_POOL',
    'NIMBUS_POOL_TOKEN',
    'NIMBUS_POOL_TOKEN_FILE',
    'NIMBUS_SHUTDOWN_DELAY_MS',
)


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


class GatewayUrl(_Settings):
    """NIMBUS_GATEWAY_URL in the parts http.client needs."""

    __slots__ = ('href', 'https', 'netloc', 'base_path')
    href: str
    https: bool
    netloc: str
    base_path: str


class ProcessConfig(_Settings):
    """Settings of the process itself, fixed when it starts."""

    __slots__ = ('port', 'host', 'pool', 'pool_token_file', 'shutdown_delay_ms')
    port: int
    host: str
    #: NIMBUS_POOL: start as a generic warm-pool replica that takes on a function later.
    pool: bool
    #: NIMBUS_POOL_TOKEN_FILE: where a pool replica finds the Bearer token `POST /_/specialise`
    #: needs (read once and removed at start, see pool/pool_token.py). None: only the supervisor
    #: may specialise it, over IPC.
    pool_token_file: str | None
    shutdown_delay_ms: int


_FUNCTION_FIELDS = (
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


class FunctionConfig(_Settings):
    """Settings of the function a process serves: read from the environment at a normal start, or
    from the env map of a `specialise` command by a pool replica."""

    __slots__ = _FUNCTION_FIELDS
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


class RuntimeConfig(_Settings):
    """A process and its function: what the runtime's parts are made from."""

    __slots__ = ProcessConfig.__slots__ + _FUNCTION_FIELDS
    port: int
    host: str
    pool: bool
    pool_token_file: str | None
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
    error_detail: str
    gateway_url: GatewayUrl | None
    log_level: str
    state: StateSettings


def runtime_config(process: ProcessConfig, function: FunctionConfig) -> RuntimeConfig:
    values = {name: getattr(process, name) for name in ProcessConfig.__slots__}
    values.update((name, getattr(function, name)) for name in _FUNCTION_FIELDS)
    return RuntimeConfig(**values)


def load_config(env: Mapping[str, str]) -> RuntimeConfig:
    """Every setting, or a ConfigError for the first that cannot be used."""
    return runtime_config(load_process_config(env), load_function_config(env))


def load_process_config(env: Mapping[str, str]) -> ProcessConfig:
    return ProcessConfig(
        port=_integer(env, 'PORT', 8080, 0, 65_535),
        host=_text(env, 'HOST', '0.0.0.0'),
        pool=_boolean(env, 'NIMBUS_POOL', False),
        pool_token_file=_pool_token_file(env),
        shutdown_delay_ms=_integer(env, 'NIMBUS_SHUTDOWN_DELAY_MS', 0, 0, 120_000),
    )


def load_function_config(env: Mapping[str, str]) -> FunctionConfig:
    timeout_ms = _integer(env, 'NIMBUS_TIMEOUT_MS', 30_000, 1, MAX_TIMEOUT_MS)
    return FunctionConfig(
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


def _pool_token_file(env: Mapping[str, str]) -> str | None:
    """The token itself is never taken from the environment: an env value stays readable in
    /proc/self/environ for the life of the process, and a function's code runs in that process once
    it is specialised. The old variable stops the start rather than being ignored in silence."""
    if _read(env, 'NIMBUS_POOL_TOKEN') is not None:
        raise ConfigError(
            'NIMBUS_POOL_TOKEN',
            'NIMBUS_POOL_TOKEN is not read: a token in the environment stays readable in'
            ' /proc/self/environ; put it in a file and give its path in NIMBUS_POOL_TOKEN_FILE',
        )
    return _read(env, 'NIMBUS_POOL_TOKEN_FILE')


def _state_settings(env: Mapping[str, str]) -> StateSettings:
    """NIMBUS_STATE_BACKEND defaults to `service` when NIMBUS_STATE_URL is set, else `none`. Tokens
    are never echoed in an error."""
    url = _read(env, 'NIMBUS_STATE_URL')
    raw = _read(env, 'NIMBUS_STATE_BACKEND')
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
            f'NIMBUS_STATE_BACKEND must be one of {", ".join(STATE_BACKENDS)}, got {_quote(raw)}{why}',
        )
    timeout_ms = _integer(env, 'NIMBUS_STATE_TIMEOUT_MS', DEFAULT_STATE_TIMEOUT_MS, 10, 60_000)
    # Checked whatever the backend, so a bad value is caught before it matters.
    max_value_bytes = _integer(
        env, 'NIMBUS_STATE_MAX_VALUE_BYTES', DEFAULT_STATE_MAX_VALUE_BYTES, 1, 16 * 1024 * 1024
    )
    if backend != 'service':
        for key in _SERVICE_ONLY:
            if _read(env, key) is not None:
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
    token = _read(env, 'NIMBUS_STATE_TOKEN')
    token_file = _read(env, 'NIMBUS_STATE_TOKEN_FILE')
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
