"""The runtime's one structured logger: one JSON object a line, in the shape of api/src/log.ts
(`{"level","time","msg",...bindings,...fields}`), so log collectors read both runtimes alike."""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from .json_text import to_json

SEVERITY = {'debug': 10, 'info': 20, 'warn': 30, 'error': 40}
_RESERVED = frozenset(('level', 'time', 'msg'))
_CAUSE_DEPTH = 5

LogSink = Callable[[str], None]


def iso_time(epoch_ms: int) -> str:
    """`Date.prototype.toISOString()`'s form: 2024-05-01T12:00:00.000Z."""
    seconds, millis = divmod(epoch_ms, 1000)
    return f'{time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))}.{millis:03d}Z'


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class FdSink:
    """Writes whole lines to a file descriptor (stdout): one write per line under a lock, so lines
    from handler threads never interleave, and nothing sits in a buffer when the process exits."""

    def __init__(self, fd: int = 1) -> None:
        self._fd = fd
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        data = (line + '\n').encode('utf-8', 'replace')
        with self._lock:
            try:
                while data:
                    data = data[os.write(self._fd, data) :]
            except OSError:
                # A reader that went away must not turn every later log line into an error.
                pass


class JsonLogger:
    """Fields never replace the line's level, time or message (handler code and request data reach
    the fields); an exception anywhere in them keeps its type, message, traceback and cause chain;
    dates are ISO text (as a Date's toJSON), sets are lists, other objects their str(); fields that
    still cannot be serialised (a cycle) cost the fields, never the line."""

    __slots__ = ('_sink', '_level', '_threshold', '_bindings')

    def __init__(self, sink: LogSink, level: str = 'info', bindings: dict[str, Any] | None = None) -> None:
        self._sink = sink
        self._level = level
        self._threshold = SEVERITY[level]
        self._bindings = bindings or {}

    def debug(self, msg: str, /, **fields: Any) -> None:
        self._write('debug', msg, fields)

    def info(self, msg: str, /, **fields: Any) -> None:
        self._write('info', msg, fields)

    def warn(self, msg: str, /, **fields: Any) -> None:
        self._write('warn', msg, fields)

    warning = warn

    def error(self, msg: str, /, **fields: Any) -> None:
        self._write('error', msg, fields)

    def child(self, **bindings: Any) -> JsonLogger:
        """A logger whose lines also carry `bindings` (the invocation id, say)."""
        return JsonLogger(self._sink, self._level, {**self._bindings, **bindings})

    def _write(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        if SEVERITY[level] < self._threshold:
            return
        record: dict[str, Any] = {'level': level, 'time': iso_time(now_ms()), 'msg': str(msg)}
        for source in (self._bindings, fields):
            for key, value in source.items():
                if key not in _RESERVED:
                    record[key] = value
        self._sink(_serialize(record))


def _serialize(record: dict[str, Any]) -> str:
    try:
        return to_json(record, default=_replace)
    except (TypeError, ValueError, RecursionError) as error:
        fallback = {key: record[key] for key in ('level', 'time', 'msg')}
        fallback['logError'] = f'log fields not serializable: {error}'
        return to_json(fallback)


def _replace(value: Any) -> Any:
    if isinstance(value, BaseException):
        return error_fields(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    isoformat = getattr(value, 'isoformat', None)
    return isoformat() if callable(isoformat) else str(value)


def error_fields(error: BaseException, depth: int = 0) -> dict[str, Any]:
    """Plain-dict form of an exception for log lines: the traceback as `stack`, cause chain included."""
    fields: dict[str, Any] = {
        'name': type(error).__name__,
        'message': str(error),
        'stack': ''.join(traceback.format_exception(type(error), error, error.__traceback__, chain=False)),
    }
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    # Bounded so a cause cycle cannot recurse forever.
    if cause is not None and depth < _CAUSE_DEPTH:
        fields['cause'] = error_fields(cause, depth + 1)
    return fields


def error_message(error: BaseException) -> str:
    """The message of anything raised; its type name when it has none."""
    return str(error) or type(error).__name__
