"""The spans of one invocation, for the gateway (runtime-node's invoke/invocation-spans.ts).

The runtime holds no tracing SDK and no exporter: it would lengthen the very cold start a trace is
meant to explain, and an exporter in the pod would need a way out to the collector. So when the
gateway asks (`x-nimbus-trace: 1` with a sampled traceparent), the runtime records its spans as
plain records and hands them back in a response header; the gateway, which knows which span it
sent, checks them and exports them under that span. This module is imported only when the gateway
asks: untraced, the runtime does nothing but look for the header (http/http_invocation.py)."""

from __future__ import annotations

import base64
import json
import os
import re
import time
from typing import Any

#: At most this many spans go back with one response (the gateway takes no more); later ones are
#: counted, not sent.
MAX_SPANS = 64
# The JSON of the spans under the server span, at most; base64 makes it a third more. The gateway's
# client (undici) fails a response whose head passes 16 KiB, and 63 spans with errors would: the
# call itself would fail for being traced.
_MAX_CHILDREN_JSON = 6 * 1024
_MAX_ATTRIBUTE_TEXT = 256
_MAX_NAME = 128
_TRACEPARENT = re.compile(r'00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\Z')
# The gateway refuses a batch with a name outside printable ASCII; a callee named by the handler may
# be anything.
_UNPRINTABLE = re.compile(r'[^\x20-\x7e]')


def _now_micros() -> int:
    return time.time_ns() // 1000


class OpenSpan:
    """A span being recorded; `end` once, or use it as `with span:` around a call, which ends it with
    whatever the call raised. Its record uses short keys, as the gateway reads them: `n` name, `i` id
    and `p` parent id (16 hex digits), `k` kind, `s` and `e` start and end in microseconds since the
    epoch, `a` attributes, `x` why it failed."""

    __slots__ = ('_spans', 'record', '_ended')

    def __init__(self, spans: InvocationSpans, record: dict[str, Any]) -> None:
        self._spans = spans
        self.record = record
        self._ended = False

    @property
    def id(self) -> str:
        return self.record['i']

    @property
    def traceparent(self) -> str:
        """The traceparent for a call made inside this span: the callee's spans hang under it."""
        return f'00-{self._spans.trace_id}-{self.id}-01'

    def child(self, name: str, kind: str, attributes: dict[str, Any] | None = None) -> OpenSpan:
        return self._spans.start(name, kind, self, attributes)

    def set(self, name: str, value: str | int | float | bool) -> None:
        attributes = self.record.setdefault('a', {})
        attributes[name] = value[:_MAX_ATTRIBUTE_TEXT] if isinstance(value, str) else value

    def end(self, error: BaseException | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        self.record['e'] = _now_micros()
        if error is not None:
            self.record['x'] = (str(error) or type(error).__name__)[:_MAX_ATTRIBUTE_TEXT]
        self._spans.ended(self.record)

    def __enter__(self) -> OpenSpan:
        return self

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        self.end(error)


class InvocationSpans:
    """One invocation's spans, made only when the gateway asked for them."""

    __slots__ = ('trace_id', 'parent_id', '_server', '_done', '_dropped')

    def __init__(self, trace_id: str, parent_id: str) -> None:
        self.trace_id = trace_id
        #: The gateway's span that sent the request: the root of everything recorded here.
        self.parent_id = parent_id
        #: The span from arrival to response, which every other span hangs under; it ends last.
        self._server: dict[str, Any] | None = None
        self._done: list[dict[str, Any]] = []
        self._dropped = 0

    @staticmethod
    def for_traceparent(traceparent: str | None) -> InvocationSpans | None:
        """The recorder for a call the gateway asked spans of, or None when its traceparent is not a
        valid, sampled one."""
        parsed = _TRACEPARENT.match(traceparent) if traceparent is not None else None
        # Bit 0 of the flags: the caller records this trace. Unsampled, nobody would see the spans.
        if parsed is None or int(parsed[3], 16) & 1 == 0:
            return None
        return InvocationSpans(parsed[1], parsed[2])

    def start(
        self, name: str, kind: str, parent: OpenSpan | None, attributes: dict[str, Any] | None = None
    ) -> OpenSpan:
        record: dict[str, Any] = {
            'n': _UNPRINTABLE.sub('?', name[:_MAX_NAME]),
            'i': os.urandom(8).hex(),
            'p': self.parent_id if parent is None else parent.id,
            'k': kind,
            's': _now_micros(),
            'e': 0,
        }
        if attributes is not None:
            record['a'] = dict(attributes)
        return OpenSpan(self, record)

    def ended(self, record: dict[str, Any]) -> None:
        if record['p'] == self.parent_id:
            self._server = record
        elif len(self._done) < MAX_SPANS - 1:
            # A sync handler's calls end on its thread; list.append is atomic.
            self._done.append(record)
        else:
            self._dropped += 1

    def encode(self) -> str:
        """The response header's value: base64url JSON of the spans ended so far. The server span
        is always sent, though it ends last: without it the gateway would refuse every span under it.
        The others go as they fit; the server span counts those that did not."""
        texts = []
        size = 0
        dropped = self._dropped
        for record in self._done:
            text = _json(record)
            if size + len(text) + 1 > _MAX_CHILDREN_JSON:
                dropped += 1
                continue
            texts.append(text)
            size += len(text) + 1
        server = self._server
        if server is not None:
            if dropped > 0:
                server.setdefault('a', {})['nimbus.spans_dropped'] = dropped
            texts.insert(0, _json(server))
        data = ('[' + ','.join(texts) + ']').encode('ascii')
        return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def _json(record: dict[str, Any]) -> str:
    """ASCII (non-ASCII escaped), so its length is its size in bytes."""
    return json.dumps(record, separators=(',', ':'))
