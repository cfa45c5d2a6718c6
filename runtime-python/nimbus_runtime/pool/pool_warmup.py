"""Work a pool replica does while it waits (runtime-node's pool/pool-warmup.ts), so that taking on a
function costs little more than importing the handler. A normal start imports only what every call
needs and leaves the rest to first use; a pool replica has time to spare before its function comes,
so it imports now everything a first invocation might otherwise stop for. Nothing here ever fails:
it only saves time."""

from __future__ import annotations

import importlib

from ..invoke.handler_threads import HandlerThreads

# What the runtime imports on first use (bodies, CloudEvents, ctx.invoke's http.client with ssl,
# ctx.state on either backend, errors, internal routes, spans for a traced call) and what the handler
# loader reaches for.
_FIRST_USE_MODULES = (
    'nimbus_runtime.http.body_reader',
    'nimbus_runtime.invoke.cloud_event',
    'nimbus_runtime.invoke.function_invoker',
    'nimbus_runtime.invoke.invocation_spans',
    'nimbus_runtime.invoke.traced_state',
    'nimbus_runtime.state.state_errors',
    'nimbus_runtime.state.state_value',
    'nimbus_runtime.state.supervisor_state',
    'nimbus_runtime.state.service_state',
    'http.client',
    'importlib.util',
    'traceback',
    'unicodedata',
)


async def warm_up(threads: HandlerThreads) -> None:
    for name in _FIRST_USE_MODULES:
        try:
            importlib.import_module(name)
        except Exception:
            pass  # the call that needs it will say what is wrong
    # A handler thread, started now and left idle: the handler's import runs on one, and so does
    # every call of a plain `def` handler.
    await threads.run(lambda: None)
