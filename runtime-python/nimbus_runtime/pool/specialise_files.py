"""A function's code as a specialise command may carry it (runtime-node's pool/specialise-files.ts):
relative path to file text, at most a ConfigMap's 1 MiB, written into a fresh folder of its own."""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any

from .specialise_env import SpecialiseInputError

#: The code of one inline function is at most a ConfigMap's 1 MiB.
MAX_FILES_BYTES = 1_048_576

# Relative, forward slashes, no `.`/`..` segment, no NUL or backslash: it cannot leave its folder.
_SEGMENT = re.compile(r'(?!\.\.?\Z)[^/\\\0]+\Z')


def function_files(value: Any) -> dict[str, str]:
    """Checks a command's `files`: an object of relative paths to strings, 1 MiB in all. Raises a
    SpecialiseInputError naming the part."""
    if not isinstance(value, dict):
        raise SpecialiseInputError('files', 'files must be an object of relative paths to file text')
    files: dict[str, str] = {}
    size = 0
    for path, text in value.items():
        if path == '' or not all(_SEGMENT.match(segment) for segment in path.split('/')):
            raise SpecialiseInputError(
                f'files.{path}',
                'file paths must be relative, without "." or ".." segments, backslashes or NUL, got'
                f' {json.dumps(path, ensure_ascii=False)}',
            )
        if not isinstance(text, str):
            raise SpecialiseInputError(f'files.{path}', f'files.{path} must be a string')
        size += len(_utf8(text))
        files[path] = text
    if size > MAX_FILES_BYTES:
        raise SpecialiseInputError('files', f'files hold {size} bytes; at most {MAX_FILES_BYTES}')
    return files


def write_function_files(files: dict[str, str], root: str | None = None) -> str:
    """Writes the files into a new folder of their own under `root` (the temp dir: a pod's writable
    /tmp) and returns it, to become the function's NIMBUS_FUNCTION_DIR. Owner-only, the files
    read-only. Synchronous: it runs once, before the handler loads, and the files are small."""
    folder = os.path.join(root or tempfile.gettempdir(), f'nimbus-function-{os.urandom(6).hex()}')
    os.mkdir(folder, 0o700)
    for path, text in files.items():
        target = os.path.join(folder, *path.split('/'))
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with open(descriptor, 'wb') as file:
            file.write(_utf8(text))
    return folder


def _utf8(text: str) -> bytes:
    # JSON may carry a lone surrogate; it counts 3 bytes, as Buffer.byteLength counts it.
    return text.encode('utf-8', 'surrogatepass')
