"""How ctx.publish reaches the events stream, from the environment (runtime-node's
events/publish-config.ts): nowhere (`none`), the gateway's events endpoint (`service`, in a
cluster: the function's token, the same port and token as ctx.state) or the local-mode supervisor
over IPC (`supervisor`)."""

from __future__ import annotations

from collections.abc import Mapping

from ..env_settings import ConfigError, ServiceSettings, integer, quote, read, service_access
from ..state.state_config import StateSettings

PUBLISH_BACKENDS = ('none', 'service', 'supervisor')
DEFAULT_PUBLISH_TIMEOUT_MS = 2_000

#: The keys load_publish_settings reads (function settings too: a pool replica drops its own).
PUBLISH_SETTINGS = (
    'NIMBUS_EVENTS_BACKEND',
    'NIMBUS_EVENTS_URL',
    'NIMBUS_EVENTS_TOKEN',
    'NIMBUS_EVENTS_TOKEN_FILE',
    'NIMBUS_EVENTS_TIMEOUT_MS',
)


class PublishSettings(ServiceSettings):
    """Where ctx.publish sends its events: nowhere (`none`), the gateway's events endpoint
    (`service`) or the local-mode supervisor (`supervisor`)."""

    __slots__ = ('backend', 'timeout_ms')
    backend: str
    timeout_ms: int


def load_publish_settings(env: Mapping[str, str], state: StateSettings) -> PublishSettings:
    """NIMBUS_EVENTS_BACKEND defaults to `service` when NIMBUS_EVENTS_URL is set or ctx.state goes
    through the state service (then its URL and token serve), else `none`."""
    url = read(env, 'NIMBUS_EVENTS_URL')
    raw = read(env, 'NIMBUS_EVENTS_BACKEND')
    raw = raw.lower() if raw is not None else None
    backend = raw if raw is not None else ('service' if url is not None or state.backend == 'service' else 'none')
    if backend not in PUBLISH_BACKENDS:
        raise ConfigError(
            'NIMBUS_EVENTS_BACKEND',
            f'NIMBUS_EVENTS_BACKEND must be one of {", ".join(PUBLISH_BACKENDS)}, got {quote(raw)}',
        )
    timeout_ms = integer(env, 'NIMBUS_EVENTS_TIMEOUT_MS', DEFAULT_PUBLISH_TIMEOUT_MS, 10, 60_000)
    token = read(env, 'NIMBUS_EVENTS_TOKEN')
    token_file = read(env, 'NIMBUS_EVENTS_TOKEN_FILE')
    if backend != 'service':
        stray = 'NIMBUS_EVENTS_TOKEN' if token is not None else 'NIMBUS_EVENTS_TOKEN_FILE' if token_file else None
        if stray is not None:
            raise ConfigError(stray, f'{stray} is set, but NIMBUS_EVENTS_BACKEND is {backend}; it needs service')
        return PublishSettings(backend=backend, timeout_ms=timeout_ms, url=None, token=None, token_file=None)
    if url is None:
        if state.backend != 'service':
            raise ConfigError(
                'NIMBUS_EVENTS_URL', 'NIMBUS_EVENTS_URL must be set when NIMBUS_EVENTS_BACKEND is service'
            )
        return PublishSettings(
            backend='service', timeout_ms=timeout_ms, url=state.url, token=state.token, token_file=state.token_file
        )
    url, token, token_file = service_access(env, 'NIMBUS_EVENTS', url, 'the events endpoint')
    return PublishSettings(
        backend='service', timeout_ms=timeout_ms, url=url, token=token, token_file=token_file
    )
