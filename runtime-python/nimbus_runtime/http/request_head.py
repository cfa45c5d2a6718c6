"""An HTTP/1.x request head parsed strictly, as node:http's llhttp parses one: a request line of
three parts, CRLF line ends, token header names without whitespace before the colon, no folding,
no control characters; one Content-Length of digits, never beside Transfer-Encoding; a
Transfer-Encoding whose last coding is chunked. Anything else is a HeadError, answered 400 (431
for a head too large) before any handler sees it. Pure."""

from __future__ import annotations

import re
from typing import Any

#: node:http's default --max-http-header-size: the request line and headers together.
MAX_HEAD_BYTES = 16 * 1024

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_TARGET = re.compile(r'[^\x00-\x20\x7f]+\Z')
_VERSION = re.compile(r'HTTP/1\.([01])\Z')
_BAD_VALUE_CHAR = re.compile(r'[\x00-\x08\x0a-\x1f\x7f]')

# node:http keeps the first of these when a request repeats them; `set-cookie` becomes a list,
# `cookie` is joined with "; " and any other header with ", " (IncomingMessage's _addHeaderLine).
_FIRST_WINS = frozenset(
    (
        'content-type',
        'content-length',
        'user-agent',
        'referer',
        'host',
        'authorization',
        'proxy-authorization',
        'if-modified-since',
        'if-unmodified-since',
        'from',
        'location',
        'max-forwards',
        'retry-after',
        'etag',
        'last-modified',
        'server',
        'age',
        'expires',
    )
)


class HeadError(Exception):
    """A head the parser rejects; `code` names why, as llhttp's error codes do."""

    def __init__(self, code: str, status_code: int = 400) -> None:
        super().__init__(code)
        self.code = code
        self.status_code = status_code


class RequestHead:
    __slots__ = (
        'method',
        'target',
        'minor_version',
        'headers',
        'keep_alive',
        'content_length',
        'chunked',
        'expects_continue',
    )

    def __init__(
        self,
        method: str,
        target: str,
        minor_version: int,
        headers: dict[str, Any],
        keep_alive: bool,
        content_length: int | None,
        chunked: bool,
        expects_continue: bool,
    ) -> None:
        self.method = method
        #: The request target as received, e.g. `/a/b?x=1`.
        self.target = target
        self.minor_version = minor_version
        #: Lower-cased names; repeated headers combined as node:http combines them.
        self.headers = headers
        self.keep_alive = keep_alive
        self.content_length = content_length
        self.chunked = chunked
        self.expects_continue = expects_continue

    @property
    def declares_body(self) -> bool:
        """An HTTP/1 request carries a body only with Content-Length or Transfer-Encoding (RFC 9112 §6.3)."""
        return self.chunked or bool(self.content_length)


def parse_head(data: bytes) -> RequestHead:
    """`data` is the head up to, not including, the blank line that ends it."""
    text = data.decode('latin-1')
    without_crlf = text.replace('\r\n', '')
    if '\n' in without_crlf or '\r' in without_crlf:
        raise HeadError('HPE_LF_EXPECTED')
    lines = text.split('\r\n')
    parts = lines[0].split(' ')
    if len(parts) != 3:
        raise HeadError('HPE_INVALID_METHOD' if not _TOKEN.match(parts[0]) else 'HPE_INVALID_URL')
    method, target, version = parts
    if not _TOKEN.match(method):
        raise HeadError('HPE_INVALID_METHOD')
    if not _TARGET.match(target):
        raise HeadError('HPE_INVALID_URL')
    version_match = _VERSION.match(version)
    if version_match is None:
        raise HeadError('HPE_INVALID_VERSION')
    minor_version = int(version_match.group(1))

    headers: dict[str, Any] = {}
    lengths: list[str] = []
    encodings: list[str] = []
    connection: list[str] = []
    expect = ''
    for line in lines[1:]:
        name, colon, value = line.partition(':')
        if not colon or not _TOKEN.match(name):
            raise HeadError('HPE_INVALID_HEADER_TOKEN')
        value = value.strip(' \t')
        if _BAD_VALUE_CHAR.search(value):
            raise HeadError('HPE_INVALID_HEADER_TOKEN')
        name = name.lower()
        if name == 'content-length':
            lengths.append(value)
        elif name == 'transfer-encoding':
            encodings.append(value)
        elif name == 'connection':
            connection.append(value)
        elif name == 'expect':
            expect = value
        _add_header(headers, name, value)

    content_length = None
    if lengths:
        if len(lengths) > 1:
            raise HeadError('HPE_UNEXPECTED_CONTENT_LENGTH')
        if not (lengths[0].isascii() and lengths[0].isdigit()):
            raise HeadError('HPE_INVALID_CONTENT_LENGTH')
        # Any length past 2**53 is over every limit; int() need not read thousands of digits.
        digits = lengths[0].lstrip('0')
        content_length = int(digits or '0') if len(digits) <= 15 else 2**53
    chunked = False
    if encodings:
        if lengths:
            # Both at once is how request smuggling starts.
            raise HeadError('HPE_UNEXPECTED_CONTENT_LENGTH')
        codings = [coding.strip().lower() for coding in ','.join(encodings).split(',')]
        if codings[-1] != 'chunked':
            raise HeadError('HPE_INVALID_TRANSFER_ENCODING')
        chunked = True
    if minor_version == 1 and 'host' not in headers:
        raise HeadError('HPE_MISSING_HOST')
    tokens = {token.strip().lower() for token in ','.join(connection).split(',')}
    keep_alive = 'close' not in tokens if minor_version == 1 else 'keep-alive' in tokens
    expects_continue = minor_version == 1 and expect.lower() == '100-continue'
    return RequestHead(
        method, target, minor_version, headers, keep_alive, content_length, chunked, expects_continue
    )


def _add_header(headers: dict[str, Any], name: str, value: str) -> None:
    existing = headers.get(name)
    if existing is None:
        headers[name] = [value] if name == 'set-cookie' else value
    elif name == 'set-cookie':
        existing.append(value)
    elif name in _FIRST_WINS:
        pass
    elif name == 'cookie':
        headers[name] = f'{existing}; {value}'
    else:
        headers[name] = f'{existing}, {value}'
