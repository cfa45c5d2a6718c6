"""Who may `POST /_/specialise` (runtime-node's pool/specialise-access.ts). Only a caller with the
replica's token, wherever it calls from: loopback proves nothing (containers of a pod share it, and
in local mode every caller-steered request the gateway makes, such as an async call's callback,
comes from loopback). Without a token (local mode) nobody may: the supervisor specialises over its
IPC channel instead."""

from __future__ import annotations

import re

from .pool_token import PoolToken

_BEARER = re.compile(r'Bearer[ \t]+(\S+)[ \t]*\Z', re.IGNORECASE)


class SpecialiseAccess:
    __slots__ = ('allowed', 'status_code', 'reason')

    def __init__(self, allowed: bool, status_code: int = 200, reason: str = '') -> None:
        self.allowed = allowed
        #: 401 or 403 when refused.
        self.status_code = status_code
        self.reason = reason


_ALLOWED = SpecialiseAccess(True)


def specialise_access(authorization: str | None, token: PoolToken | None) -> SpecialiseAccess:
    if token is None:
        reason = 'this replica is specialised by its supervisor only; it accepts no specialise over HTTP'
        return SpecialiseAccess(False, 403, reason)
    presented = _BEARER.match(authorization or '')
    if presented is None:
        return SpecialiseAccess(False, 401, 'specialise needs an Authorization: Bearer token')
    if not token.matches(presented.group(1)):
        return SpecialiseAccess(False, 403, 'the Bearer token is not the one this replica accepts')
    return _ALLOWED
