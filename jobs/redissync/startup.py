"""A job's start-up: two packages ``import redis`` executes and no job uses are executed only when used.

Why: BunkerWeb 1.7 runs every job in a fresh process, so every import is paid on every run, and
``import redis`` executes

* ``redis.asyncio`` (its ``__init__`` imports the asyncio client, cluster, sentinel and connection modules),
  which no job, command or page of ours uses;
* ``importlib.metadata`` (``redis.utils``), which redis-py calls only to name its version to the server, a
  name our clients never send (connection.py sets an empty ``DriverInfo``).

Each package is still created, with its search path, so the submodules redis-py's synchronous code imports
(``redis.asyncio.observability`` in redis-py 8) import as usual; the package's own ``__init__`` runs on the
first attribute asked of it (``redis.asyncio.Redis``, ``from importlib.metadata import version``…).
Nothing changes for a package already imported (BunkerWeb 1.6 runs jobs inside the scheduler's process,
the UI has its own).
"""

from __future__ import annotations

import sys
import threading
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from importlib.abc import Loader  # not at run time: importlib.abc costs more than the deferral saves

DEFERRED = frozenset({"redis.asyncio", "importlib.metadata"})


class _DeferredInit:
    """A package loader that runs the package's ``__init__`` when an attribute it lacks is first asked for."""

    def __init__(self, loader: Loader):
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        lock = threading.Lock()
        loader = self.loader

        def __getattr__(name: str) -> Any:  # PEP 562: only called for a name the module lacks
            with lock:
                if vars(module).pop("__getattr__", None) is not None:
                    loader.exec_module(module)
            return getattr(module, name)

        module.__getattr__ = __getattr__  # type: ignore[method-assign]


class _Finder:
    """Finds the packages of :data:`DEFERRED` as the path finder would, with :class:`_DeferredInit` as loader."""

    def __init__(self, names: set[str]):
        self.names = names

    def find_spec(self, name: str, path: Any, target: ModuleType | None = None) -> ModuleSpec | None:
        if name not in self.names:
            return None
        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return None  # not a plain package on the path: imported the usual way
        spec.loader = cast("Loader", _DeferredInit(spec.loader))
        self.names.discard(name)
        if not self.names:
            sys.meta_path.remove(self)  # the import stops at a spec found: the finders' loop ends here
        return spec


def defer_unused_imports() -> None:
    """Install the finder once, for the packages of :data:`DEFERRED` not imported yet."""
    names = {name for name in DEFERRED if name not in sys.modules}
    if "redis" in sys.modules:
        names.discard("redis.asyncio")
    if names and not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder(names))
