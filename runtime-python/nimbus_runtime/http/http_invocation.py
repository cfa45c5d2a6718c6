"""One HTTP request as the invocation runner sees it (runtime-node's http/http-invocation.ts)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from ..invoke.cancellation import Cancellation, until_cancelled
from ..invoke.event import Event, build_event
from .connection import HttpConnection
from .request_head import RequestHead

if TYPE_CHECKING:
    from ..invoke.invocation_spans import InvocationSpans, OpenSpan

#: Sent by the gateway when its span for the call is sampled: the runtime records its own spans.
TRACE_REQUEST_HEADER = 'x-nimbus-trace'


class HttpInvocation:
    __slots__ = (
        'invocation_id',
        'traceparent',
        'spans',
        'span',
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
        #: Recorded only when the gateway asked for the spans of a sampled trace.
        self.spans: InvocationSpans | None = None
        #: From arrival to the response: the replica's side of the call.
        self.span: OpenSpan | None = None
        if head.headers.get(TRACE_REQUEST_HEADER) == '1':
            from ..invoke.invocation_spans import InvocationSpans

            self.spans = InvocationSpans.for_traceparent(self.traceparent)
            if self.spans is not None:
                attributes = {'nimbus.invocation_id': invocation_id}
                self.span = self.spans.start('handler', 'server', None, attributes)
        self.cancellation = Cancellation()
        self.head = head
        self.started = time.perf_counter()
        self._connection = connection
        self._max_body_bytes = max_body_bytes

    def encoded_spans(self, status_code: int, error: BaseException | None) -> str | None:
        """Ends the handler's span with the response's status (and the failure, if any) and gives the
        spans as the response header's value; None when the gateway did not ask for them."""
        if self.spans is None or self.span is None:
            return None
        self.span.set('http.response.status_code', status_code)
        self.span.end(error)
        return self.spans.encode()

    async def read_event(self) -> Event:
        head, limit = self.head, self._max_body_bytes
        # 100 Continue only for a body that will be accepted; an oversized one is refused unsent.
        if head.expects_continue and not (head.content_length or 0) > limit:
            self._connection.write_continue()
        body = self._connection.read_body(limit, head.chunked, head.content_length)
        if isinstance(body, asyncio.Future):
            body = await until_cancelled(body, self.cancellation)
        return build_event(head.method, head.target, head.headers, body)
