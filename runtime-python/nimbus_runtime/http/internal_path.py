"""The runtime's own routes live under `/_/`: for the platform, never for callers. A port of
api/src/internal-path.ts, which the gateway asks too, so what the gateway lets through and what
either runtime treats as internal cannot drift apart: the literal spelling is served, a disguised
one (decoded, normalised, dotted) is refused."""

from __future__ import annotations

import re

INTERNAL_SEGMENT = '_'

# Rounds of percent-decoding: `%255F` is `%5F` after one and `_` after two.
_DECODE_ROUNDS = 3
# Outside printable ASCII: Unicode that compatibility folding may turn into `_` (U+FF3F, U+FE4D-F).
_NON_ASCII = re.compile(r'[^\x20-\x7e]')
# Needed only for a path with an escape in it: compiled (and cached by re) on first use.
_ESCAPE = r'%([0-9A-Fa-f]{2})'
_ESCAPE_RUN = r'(?:%[0-9A-Fa-f]{2})+'
_BAD_ESCAPE = r'%(?![0-9A-Fa-f]{2})'


def is_literal_internal_path(path: str) -> bool:
    """The literal spelling of an internal route: `/_` or `/_/…`, as the runtime matches it."""
    bare = _without_query(path)
    return bare == '/_' or bare.startswith('/_/')


def reaches_internal_route(path: str) -> bool:
    """Whether `path` names an internal route under some reading a server, proxy or framework may
    give it: percent-decoded (repeatedly), `\\` taken as `/`, Unicode compatibility forms folded,
    `;params` dropped from segments, empty and `.` segments dropped and `..` resolved."""
    text = _without_query(path)
    # The hot path of every invocation: no `_` in any spelling, nothing to normalise.
    if '_' not in text and '%' not in text and not _NON_ASCII.search(text):
        return False
    for _ in range(_DECODE_ROUNDS):
        if '%' not in text:
            break
        decoded = _decode_loosely(text)
        if decoded == text:
            break
        text = decoded
    import unicodedata

    segments: list[str] = []
    for raw in text.replace('\\', '/').split('/'):
        segment = unicodedata.normalize('NFKC', raw.split(';', 1)[0].strip())
        if segment in ('', '.'):
            continue
        if segment == '..':
            if segments:
                segments.pop()
        else:
            segments.append(segment)
    return bool(segments) and segments[0] == INTERNAL_SEGMENT


def decode_uri_component(text: str) -> str:
    """JavaScript's decodeURIComponent: every escape decoded as UTF-8; ValueError for a malformed
    escape or bytes that are not UTF-8, where it throws a URIError."""
    if '%' not in text:
        return text
    if re.search(_BAD_ESCAPE, text):
        raise ValueError('URI malformed')
    return re.sub(_ESCAPE_RUN, lambda run: bytes.fromhex(run.group().replace('%', '')).decode('utf-8'), text)


def _decode_loosely(text: str) -> str:
    """As UTF-8; with a malformed escape somewhere, every valid `%XX` on its own and the rest as is."""
    try:
        return decode_uri_component(text)
    except ValueError:
        return re.sub(_ESCAPE, lambda escape: chr(int(escape.group(1), 16)), text)


def _without_query(path: str) -> str:
    end = len(path)
    for mark in '?#':
        at = path.find(mark, 0, end)
        if at != -1:
            end = at
    return path[:end]
