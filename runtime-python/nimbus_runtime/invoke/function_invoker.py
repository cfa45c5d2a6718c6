"""ctx.invoke: another function, called through the gateway (runtime-node's invoke/function-invoker.ts).
POSTs the payload as JSON to `NIMBUS_GATEWAY_URL/function/<name>`, carrying the caller's invocation
id and traceparent. http.client is imported on the first call: most functions never make one."""

from __future__ import annotations

import json
import re
from typing import Any

from ..config import GatewayUrl
from ..http.http_errors import BadRequestError
from .request_body import is_json_type, media_type, parse_body

# `name` or `name.namespace`, as the gateway routes them.
_FUNCTION_REF = re.compile(r'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)?\Z')


class FunctionInvokeError(RuntimeError):
    """ctx.invoke could not get an answer from the gateway (any answer, 5xx included, is returned)."""


class InvokeResponse(dict):
    """ctx.invoke's answer: `status_code`, `headers` (lower-cased names) and `body` (parsed JSON for
    JSON, a str for text, bytes otherwise, None when empty). It is also the dict
    `{"statusCode", "headers", "body"}`, so a handler that returns it sends it on as its response."""

    def __init__(self, status_code: int, headers: dict[str, str], body: Any) -> None:
        super().__init__(statusCode=status_code, headers=headers, body=body)

    @property
    def status_code(self) -> int:
        return self['statusCode']

    @property
    def headers(self) -> dict[str, str]:
        return self['headers']

    @property
    def body(self) -> Any:
        return self['body']


class Caller:
    """The calling invocation, whose identity travels with the call."""

    __slots__ = ('invocation_id', 'namespace', 'traceparent')

    def __init__(self, invocation_id: str, namespace: str, traceparent: str | None) -> None:
        self.invocation_id = invocation_id
        self.namespace = namespace
        self.traceparent = traceparent


class GatewayInvoker:
    def __init__(self, gateway: GatewayUrl | None) -> None:
        self._gateway = gateway

    def invoke(self, name: Any, payload: Any, caller: Caller, timeout_seconds: float) -> InvokeResponse:
        """Blocks until the gateway answers: called on a handler thread, never on the event loop."""
        gateway = self._gateway
        if gateway is None:
            raise FunctionInvokeError(
                'ctx.invoke is unavailable: NIMBUS_GATEWAY_URL is not set for this runtime'
            )
        if not isinstance(name, str) or not _FUNCTION_REF.match(name):
            shown = json.dumps(name) if isinstance(name, str) else repr(name)
            raise FunctionInvokeError(
                f'ctx.invoke needs a function name like "name" or "name.namespace", got {shown}'
            )
        # A bare name means a function in the caller's own namespace, not the gateway's default one.
        target = name if '.' in name else f'{name}.{caller.namespace}'
        headers = {'x-call-id': caller.invocation_id}
        if caller.traceparent is not None:
            headers['traceparent'] = caller.traceparent
        body = None
        if payload is not None:
            body = json.dumps(payload, ensure_ascii=False, separators=(',', ':')).encode('utf-8')
            headers['content-type'] = 'application/json'
        import http.client

        connection_type = http.client.HTTPSConnection if gateway.https else http.client.HTTPConnection
        connection = connection_type(gateway.netloc, timeout=max(timeout_seconds, 0.001))
        try:
            connection.request('POST', f'{gateway.base_path}/function/{target}', body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            # Repeated headers joined with ", ", as fetch's Headers gives them to runtime-node.
            response_headers: dict[str, str] = {}
            for header, value in response.getheaders():
                header = header.lower()
                known = response_headers.get(header)
                response_headers[header] = value if known is None else f'{known}, {value}'
        except (OSError, http.client.HTTPException) as error:
            reason = str(error) or type(error).__name__
            raise FunctionInvokeError(f'ctx.invoke of {target} failed: {reason}') from error
        finally:
            connection.close()
        body = _decode(raw, response_headers.get('content-type'))
        return InvokeResponse(response.status, response_headers, body)


def _decode(raw: bytes, content_type: str | None) -> Any:
    """Like a request body, except JSON that does not parse is handed back as text rather than raised."""
    try:
        return parse_body(raw, content_type)
    except BadRequestError:
        return raw.decode('utf-8', 'replace') if is_json_type(media_type(content_type)) else raw
