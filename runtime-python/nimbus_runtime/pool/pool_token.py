"""A pool replica's specialise token (runtime-node's pool/pool-token.ts): taken from
NIMBUS_POOL_TOKEN_FILE at start, before any function code can load. Once specialised, the function
runs in this process, and should find the token neither in its environment nor on disk. (In a pod
the file is on a memory-backed emptyDir the init container wrote; see controller/src/resources/
pool.ts.) The file is read once, so a restarted container has no token and must not start: its pod
is replaced instead."""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import re

from ..env_settings import ConfigError

_MIN_TOKEN_LENGTH = 16
# Visible ASCII: a token must fit an Authorization header unchanged.
_TOKEN = re.compile(r'[\x21-\x7e]+\Z')


class PoolToken:
    """What a Bearer token is checked against. Only its digest is kept: the function's code shares
    this process's memory, and a digest found there lets nobody specialise anything."""

    __slots__ = ('_digest',)

    def __init__(self, token: str) -> None:
        self._digest = _digest(token)

    def matches(self, presented: str) -> bool:
        """In time that does not tell how much of a guess was right."""
        return hmac.compare_digest(_digest(presented), self._digest)

    def __repr__(self) -> str:
        return 'PoolToken(<hidden>)'


def take_pool_token(path: str) -> PoolToken:
    """Reads the token and removes the file. Raises a ConfigError naming the key; the token is never
    echoed."""
    try:
        with open(path, encoding='utf-8', errors='replace') as file:
            text = file.read()
        os.unlink(path)
    except OSError as error:
        code = errno.errorcode.get(error.errno or 0, type(error).__name__)
        raise ConfigError(
            'NIMBUS_POOL_TOKEN_FILE',
            f'NIMBUS_POOL_TOKEN_FILE must name a file holding the pool token; {path} cannot be taken'
            f' ({code}): it is read once and removed, so a pool replica cannot restart in the same pod',
        ) from error
    token = text.strip()
    if len(token) < _MIN_TOKEN_LENGTH or not _TOKEN.match(token):
        raise ConfigError(
            'NIMBUS_POOL_TOKEN_FILE',
            f'NIMBUS_POOL_TOKEN_FILE must hold a token of at least {_MIN_TOKEN_LENGTH} visible ASCII'
            ' characters without spaces',
        )
    return PoolToken(token)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode('utf-8', 'surrogatepass')).digest()
