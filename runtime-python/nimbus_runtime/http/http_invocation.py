"""One HTTP request as the invocation runner sees it (runtime-node's http/http-invocation.ts)."""

from __future__ import annotations

import asyncio
import time

from ..invoke.cancellation import Cancellation, until_cancelled
from ..invoke.event import Event, build_event
from .connection import HttpConnection
from .request_head import RequestHead


class HttpInvocation:
    __slots__ = (
        'invocation_id',
        'traceparent',
        'cancellation',
        'head',
        'started',
        '_connection',
        '_max_body_bytes',
    )

    def __init__(
        self, invocation_id: str, head: RequestHead, connection: HttpConnection, max_body_bytes: int
    ) -> None:
        self.invocation_id = invocation_id
        traceparent = head.headers.get('traceparent')
        self.traceparent = traceparent if isinstance(traceparent, str) else None
        self.cancellation = Cancellation()
        self.head = head
        self.started = time.perf_counter()
        self._connection = connection
        self._max_body_bytes = max_body_bytes

    async def read_event(self) -> Event:
        head, limit = self.head, self._max_body_bytes
        # 100 Continue only for a body that will be accepted; an oversized one is refused unsent.
        if head.expects_continue and not (head.content_length or 0) > limit:
            self._connection.write_continue()
        body = self._connection.read_body(limit, head.chunked, head.content_length)
        if isinstance(body, asyncio.Future):
            body = await until_cancelled(body, self.cancellation)
        return build_event(head.method, head.target, head.headers, body)
