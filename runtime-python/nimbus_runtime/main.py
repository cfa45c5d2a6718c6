"""Process entry and composition root: `python3 run.py`. Parses the environment once, wires the
runtime's parts together, serves until SIGTERM, SIGINT or the supervisor's channel closing, then
drains and exits 0. A bad setting exits 1 with a JSON line naming it."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sys
from typing import NoReturn

from .config import ConfigError, RuntimeConfig, load_config
from .http.readiness import Readiness
from .http.runtime_server import RuntimeServer
from .invoke.concurrency_limiter import ConcurrencyLimiter
from .invoke.context import ContextFactory
from .invoke.handler_slot import HandlerSlot
from .invoke.handler_threads import HandlerThreads
from .invoke.invocation_runner import InvocationRunner
from .log import FdSink, JsonLogger, iso_time, now_ms
from .metrics.runtime_metrics import RuntimeMetrics
from .process_guards import install_process_guards
from .runtime import Runtime
from .state.function_state import AsyncFunctionState, DisabledFunctionState
from .supervisor_channel import SupervisorChannel, open_supervisor_channel


def main() -> None:
    try:
        config = load_config(os.environ)
    except ConfigError as error:
        _exit_invalid(str(error))
    # print() from handler code shows up as it happens, as console.log does, not when a buffer fills.
    if hasattr(sys.stdout, 'reconfigure'):
        sys.stdout.reconfigure(line_buffering=True)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    code = loop.run_until_complete(_serve(config, loop))
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: a handler thread still running (past its deadline) must not hold the exit up.
    os._exit(code)


async def _serve(config: RuntimeConfig, loop: asyncio.AbstractEventLoop) -> int:
    try:
        supervisor = await open_supervisor_channel(os.environ)
    except (OSError, ValueError) as error:
        _exit_invalid(f'the supervisor channel cannot be used: {error}')
    logger = JsonLogger(FdSink(1), config.log_level, {'function': config.function_name})
    install_process_guards(loop, logger)
    runtime = _compose(config, loop, supervisor, logger)

    stopping: asyncio.Future[str] = loop.create_future()

    def stop(reason: str) -> None:
        if not stopping.done():
            stopping.set_result(reason)

    loop.add_signal_handler(signal.SIGTERM, stop, 'SIGTERM')
    loop.add_signal_handler(signal.SIGINT, stop, 'SIGINT')
    # A supervisor that dies without stopping its replicas closes the channel: drain and exit rather
    # than live on as an orphan nobody routes to.
    supervisor.on_disconnect(lambda: stop('disconnect'))
    try:
        loaded = await runtime.start()
    except OSError as error:
        logger.error('could not start listening', error=error)
        return 1
    loaded.add_done_callback(lambda _: _collect_garbage_again())
    reason = await stopping
    logger.info('shutting down', signal=reason)
    try:
        await runtime.shutdown()
    except Exception as error:
        logger.error('shutdown failed', error=error)
    return 0


def _compose(
    config: RuntimeConfig, loop: asyncio.AbstractEventLoop, supervisor: SupervisorChannel, logger: JsonLogger
) -> Runtime:
    threads = HandlerThreads(loop)
    state = _function_state(config, supervisor)
    limiter = ConcurrencyLimiter(config.concurrency, config.queue_size)
    handlers = HandlerSlot(config.function_dir, config.handler, threads)
    contexts = ContextFactory(
        config.function_name, config.namespace, logger, state, config.gateway_url, threads, loop
    )
    runner = InvocationRunner(config.timeout_ms, limiter, handlers, contexts, threads, logger)
    metrics = RuntimeMetrics(limiter, handlers)
    server = RuntimeServer(config, loop, logger, metrics, Readiness(handlers), runner)
    return Runtime(config, server, handlers, supervisor, state, logger)


def _function_state(config: RuntimeConfig, supervisor: SupervisorChannel) -> AsyncFunctionState:
    """ctx.state for the backend the settings name; nothing is sent before the first call."""
    if config.state.backend == 'none':
        return DisabledFunctionState()
    from .state.supervisor_state import SupervisorStatePort

    settings = config.state
    return AsyncFunctionState(SupervisorStatePort(supervisor, settings.timeout_ms, settings.max_value_bytes))


def _collect_garbage_again() -> None:
    """run.py turns the collector off for the cold start. What start-up made stays for the life of
    the process: frozen, later collections need not walk it."""
    gc.freeze()
    gc.enable()


def _exit_invalid(message: str) -> NoReturn:
    line = {'level': 'error', 'time': iso_time(now_ms()), 'msg': f'invalid configuration: {message}'}
    sys.stderr.write(json.dumps(line, ensure_ascii=False, separators=(',', ':')) + '\n')
    sys.stderr.flush()
    sys.exit(1)
