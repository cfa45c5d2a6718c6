"""Process entry and composition root: `python3 run.py`. Parses the environment once, wires the
runtime's parts together (for the function the environment names, or, with NIMBUS_POOL, for a
generic replica that takes one on later), serves until SIGTERM, SIGINT or the supervisor's channel
closing, then drains and exits 0. A bad setting exits 1 with a JSON line naming it."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from .config import (
    FUNCTION_SETTINGS,
    ConfigError,
    ProcessConfig,
    RuntimeConfig,
    load_config,
    load_process_config,
)
from .http.http_listener import HttpListener
from .http.readiness import Readiness
from .http.runtime_server import RuntimeServer
from .invoke.concurrency_limiter import ConcurrencyLimiter
from .invoke.context import ContextFactory
from .invoke.handler_slot import HandlerSlot
from .invoke.handler_threads import HandlerThreads
from .invoke.invocation_runner import InvocationRunner
from .log import FdSink, JsonLogger, LogSink, iso_time, now_ms
from .metrics.runtime_metrics import RuntimeMetrics
from .process_guards import install_process_guards
from .runtime import Runtime
from .state.function_state import AsyncFunctionState, DisabledFunctionState
from .supervisor_channel import SupervisorChannel, open_supervisor_channel

if TYPE_CHECKING:
    from typing import Protocol

    from .pool.pool_replica import PoolReplica
    from .pool.pool_token import PoolToken
    from .pool.specialise_endpoint import SpecialiseEndpoint

    class Replica(Protocol):
        @property
        def logger(self) -> JsonLogger: ...
        async def shutdown(self) -> bool: ...


T = TypeVar('T')


def main() -> None:
    settings = _config_or_exit(lambda: load_process_config(os.environ))
    config: RuntimeConfig | None = None
    token: PoolToken | None = None
    if settings.pool:
        token = _take_pool_token(settings)
    else:
        config = _config_or_exit(lambda: load_config(os.environ))
    # print() from handler code shows up as it happens, as console.log does, not when a buffer fills.
    if hasattr(sys.stdout, 'reconfigure'):
        sys.stdout.reconfigure(line_buffering=True)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    code = loop.run_until_complete(_run(settings, config, token, loop))
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: a handler thread still running (past its deadline) must not hold the exit up.
    os._exit(code)


def _take_pool_token(settings: ProcessConfig) -> PoolToken | None:
    """Taken (read and removed) before anything else happens: the function this process takes on
    later must find the token nowhere. Local mode gives none: its supervisor specialises over IPC.
    The function's settings come with specialise; the handler must not see the pool's leftovers."""
    from .pool.pool_token import take_pool_token

    token_file = settings.pool_token_file
    token = None if token_file is None else _config_or_exit(lambda: take_pool_token(token_file))
    for key in (*FUNCTION_SETTINGS, 'NIMBUS_POOL_TOKEN_FILE'):
        os.environ.pop(key, None)
    return token


async def _run(
    settings: ProcessConfig,
    config: RuntimeConfig | None,
    token: PoolToken | None,
    loop: asyncio.AbstractEventLoop,
) -> int:
    try:
        supervisor = await open_supervisor_channel(os.environ)
    except (OSError, ValueError) as error:
        _exit_invalid(f'the supervisor channel cannot be used: {error}')
    sink = FdSink(1)
    if config is not None:
        runtime = _compose(config, loop, supervisor, sink)
        return await _serve(loop, supervisor, runtime, runtime.start)
    pool, threads = _compose_pool(settings, token, loop, supervisor, sink)
    return await _serve(loop, supervisor, pool, lambda: _listen_and_warm_up(pool, threads))


def _compose(
    config: RuntimeConfig,
    loop: asyncio.AbstractEventLoop,
    supervisor: SupervisorChannel,
    sink: LogSink,
    listener: HttpListener | None = None,
    threads: HandlerThreads | None = None,
    specialise_route: SpecialiseEndpoint | None = None,
) -> Runtime:
    """One function's runtime. A pool replica hands over its listener (so the port never changes),
    its handler threads and its specialise endpoint; a normal start makes its own and has none."""
    logger = JsonLogger(sink, config.log_level, {'function': config.function_name})
    threads = threads or HandlerThreads(loop)
    state = _function_state(config, supervisor)
    from .events.publisher import create_publisher

    publisher = create_publisher(config.publish, config.namespace, config.function_name, supervisor)
    limiter = ConcurrencyLimiter(config.concurrency, config.queue_size)
    handlers = HandlerSlot(config.function_dir, config.handler, threads)
    contexts = ContextFactory(
        config.function_name, config.namespace, logger, state, config.gateway_url, threads, loop, publisher
    )
    runner = InvocationRunner(config.timeout_ms, limiter, handlers, contexts, threads, logger)
    metrics = RuntimeMetrics(limiter, handlers)
    readiness = Readiness(handlers)
    listener = listener or HttpListener(loop)
    server = RuntimeServer(config, listener, logger, metrics, readiness, runner, specialise_route)
    return Runtime(config, server, handlers, supervisor, state, logger, publisher)


def _compose_pool(
    settings: ProcessConfig,
    token: PoolToken | None,
    loop: asyncio.AbstractEventLoop,
    supervisor: SupervisorChannel,
    sink: LogSink,
) -> tuple[PoolReplica, HandlerThreads]:
    """A generic warm-pool replica. Its own adapters are made now; the function's runtime is composed
    at specialise, from the settings that come with it, around the same listener, supervisor
    channel, log sink and handler threads."""
    from .pool.pool_replica import PoolReplica

    listener = HttpListener(loop)
    threads = HandlerThreads(loop)

    def compose(config: RuntimeConfig, route: SpecialiseEndpoint) -> Runtime:
        return _compose(config, loop, supervisor, sink, listener, threads, route)

    pool = PoolReplica(settings, token, listener, supervisor, JsonLogger(sink), os.environ, compose)
    supervisor.on_message(pool.receive)
    return pool, threads


async def _listen_and_warm_up(pool: PoolReplica, threads: HandlerThreads) -> asyncio.Future[Any]:
    await pool.listen()
    from .pool.pool_warmup import warm_up

    return asyncio.ensure_future(warm_up(threads))


async def _serve(
    loop: asyncio.AbstractEventLoop,
    supervisor: SupervisorChannel,
    replica: Replica,
    start: Callable[[], Awaitable[asyncio.Future[Any]]],
) -> int:
    """`start` binds the port and reports it; the future it returns settles once start-up work is
    done (the handler loaded, or a pool replica warmed up)."""
    install_process_guards(loop, lambda: replica.logger)
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
        settled = await start()
    except OSError as error:
        replica.logger.error('could not start listening', error=error)
        return 1
    settled.add_done_callback(lambda _: _collect_garbage_again())
    reason = await stopping
    replica.logger.info('shutting down', signal=reason)
    try:
        await replica.shutdown()
    except Exception as error:
        replica.logger.error('shutdown failed', error=error)
    return 0


def _function_state(config: RuntimeConfig, supervisor: SupervisorChannel) -> AsyncFunctionState:
    """ctx.state for the backend the settings name; nothing is sent before the first call."""
    settings = config.state
    if settings.backend == 'none':
        return DisabledFunctionState()
    if settings.backend == 'service':
        from .state.service_state import ServiceStatePort

        return AsyncFunctionState(ServiceStatePort(settings, config.namespace, config.function_name))
    from .state.supervisor_state import SupervisorStatePort

    return AsyncFunctionState(SupervisorStatePort(supervisor, settings.timeout_ms, settings.max_value_bytes))


def _collect_garbage_again() -> None:
    """run.py turns the collector off for the cold start. What start-up made stays for the life of
    the process: frozen, later collections need not walk it."""
    gc.freeze()
    gc.enable()


def _config_or_exit(parse: Callable[[], T]) -> T:
    try:
        return parse()
    except ConfigError as error:
        _exit_invalid(str(error))


def _exit_invalid(message: str) -> NoReturn:
    line = {'level': 'error', 'time': iso_time(now_ms()), 'msg': f'invalid configuration: {message}'}
    sys.stderr.write(json.dumps(line, ensure_ascii=False, separators=(',', ':')) + '\n')
    sys.stderr.flush()
    sys.exit(1)
