"""The replica's listening socket and its connections, without a request handler of its own
(runtime-node's http/http-server.ts): whoever serves it (the function's RuntimeServer, or a pool
replica until it is specialised) attaches one. A pool replica hands the listener on to the function
it takes on, so the port never changes and kept-alive connections carry on with the new handler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from .connection import HttpConnection

if TYPE_CHECKING:
    from .request_head import RequestHead

RequestHandler = Callable[[HttpConnection, 'RequestHead'], None]


def _unserved(connection: HttpConnection, head: RequestHead) -> None:
    connection.abort()


class HttpListener:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.connections: set[HttpConnection] = set()
        self._handler: RequestHandler = _unserved
        self._server: asyncio.Server | None = None

    def serve(self, handler: RequestHandler) -> None:
        """Every request from now on, on new connections and open ones, goes to `handler`."""
        self._handler = handler

    def on_request(self, connection: HttpConnection, head: RequestHead) -> None:
        self._handler(connection, head)

    async def listen(self, host: str, port: int) -> int:
        """Binds and returns the bound port (the real one when `port` is 0)."""
        self._server = await self.loop.create_server(
            lambda: HttpConnection(self), host, port, backlog=511
        )
        return self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        """Stops taking connections; open ones stay."""
        if self._server is not None:
            self._server.close()

    def close_idle(self) -> None:
        for connection in list(self.connections):
            connection.close_if_idle()

    def abort_all(self) -> None:
        for connection in list(self.connections):
            connection.abort()
