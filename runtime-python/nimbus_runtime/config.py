"""The runtime's settings, parsed once from an env map (the keys and defaults of runtime-node's
config.ts): the process's own at start-up, the function's at start-up or, in a warm-pool replica,
from the env map of a `specialise` command. A bad value raises a ConfigError naming the key and
what it accepts; an empty value counts as unset, so templated manifests can leave a key blank.
The readers are env_settings.py's; ctx.state's settings are state/state_config.py's."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from .env_settings import ConfigError, Settings, boolean, integer, one_of, quote, read, text
from .events.publish_config import PUBLISH_SETTINGS, PublishSettings, load_publish_settings
from .state.state_config import STATE_SETTINGS, StateSettings, load_state_settings

LOG_LEVELS = ('debug', 'info', 'warn', 'error')
ERROR_DETAILS = ('full', 'none')

MAX_TIMEOUT_MS = 3_600_000

_FUNCTION_NAME = r'[A-Za-z_][A-Za-z0-9_]*\Z'
_GATEWAY_URL = r'(?i)(https?)://([^/?#\s]+)([^?#\s]*)\Z'

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
    *PUBLISH_SETTINGS,
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


class HandlerRef(Settings):
    """NIMBUS_HANDLER split at its last dot: `pkg/mod.py.handle` is module `pkg/mod.py`, function `handle`."""

    __slots__ = ('module', 'function')
    module: str
    function: str


class GatewayUrl(Settings):
    """NIMBUS_GATEWAY_URL in the parts http.client needs."""

    __slots__ = ('href', 'https', 'netloc', 'base_path')
    href: str
    https: bool
    netloc: str
    base_path: str


class ProcessConfig(Settings):
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
    'publish',
)


class FunctionConfig(Settings):
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
    publish: PublishSettings


class RuntimeConfig(Settings):
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
    publish: PublishSettings


def runtime_config(process: ProcessConfig, function: FunctionConfig) -> RuntimeConfig:
    values = {name: getattr(process, name) for name in ProcessConfig.__slots__}
    values.update((name, getattr(function, name)) for name in _FUNCTION_FIELDS)
    return RuntimeConfig(**values)


def load_config(env: Mapping[str, str]) -> RuntimeConfig:
    """Every setting, or a ConfigError for the first that cannot be used."""
    return runtime_config(load_process_config(env), load_function_config(env))


def load_process_config(env: Mapping[str, str]) -> ProcessConfig:
    return ProcessConfig(
        port=integer(env, 'PORT', 8080, 0, 65_535),
        host=text(env, 'HOST', '0.0.0.0'),
        pool=boolean(env, 'NIMBUS_POOL', False),
        pool_token_file=_pool_token_file(env),
        shutdown_delay_ms=integer(env, 'NIMBUS_SHUTDOWN_DELAY_MS', 0, 0, 120_000),
    )


def load_function_config(env: Mapping[str, str]) -> FunctionConfig:
    state = load_state_settings(env)
    timeout_ms = integer(env, 'NIMBUS_TIMEOUT_MS', 30_000, 1, MAX_TIMEOUT_MS)
    return FunctionConfig(
        function_dir=os.path.abspath(text(env, 'NIMBUS_FUNCTION_DIR', '/var/nimbus/function')),
        handler=_handler_ref(text(env, 'NIMBUS_HANDLER', 'main.handle')),
        function_name=text(env, 'NIMBUS_FUNCTION_NAME', 'function'),
        namespace=text(env, 'NIMBUS_FUNCTION_NAMESPACE', 'default'),
        timeout_ms=timeout_ms,
        concurrency=integer(env, 'NIMBUS_CONCURRENCY', 50, 1, 10_000),
        queue_size=integer(env, 'NIMBUS_QUEUE_SIZE', 100, 0, 100_000),
        max_body_bytes=integer(env, 'NIMBUS_MAX_BODY_BYTES', 6_291_456, 0, 1_073_741_824),
        drain_timeout_ms=integer(env, 'NIMBUS_DRAIN_TIMEOUT_MS', timeout_ms, 0, MAX_TIMEOUT_MS),
        debug=boolean(env, 'NIMBUS_DEBUG', False),
        error_detail=one_of(env, 'NIMBUS_ERROR_DETAIL', ERROR_DETAILS, 'none'),
        gateway_url=_gateway_url(env),
        log_level=one_of(env, 'NIMBUS_LOG_LEVEL', LOG_LEVELS, 'info'),
        state=state,
        publish=load_publish_settings(env, state),
    )


def _handler_ref(raw: str) -> HandlerRef:
    module, dot, function = raw.rpartition('.')
    expected = 'NIMBUS_HANDLER must be <module>.<function> with the module a relative path inside'
    if not dot or not module or not re.match(_FUNCTION_NAME, function):
        raise ConfigError(
            'NIMBUS_HANDLER', f'{expected} the function directory (e.g. main.handle), got {quote(raw)}'
        )
    segments = re.split(r'[\\/]', module)
    if os.path.isabs(module) or module.startswith('\\') or '..' in segments or '\0' in module:
        raise ConfigError(
            'NIMBUS_HANDLER', f'{expected} the function directory, without "..", got {quote(raw)}'
        )
    return HandlerRef(module=module, function=function)


def _gateway_url(env: Mapping[str, str]) -> GatewayUrl | None:
    raw = read(env, 'NIMBUS_GATEWAY_URL')
    if raw is None:
        return None
    match = re.match(_GATEWAY_URL, raw)
    if match is None or '@' in match.group(2):
        raise ConfigError(
            'NIMBUS_GATEWAY_URL', f'NIMBUS_GATEWAY_URL must be an http(s) URL, got {quote(raw)}'
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
    if read(env, 'NIMBUS_POOL_TOKEN') is not None:
        raise ConfigError(
            'NIMBUS_POOL_TOKEN',
            'NIMBUS_POOL_TOKEN is not read: a token in the environment stays readable in'
            ' /proc/self/environ; put it in a file and give its path in NIMBUS_POOL_TOKEN_FILE',
        )
    return read(env, 'NIMBUS_POOL_TOKEN_FILE')
