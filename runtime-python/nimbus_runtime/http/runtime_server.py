"""The HTTP face of the runtime (runtime-node's http/runtime-server.ts): /_/ endpoints, invocations,
and the drain on shutdown."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from ..config import RuntimeConfig
from ..invoke.invocation_id import invocation_id_for
from ..invoke.invocation_runner import InvocationRunner, Outcome
from ..log import JsonLogger
from ..metrics.runtime_metrics import RuntimeMetrics
from .connection import HttpConnection
from .http_errors import ClientDisconnectedError, error_response
from .http_invocation import HttpInvocation
from .http_listener import HttpListener
from .internal_path import is_literal_internal_path, reaches_internal_route
from .readiness import Readiness
from .request_head import RequestHead
from .request_tracker import RequestTracker
from .response_writer import error_response_bytes, json_response_bytes, response_bytes

if TYPE_CHECKING:
    from typing import Protocol

    class SpecialiseRoute(Protocol):
        """Answers `/_/specialise` in a pool replica that has taken on its function."""

        def serve(self, connection: HttpConnection, head: RequestHead, close: bool) -> None: ...

#: Recorded for an invocation whose client left before the response (nginx's convention).
CLIENT_CLOSED_STATUS = 499


class RuntimeServer:
    def __init__(
        self,
        config: RuntimeConfig,
        listener: HttpListener,
        logger: JsonLogger,
        metrics: RuntimeMetrics,
        readiness: Readiness,
        runner: InvocationRunner,
        specialise_route: SpecialiseRoute | None = None,
    ) -> None:
        self.loop = listener.loop
        self._listener = listener
        self._config = config
        self._logger = logger
        self._metrics = metrics
        self._readiness = readiness
        self._runner = runner
        self._tracker = RequestTracker()
        # asyncio keeps only weak references to tasks: these are the strong ones.
        self._tasks: set[asyncio.Task[None]] = set()
        #: Who answers /_/specialise: a pool replica's endpoint; None: nobody (a 404).
        self._specialise = specialise_route
        listener.serve(self.on_request)

    async def listen(self) -> int:
        """Binds and resolves with the bound port (the real one when PORT=0)."""
        return await self._listener.listen(self._config.host, self._config.port)

    def begin_shutdown(self) -> None:
        """Says draining on /_/ready (and asks clients not to reuse connections) while still serving."""
        self._readiness.mark_draining()

    def stop_accepting(self) -> None:
        self._readiness.mark_draining()
        self._listener.close()
        self._listener.close_idle()

    async def drain(self, timeout_ms: int) -> bool:
        """Waits up to `timeout_ms` for invocations in flight or queued to be answered, then closes
        every connection left; returns whether all were answered."""
        self.stop_accepting()
        try:
            await asyncio.wait_for(self._tracker.idle(), timeout_ms / 1000)
            drained = True
        except TimeoutError:
            drained = False
            self._logger.warn('drain timed out', timeoutMs=timeout_ms, unfinished=self._tracker.count)
        self._listener.abort_all()
        return drained

    def on_request(self, connection: HttpConnection, head: RequestHead) -> None:
        path = head.target.partition('?')[0]
        literal = is_literal_internal_path(path)
        if literal or reaches_internal_route(path):
            self._serve_internal(connection, head, path, literal)
            return
        invocation_id = invocation_id_for(head.headers)
        invocation = HttpInvocation(invocation_id, head, connection, self._config.max_body_bytes)
        connection.on_lost = lambda: invocation.cancellation.abort(ClientDisconnectedError())
        task = self.loop.create_task(self._serve_invocation(connection, invocation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _serve_internal(
        self, connection: HttpConnection, head: RequestHead, path: str, literal: bool
    ) -> None:
        # Imported with the first /_/ request: a cold start's first request is an invocation.
        from .system_routes import (
            SPECIALISE_PATH,
            SYSTEM_ROUTES,
            disguised_system_path,
            system_reply,
            write_system_reply,
        )

        draining = self._readiness.draining
        if literal:
            if path == SPECIALISE_PATH and self._specialise is not None:
                self._specialise.serve(connection, head, draining)
            else:
                reply = system_reply(head.method, path, self._readiness.report, self._metrics.render)
                write_system_reply(connection, head, reply, draining)
            self._metrics.observe_system(path if path in SYSTEM_ROUTES else 'other')
        else:
            # `/%5F/health`, `//_/ready`, `/x/../_/metrics`: the gateway refuses these too. Neither the
            # internal route nor the handler takes them, so no reading of the path picks the wrong one.
            write_system_reply(connection, head, disguised_system_path(), True)
            self._metrics.observe_system('disguised')

    async def _serve_invocation(self, connection: HttpConnection, invocation: HttpInvocation) -> None:
        """Never raises: the handler's failures are outcomes, and a failure of the runtime's own is
        answered here."""
        done = self._tracker.start()
        try:
            outcome = await self._runner.run(invocation)
            status_code = self._respond(connection, invocation, outcome)
            self._metrics.observe(status_code, time.perf_counter() - invocation.started)
        except Exception as error:
            self._logger.error('request failed in the runtime', error=error)
            if not connection.closed and not connection.idle:
                body = {'error': 'internal runtime error'}
                data = json_response_bytes(500, body, invocation_id=None, close=True, head_only=False)
                connection.finish(data, True)
        finally:
            done()

    def _respond(self, connection: HttpConnection, invocation: HttpInvocation, outcome: Outcome) -> int:
        if outcome.kind == 'disconnected' or connection.closed:
            connection.abort()
            return CLIENT_CLOSED_STATUS
        head = invocation.head
        close = self._readiness.draining or not head.keep_alive or not connection.request_complete
        head_only = head.method == 'HEAD'
        if outcome.response is not None:
            spec = outcome.response
            data = response_bytes(
                spec.status_code,
                spec.headers,
                spec.body,
                invocation_id=invocation.invocation_id,
                close=close,
                head_only=head_only,
                spans=invocation.encoded_spans(spec.status_code, None),
            )
            connection.finish(data, close)
            return spec.status_code
        assert outcome.error is not None
        config = self._config
        error = error_response(outcome.error, invocation.invocation_id, config.debug, config.error_detail)
        data = error_response_bytes(
            error,
            invocation_id=invocation.invocation_id,
            close=close,
            head_only=head_only,
            spans=invocation.encoded_spans(error.status_code, outcome.error),
        )
        connection.finish(data, close)
        return error.status_code
