"""Launcher: `python3 run.py`. Puts this folder on sys.path and hands over to the runtime."""

import gc
import os
import sys

# Start-up allocates many objects and little garbage, so collections would only lengthen the cold
# start; the runtime turns the collector back on once the handler has loaded.
gc.disable()

_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path[0:1] != [_HERE]:
    sys.path.insert(0, _HERE)


def _compile_runtime_once() -> None:
    """The runtime's own bytecode, cached beside its sources even under PYTHONDONTWRITEBYTECODE
    (common in containers): compiling its modules anew costs every cold start ~25% of a bare
    server's whole start. Done once, at the first start that finds no cache; a handler's modules
    still follow the setting. A read-only install just goes without."""
    if not sys.dont_write_bytecode or sys.pycache_prefix or sys.implementation.cache_tag is None:
        return  # Python caches (or is told where to) by itself
    package = os.path.join(_HERE, 'nimbus_runtime')
    marker = os.path.join(package, '__pycache__', f'main.{sys.implementation.cache_tag}.pyc')
    if os.path.exists(marker):
        return
    try:
        import compileall

        compileall.compile_dir(package, quiet=2)
    except Exception:
        pass


_compile_runtime_once()

from nimbus_runtime.main import main  # after the path above

if __name__ == '__main__':
    main()
