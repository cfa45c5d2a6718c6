"""A generic replica of a warm pool (NIMBUS_POOL=1; runtime-node's pool/pool-replica.ts). It starts
with everything but a function: modules imported, listener bound, port reported. Until a supervisor
sends `specialise` (over IPC, or `POST /_/specialise` with the pool token in a pod) it answers
/_/health, /_/ready 503 and every invocation 503 NotSpecialised; then it takes on that function for
the rest of its life: the function's env goes into os.environ, the function's runtime takes over
the listener, and the handler loads."""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from ..config import (
    PROCESS_SETTINGS,
    ConfigError,
    FunctionConfig,
    ProcessConfig,
    RuntimeConfig,
    load_function_config,
    runtime_config,
)
from ..http.http_errors import NOT_SPECIALISED, NotSpecialisedError, error_response
from ..http.http_listener import HttpListener
from ..http.internal_path import is_literal_internal_path
from ..http.response_writer import error_response_bytes
from ..http.system_routes import SPECIALISE_PATH, system_reply, write_system_reply
from ..log import JsonLogger
from ..metrics.metrics import Gauge
from ..runtime import since_process_start_ms
from ..supervisor_channel import SupervisorChannel
from .pool_token import PoolToken
from .specialise_endpoint import ACCEPTED, NO_FILES, SpecialiseEndpoint, SpecialiseOutcome
from .specialise_env import SpecialiseInputError, function_env
from .specialise_files import function_files, write_function_files

if TYPE_CHECKING:
    import asyncio
    from typing import Protocol

    from ..http.connection import HttpConnection
    from ..http.request_head import RequestHead

    class FunctionRuntime(Protocol):
        """The function's side of a specialised replica (runtime.Runtime)."""

        @property
        def logger(self) -> JsonLogger: ...
        def load(self) -> asyncio.Future[Any]:
            """Loads the handler and reports `ready` or `load-failed` to the supervisor."""

        async def shutdown(self) -> bool: ...


#: Builds the function's runtime around the pool replica's listener, with the endpoint answering
#: later specialise requests: the composition root's job (main.py).
ComposeFunction = Callable[[RuntimeConfig, SpecialiseEndpoint], 'FunctionRuntime']

_UNSPECIALISED = {'status': 'unspecialised', 'reason': NOT_SPECIALISED}
_PROCESS_KEYS = frozenset(PROCESS_SETTINGS)


class PoolReplica:
    def __init__(
        self,
        config: ProcessConfig,
        token: PoolToken | None,
        listener: HttpListener,
        supervisor: SupervisorChannel,
        logger: JsonLogger,
        environment: MutableMapping[str, str],
        compose: ComposeFunction,
    ) -> None:
        self._config = config
        self._listener = listener
        self._supervisor = supervisor
        self._pool_logger = logger
        #: Where the function's env lands: os.environ.
        self._environment = environment
        self._compose = compose
        self._phase = 'generic'  # then 'specialised' or 'stopping'
        self._function_name = ''
        self._fn: FunctionRuntime | None = None
        self._endpoint = SpecialiseEndpoint(token, self, logger, listener.loop)
        self._loaded = Gauge(
            'nimbus_runtime_handler_loaded', '1 once the function handler is loaded, else 0.', lambda: 0
        )
        listener.serve(self._on_request)

    @property
    def logger(self) -> JsonLogger:
        """The function's logger once there is one."""
        return self._fn.logger if self._fn is not None else self._pool_logger

    @property
    def refusal(self) -> str | None:
        if self._phase == 'specialised':
            return (
                f'this replica has taken on function {self._function_name}; a process serves one'
                ' function for life'
            )
        return 'this replica is shutting down' if self._phase == 'stopping' else None

    async def listen(self) -> int:
        """Binds the port and reports it; raises OSError only if the port cannot be bound."""
        port = await self._listener.listen(self._config.host, self._config.port)
        self._supervisor.send({'type': 'listening', 'port': port})
        self._pool_logger.info('listening', port=port, pool=True, startupMs=since_process_start_ms())
        return port

    def receive(self, message: Any) -> None:
        """A message from the supervisor over IPC; anything but `specialise` is ignored."""
        kind = message.get('type') if isinstance(message, dict) else type(message).__name__
        if kind != 'specialise':
            # ctx.state's replies are for its own listener.
            if kind != 'state-result':
                self.logger.debug('ignored a supervisor message', type=kind)
            return
        try:
            outcome = self.specialise(message.get('env'), message.get('files', NO_FILES))
        except Exception as error:  # the files could not be written, say: the replica stays generic
            self.logger.error('uncaught exception', error=error)
            return
        if outcome.kind == 'invalid':
            reason = f'invalid configuration: {outcome.reason}'
            self._supervisor.send({'type': 'specialise-refused', 'reason': reason})
        elif outcome.kind == 'refused':
            self._supervisor.send({'type': 'specialise-refused', 'reason': outcome.reason})

    def specialise(self, env: Any, files: Any = NO_FILES) -> SpecialiseOutcome:
        """Takes on the function `env` describes, or says why not. The settings are checked before
        anything changes, so invalid ones leave the replica generic; accepted, the handler loads in
        the background and the supervisor hears `ready` or `load-failed` as after a normal start."""
        refusal = self.refusal
        if refusal is not None:
            self.logger.warn('specialise refused', reason=refusal)
            return SpecialiseOutcome('refused', reason=refusal)
        started = time.perf_counter()
        try:
            settings_env = function_env(env)
            if files is not NO_FILES:
                # The code came with the command (a pool pod has no volume of its own): it is written
                # out, and the function's folder is where it lands, whatever the env said.
                code = function_files(files)
                settings_env['NIMBUS_FUNCTION_DIR'] = write_function_files(code)
            settings: FunctionConfig = load_function_config(settings_env)
        except (SpecialiseInputError, ConfigError) as error:
            field = error.field if isinstance(error, SpecialiseInputError) else error.key
            reason = str(error)
            self._pool_logger.warn('specialise refused: invalid configuration', field=field, reason=reason)
            return SpecialiseOutcome('invalid', field=field, reason=reason)
        # From here on this process belongs to the function. Its env is in place before its code loads.
        ignored = []
        for name, value in settings_env.items():
            if name in _PROCESS_KEYS:
                ignored.append(name)
            else:
                self._environment[name] = value
        fn = self._compose(runtime_config(self._config, settings), self._endpoint)
        self._phase = 'specialised'
        self._function_name = settings.function_name
        self._fn = fn
        if ignored:
            fn.logger.info('specialising', ignored=ignored)
        else:
            fn.logger.info('specialising')

        def specialised(loading: asyncio.Future[Any]) -> None:
            specialise_ms = round((time.perf_counter() - started) * 1000, 1)
            fn.logger.info('specialised', status=loading.result().status, specialiseMs=specialise_ms)

        fn.load().add_done_callback(specialised)
        return ACCEPTED

    async def shutdown(self) -> bool:
        """Before a function: stop at once, there is nothing to drain. After: the function's drain."""
        if self._fn is not None:
            return await self._fn.shutdown()
        self._phase = 'stopping'
        self._listener.close()
        self._listener.abort_all()
        return True

    def _on_request(self, connection: HttpConnection, head: RequestHead) -> None:
        path = head.target.partition('?')[0]
        stopping = self._phase == 'stopping'
        if path == SPECIALISE_PATH:
            self._endpoint.serve(connection, head, stopping)
            return
        if is_literal_internal_path(path):
            reply = system_reply(head.method, path, lambda: _UNSPECIALISED, self._loaded.render)
            write_system_reply(connection, head, reply, stopping)
            return
        self._pool_logger.debug('invocation refused: not specialised', path=path)
        answer = error_response(NotSpecialisedError(), None, False)
        # The body is never read, and cannot be skipped safely: the connection closes after it.
        close = stopping or not head.keep_alive or head.declares_body
        data = error_response_bytes(answer, invocation_id=None, close=close, head_only=head.method == 'HEAD')
        connection.finish(data, close)
