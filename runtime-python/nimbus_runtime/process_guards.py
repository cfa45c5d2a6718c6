"""Handler code that lets an exception escape a thread it started, or a task nobody awaits, must not
take down a replica serving other invocations (runtime-node's process-guards.ts): log it with its
traceback and keep serving."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from .log import JsonLogger


def install_process_guards(loop: asyncio.AbstractEventLoop, logger: Callable[[], JsonLogger]) -> None:
    """`logger()` is asked at each failure: a pool replica's becomes its function's."""

    def on_thread_exception(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        thread = args.thread.name if args.thread is not None else None
        logger().error('uncaught exception', error=args.exc_value, thread=thread)

    def on_loop_exception(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # "Task exception was never retrieved" is Python's unhandled rejection.
        logger().error(
            'unhandled exception in the event loop',
            context=context.get('message'),
            error=context.get('exception'),
        )

    threading.excepthook = on_thread_exception
    loop.set_exception_handler(on_loop_exception)
