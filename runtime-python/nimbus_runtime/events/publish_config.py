"""How ctx.publish reaches the events stream, from the environment (runtime-node's
events/publish-config.ts): nowhere (`none`), the gateway's events endpoint (`service`, in a
cluster: the function's token, the same port and token as ctx.state) or the local-mode supervisor
over IPC (`supervisor`)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..env_settings import ConfigError, Settings, integer, quote, read
from ..state.state_config import StateSettings

PUBLISH_BACKENDS = ('none', 'service', 'supervisor')
DEFAULT_PUBLISH_TIMEOUT_MS = 2_000
_EVENTS_URL = r'https?://[^\s/@]+/?\Z'

#: The keys load_publish_settings reads (function settings too: a pool replica drops its own).
PUBLISH_SETTINGS = (
    'NIMBUS_EVENTS_BACKEND',
    'NIMBUS_EVENTS_URL',
    'NIMBUS_EVENTS_TOKEN',
    'NIMBUS_EVENTS_TOKEN_FILE',
    'NIMBUS_EVENTS_TIMEOUT_MS',
)


class PublishSettings(Settings):
    """`url`, `token` and `token_file` are the service's, None for the other backends."""

    __slots__ = ('backend', 'timeout_ms', 'url', 'token', 'token_file')
    backend: str
    timeout_ms: int
    url: str | None
    token: str | None
    token_file: str | None

    def __repr__(self) -> str:
        shown = '<hidden>' if self.token is not None else None
        return (
            f'PublishSettings(backend={self.backend!r}, timeout_ms={self.timeout_ms!r}, url={self.url!r},'
            f' token={shown}, token_file={self.token_file!r})'
        )


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
    if not re.match(_EVENTS_URL, url):
        raise ConfigError(
            'NIMBUS_EVENTS_URL',
            'NIMBUS_EVENTS_URL must be an http:// or https:// base URL such as'
            ' http://nimbus-gateway-state.nimbus.svc:8081',
        )
    if token is not None and token_file is not None:
        raise ConfigError(
            'NIMBUS_EVENTS_TOKEN_FILE', 'set NIMBUS_EVENTS_TOKEN or NIMBUS_EVENTS_TOKEN_FILE, not both'
        )
    if token is None and token_file is None:
        raise ConfigError(
            'NIMBUS_EVENTS_TOKEN_FILE', 'the events endpoint needs NIMBUS_EVENTS_TOKEN_FILE or NIMBUS_EVENTS_TOKEN'
        )
    return PublishSettings(
        backend='service', timeout_ms=timeout_ms, url=url.removesuffix('/'), token=token, token_file=token_file
    )
