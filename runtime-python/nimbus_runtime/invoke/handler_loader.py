"""Loads NIMBUS_HANDLER from the function directory (runtime-node's handler-loader.ts and
handler-path.ts). `main.handle` is `main.py`'s `handle`; `pkg/mod.handle` and `pkg/mod.py.handle`
are `pkg/mod.py`'s; a package's `__init__.py` and dotted names (`pkg.mod.handle`) work too. The
function directory goes on sys.path, so the handler imports its neighbours as a script would."""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from ..config import HandlerRef

_DOTTED_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z')
_PRIVATE_NAME = '_nimbus_function_handler'


class HandlerLoadError(Exception):
    """Why the handler could not be loaded; its message is what /_/ready and the supervisor report."""


class LoadedHandler:
    __slots__ = ('function', 'is_async')

    def __init__(self, function: Callable[..., Any], is_async: bool) -> None:
        self.function = function
        #: A coroutine function runs on the event loop; any other callable on a handler thread.
        self.is_async = is_async


def handler_candidates(function_dir: str, module: str) -> list[str]:
    """The files that may hold the module, in order of preference. Raises when it would resolve
    outside the function directory."""
    resolved = os.path.normpath(os.path.join(function_dir, module))
    relative = os.path.relpath(resolved, function_dir)
    if relative == '.' or relative == '..' or relative.startswith('..' + os.sep) or os.path.isabs(relative):
        raise HandlerLoadError(
            f'handler module {module!r} resolves outside the function directory {function_dir}'
        )
    if module.endswith('.py'):
        return [resolved]
    candidates = [f'{resolved}.py', os.path.join(resolved, '__init__.py')]
    if '.' in module and _DOTTED_NAME.match(module.replace('/', '.')):
        dotted = os.path.join(function_dir, *module.replace('/', '.').split('.'))
        candidates += [f'{dotted}.py', os.path.join(dotted, '__init__.py')]
    return list(dict.fromkeys(candidates))


def load_handler(function_dir: str, handler: HandlerRef) -> LoadedHandler:
    """Imports the module and picks the function; raises a HandlerLoadError saying why it cannot."""
    candidates = handler_candidates(function_dir, handler.module)
    file = next((candidate for candidate in candidates if os.path.isfile(candidate)), None)
    if file is None:
        tried = ', '.join(os.path.relpath(candidate, function_dir) for candidate in candidates)
        raise HandlerLoadError(f'handler module not found in {function_dir} (tried {tried})')
    shown = os.path.relpath(file, function_dir)
    if function_dir not in sys.path:
        # After the runtime's own folder, so a function's module never shadows the runtime.
        sys.path.insert(1, function_dir)
    try:
        module = _import(function_dir, file)
    except BaseException as error:  # a module may raise anything, SystemExit included
        raise HandlerLoadError(f'handler module {shown} failed to load: {_named(error)}') from error
    function = getattr(module, handler.function, None)
    if not callable(function):
        raise HandlerLoadError(
            f'handler module {shown} has no function "{handler.function}" (found {_describe(function)})'
        )
    return LoadedHandler(function, _is_async(function))


def _import(function_dir: str, file: str) -> Any:
    """By its module name when it has one nothing else holds (so the handler's own imports of it, or
    of its package, find the same module); else from the file, under a private name."""
    relative = os.path.relpath(file, function_dir)[: -len('.py')]
    name = relative.replace(os.sep, '.').removesuffix('.__init__')
    if _DOTTED_NAME.match(name) and name.split('.', 1)[0] not in sys.modules:
        module = importlib.import_module(name)
        if os.path.abspath(getattr(module, '__file__', None) or '') == file:
            return module
    from importlib import util as import_util

    spec = import_util.spec_from_file_location(_PRIVATE_NAME, file)
    if spec is None or spec.loader is None:
        raise ImportError(f'cannot load {file}')
    module = import_util.module_from_spec(spec)
    sys.modules[_PRIVATE_NAME] = module
    spec.loader.exec_module(module)
    return module


def _is_async(function: Any) -> bool:
    call = getattr(function, '__call__', None)
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call)


def _named(error: BaseException) -> str:
    """`SyntaxError: invalid syntax (main.py, line 3)` tells a function author more than the message alone."""
    message = str(error)
    if type(error) is Exception and message:
        return message
    return f'{type(error).__name__}: {message}' if message else type(error).__name__


def _describe(value: Any) -> str:
    return 'nothing' if value is None else f'a value of type {type(value).__name__}'
