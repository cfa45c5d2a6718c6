"""One client connection: HTTP/1.1 with keep-alive, one request at a time (pipelined ones wait in
the buffer), bodies read as they arrive. The server decides what each request gets; this class
reads heads and bodies, writes what it is given, and tells the server when the client goes.

A response that leaves the request body unread (a 413, say) asks for the connection's close: the
runtime then half-closes and reads on for a moment, discarding, before it closes for good, so the
client reads the response rather than a reset (the lingering close of nginx and Apache)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from .http_errors import ClientDisconnectedError, PayloadTooLargeError
from .request_head import MAX_HEAD_BYTES, HeadError, parse_head
from .response_writer import KEEP_ALIVE_SECONDS, client_error_bytes

if TYPE_CHECKING:
    from typing import Protocol

    from .body_reader import BodyReader
    from .request_head import RequestHead

    class ConnectionOwner(Protocol):
        """What a connection needs of its listener (http_listener.py's HttpListener): the loop,
        the set it joins while open, and where its requests go."""

        loop: asyncio.AbstractEventLoop
        connections: set[HttpConnection]

        def on_request(self, connection: HttpConnection, head: RequestHead) -> None: ...

# How long a started head may take (node:http's headersTimeout in runtime-node).
_HEAD_TIMEOUT_SECONDS = KEEP_ALIVE_SECONDS + 1
# Pipelined bytes held while a request is served before reading pauses.
_MAX_PIPELINED_BYTES = 1024 * 1024
_LINGER_SECONDS = 2.0
_MAX_LINGER_BYTES = 4 * 1024 * 1024
_CONTINUE = b'HTTP/1.1 100 Continue\r\n\r\n'


class HttpConnection(asyncio.Protocol):
    def __init__(self, server: ConnectionOwner) -> None:
        self._server = server
        self._loop = server.loop
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        #: A request is being served: from its head until its response is written.
        self._busy = False
        self._declares_body = False
        #: Called if the client goes while a request is served (set by the server per request).
        self.on_lost: Callable[[], None] | None = None
        self._reader: BodyReader | None = None
        self._body: asyncio.Future[bytes] | None = None
        self._lingering = False
        self._lingered_bytes = 0
        self._paused = False
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.connections.add(self)
        self._arm_timer(KEEP_ALIVE_SECONDS)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._lingered_bytes += len(data)
            if self._lingered_bytes > _MAX_LINGER_BYTES:
                self.abort()
            return
        self._buffer += data
        if self._reader is not None and not self._reader.done:
            self._feed_body()
        if not self._busy:
            self._next_request()
        elif len(self._buffer) > _MAX_PIPELINED_BYTES and not self._paused:
            self._paused = True
            assert self._transport is not None
            self._transport.pause_reading()

    def eof_received(self) -> bool:
        # As node:http (without allowHalfOpen) does: a client that stops sending has gone.
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._server.connections.discard(self)
        self._clear_timer()
        if self._body is not None and not self._body.done():
            self._body.set_exception(ClientDisconnectedError())
        on_lost, self.on_lost = self.on_lost, None
        if self._busy and on_lost is not None:
            on_lost()

    # What the server uses

    @property
    def idle(self) -> bool:
        return not self._busy

    @property
    def remote_address(self) -> str | None:
        peer = self._transport.get_extra_info('peername') if self._transport is not None else None
        return peer[0] if isinstance(peer, tuple) and peer else None

    @property
    def request_complete(self) -> bool:
        """Whether the current request's body has been read to its end: an unread body cannot be
        skipped safely, so the connection closes after the response."""
        return not self._declares_body or (self._reader is not None and self._reader.done)

    def read_body(self, limit: int, chunked: bool, length: int | None) -> bytes | asyncio.Future[bytes]:
        """The current request's body: at once when it has none, else a future. A declared length
        over the limit is refused before any byte is read."""
        # Imported with the first body: most calls have none.
        from .body_reader import ChunkedBody, DiscardedBody, LengthBody

        if length is not None and length > limit:
            self._reader = DiscardedBody()
            raise PayloadTooLargeError(limit)
        if not chunked and not length:
            return b''
        self._reader = ChunkedBody(limit) if chunked else LengthBody(length or 0)
        self._body = self._loop.create_future()
        # Nobody may be waiting for it by the time it fails (the call timed out first).
        self._body.add_done_callback(_retrieve)
        self._feed_body()
        return self._body

    def write_continue(self) -> None:
        if not self.closed and self._transport is not None:
            self._transport.write(_CONTINUE)

    def finish(self, data: bytes, close: bool) -> None:
        """Writes a response and moves on: to the next request, or to closing the connection."""
        if self.closed or self._transport is None:
            return
        self._transport.write(data)
        self._busy = False
        self.on_lost = None
        if close or not self.request_complete:
            self._linger()
            return
        self._reader = None
        self._body = None
        if self._paused:
            self._paused = False
            self._transport.resume_reading()
        self._arm_timer(KEEP_ALIVE_SECONDS)
        if self._buffer:
            self._loop.call_soon(self._next_request)

    def close_if_idle(self) -> None:
        if not self._busy and not self.closed and self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if not self.closed and self._transport is not None:
            self._transport.abort()

    # Reading

    def _next_request(self) -> None:
        while not self._busy and not self.closed and not self._lingering and self._buffer:
            # RFC 9112 §2.2: ignore empty lines before a request line.
            while self._buffer[:2] == b'\r\n':
                del self._buffer[:2]
            end = self._buffer.find(b'\r\n\r\n', 0, MAX_HEAD_BYTES + 4)
            if end == -1:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    self._refuse(HeadError('HPE_HEADER_OVERFLOW', 431))
                elif self._buffer:
                    self._arm_timer(_HEAD_TIMEOUT_SECONDS, head_started=True)
                return
            head = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            try:
                request = parse_head(head)
            except HeadError as error:
                self._refuse(error)
                return
            self._clear_timer()
            self._busy = True
            self._declares_body = request.declares_body
            self._reader = None
            self._body = None
            self._server.on_request(self, request)

    def _feed_body(self) -> None:
        reader, body = self._reader, self._body
        if reader is None:
            return
        try:
            taken = reader.feed(self._buffer)
        except Exception as error:  # a 413 or a 400, for the waiting invocation
            # Whatever else arrives belongs to this body: the connection closes after the answer.
            from .body_reader import DiscardedBody

            self._buffer.clear()
            self._reader = DiscardedBody()
            if body is not None and not body.done():
                body.set_exception(error)
            return
        del self._buffer[:taken]
        if reader.done and body is not None and not body.done():
            body.set_result(reader.body())

    def _refuse(self, error: HeadError) -> None:
        """A head the parser rejects: a raw JSON answer, and the connection closes."""
        self._busy = True
        if self._transport is not None:
            self._transport.write(client_error_bytes(error.status_code, error.code))
        self._linger()

    # Closing

    def _linger(self) -> None:
        self._lingering = True
        self._buffer.clear()
        self._clear_timer()
        transport = self._transport
        if transport is None or self.closed:
            return
        if self._paused:
            transport.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
            self._timer = self._loop.call_later(_LINGER_SECONDS, transport.close)
        else:
            transport.close()

    def _arm_timer(self, seconds: float, head_started: bool = False) -> None:
        if head_started and self._timer is not None:
            return
        self._clear_timer()
        self._timer = self._loop.call_later(seconds, self._timed_out)

    def _clear_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self._busy or self.closed or self._transport is None:
            return
        if self._buffer:
            self._refuse(HeadError('ERR_HTTP_REQUEST_TIMEOUT', 408))
        else:
            self._transport.close()


def _retrieve(future: asyncio.Future[bytes]) -> None:
    if not future.cancelled():
        future.exception()
