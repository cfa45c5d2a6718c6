"""One request body, read from a connection's bytes as they arrive and at most `limit` bytes of it
(runtime-node's http/read-body.ts): a Content-Length body, or a chunked one refused as soon as it
passes the limit (a chunk that would take it over is refused from its size line). Pure: the
connection feeds it bytes and learns how many it took."""

from __future__ import annotations

import re

from .http_errors import BadRequestError, PayloadTooLargeError

# A chunk-size line with its extensions; node:http refuses longer ones too.
_MAX_SIZE_LINE = 16 * 1024
_MAX_TRAILER_BYTES = 16 * 1024
_SIZE_LINE = re.compile(rb'([0-9A-Fa-f]{1,15})[ \t]*(;[^\r\n]*)?\Z')


class MalformedBodyError(BadRequestError):
    def __init__(self, code: str) -> None:
        super().__init__(f'bad request: the request body could not be parsed ({code})')


class BodyReader:
    done = False

    def feed(self, data: bytearray) -> int:
        """Takes what it needs from the start of `data`; returns how many bytes that was. Raises a
        PayloadTooLargeError (413) or a MalformedBodyError (400)."""
        raise NotImplementedError

    def body(self) -> bytes:
        raise NotImplementedError


class LengthBody(BodyReader):
    def __init__(self, length: int) -> None:
        self._remaining = length
        self._chunks: list[bytes] = []
        self.done = length == 0

    def feed(self, data: bytearray) -> int:
        taken = min(self._remaining, len(data))
        if taken:
            self._chunks.append(bytes(data[:taken]))
            self._remaining -= taken
        self.done = self._remaining == 0
        return taken

    def body(self) -> bytes:
        return self._chunks[0] if len(self._chunks) == 1 else b''.join(self._chunks)


class ChunkedBody(BodyReader):
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._size = 0
        self._chunks: list[bytes] = []
        self._state = 'size'
        self._chunk_left = 0
        self._trailer_bytes = 0

    def feed(self, data: bytearray) -> int:
        at = 0
        while not self.done:
            if self._state == 'size':
                end = data.find(b'\r\n', at)
                if end == -1:
                    if len(data) - at > _MAX_SIZE_LINE:
                        raise PayloadTooLargeError(self._limit)
                    return at
                match = _SIZE_LINE.match(bytes(data[at:end]))
                if match is None:
                    raise MalformedBodyError('HPE_INVALID_CHUNK_SIZE')
                self._chunk_left = int(match.group(1), 16)
                if self._size + self._chunk_left > self._limit:
                    raise PayloadTooLargeError(self._limit)
                at = end + 2
                self._state = 'data' if self._chunk_left else 'trailer'
            elif self._state == 'data':
                taken = min(self._chunk_left, len(data) - at)
                if taken == 0:
                    return at
                self._chunks.append(bytes(data[at : at + taken]))
                self._size += taken
                self._chunk_left -= taken
                at += taken
                if self._chunk_left == 0:
                    self._state = 'data-end'
            elif self._state == 'data-end':
                if len(data) - at < 2:
                    return at
                if data[at : at + 2] != b'\r\n':
                    raise MalformedBodyError('HPE_STRICT')
                at += 2
                self._state = 'size'
            else:  # trailer fields, read and dropped, up to the empty line that ends the body
                end = data.find(b'\r\n', at)
                if end == -1:
                    if self._trailer_bytes + len(data) - at > _MAX_TRAILER_BYTES:
                        raise MalformedBodyError('HPE_HEADER_OVERFLOW')
                    return at
                self._trailer_bytes += end + 2 - at
                if self._trailer_bytes > _MAX_TRAILER_BYTES:
                    raise MalformedBodyError('HPE_HEADER_OVERFLOW')
                self.done = end == at
                at = end + 2
        return at

    def body(self) -> bytes:
        return self._chunks[0] if len(self._chunks) == 1 else b''.join(self._chunks)


class DiscardedBody(BodyReader):
    """The rest of a body that was refused: read and dropped, never done, so the connection closes
    after the answer."""

    def feed(self, data: bytearray) -> int:
        return len(data)
