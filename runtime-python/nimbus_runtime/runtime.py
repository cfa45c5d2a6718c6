"""Start-up and shutdown of one replica (runtime-node's runtime.ts)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from .config import RuntimeConfig
from .http.runtime_server import RuntimeServer
from .invoke.handler_slot import HandlerSlot, LoadState
from .log import JsonLogger
from .state.function_state import AsyncFunctionState
from .supervisor_channel import SupervisorChannel


class Runtime:
    def __init__(
        self,
        config: RuntimeConfig,
        server: RuntimeServer,
        handlers: HandlerSlot,
        supervisor: SupervisorChannel,
        state: AsyncFunctionState,
        logger: JsonLogger,
        publisher: Any = None,
    ) -> None:
        self._config = config
        self._server = server
        self._handlers = handlers
        self._supervisor = supervisor
        self._state = state
        self._logger = logger
        self._publisher = publisher

    @property
    def logger(self) -> JsonLogger:
        return self._logger

    async def start(self) -> asyncio.Future[LoadState]:
        """Binds the port and loads the handler at the same time: start-up is a cold start. A handler
        that fails to load leaves the process up, reporting the reason on /_/ready and to every
        invocation. Raises only if the port cannot be bound."""
        loading = self._handlers.load()
        port = await self._server.listen()
        self._supervisor.send({'type': 'listening', 'port': port})
        self._logger.info('listening', port=port, startupMs=since_process_start_ms())
        # Reported after 'listening' so the supervisor always sees the port first.
        return self._reported(loading)

    def load(self) -> asyncio.Future[LoadState]:
        """Loads the handler of a pool replica that has just taken on this function: its listener is
        bound already, and the supervisor has its port. Reports `ready` or `load-failed` as start()
        does; the future never fails."""
        return self._reported(self._handlers.load())

    def _reported(self, loading: asyncio.Future[LoadState]) -> asyncio.Future[LoadState]:
        reported: asyncio.Future[LoadState] = asyncio.get_running_loop().create_future()
        loading.add_done_callback(lambda done: reported.set_result(self._report(done.result())))
        return reported

    def _report(self, state: LoadState) -> LoadState:
        handler = f'{self._config.handler.module}.{self._config.handler.function}'
        if state.status == 'ready':
            self._logger.info('handler loaded', handler=handler, startupMs=since_process_start_ms())
            self._supervisor.send({'type': 'ready'})
        else:
            self._logger.error(
                'handler failed to load', handler=handler, reason=state.reason, error=state.error
            )
            self._supervisor.send({'type': 'load-failed', 'reason': state.reason})
        return state

    async def shutdown(self) -> bool:
        """Goes on serving for NIMBUS_SHUTDOWN_DELAY_MS (reported as draining), then drains for up to
        NIMBUS_DRAIN_TIMEOUT_MS, then fails ctx.state calls still waiting; returns whether every
        invocation was answered."""
        delay_ms = self._config.shutdown_delay_ms
        if delay_ms > 0:
            self._server.begin_shutdown()
            self._logger.info('leaving the endpoints', delayMs=delay_ms)
            await asyncio.sleep(delay_ms / 1000)
        self._server.stop_accepting()
        # Logged once the listener is closed, so the line means "no new connections".
        self._logger.info('draining', timeoutMs=self._config.drain_timeout_ms)
        answered = await self._server.drain(self._config.drain_timeout_ms)
        try:
            if self._publisher is not None:
                self._publisher.close()
            self._state.close()
        except Exception as error:
            self._logger.warn('closing function state failed', error=error)
        return answered


def since_process_start_ms() -> Any:
    """Milliseconds since the process started (the interpreter's own start-up included, as
    performance.now() in runtime-node), from /proc where there is one; None elsewhere."""
    try:
        with open('/proc/self/stat', 'rb') as stat:
            fields = stat.read().rsplit(b')', 1)[1].split()
        started = int(fields[19]) / os.sysconf('SC_CLK_TCK')
        return round((time.clock_gettime(time.CLOCK_BOOTTIME) - started) * 1000)
    except (OSError, ValueError, IndexError, AttributeError):
        return None
