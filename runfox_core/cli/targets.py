"""targets.py -- the local Backends of the CLI (in process, ``--db``) and ``--executors``.

- in process (``runfox run`` without ``--db``): ``Backend(executor=...)``, in memory.
- ``--db FILE``: ``SqliteStore`` + ``SqliteRunner`` on one file; jobs wait in
  its tasks table for a worker (``--executors`` on ``run``/``watch``, or any
  process speaking the SQLite worker protocol), and ``watch`` applies their
  results (on SQLite nothing else does).

``--local`` is ``localdev.py``.

Known limits: ``--db`` creates the file if it does not exist (so a typo in
the path finds no execution, and says so: ``ExecutionNotFoundError``).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from ..backend.base import Backend
from ..backend.sqlite_runner import SqliteRunner
from ..backend.sqlite_store import SqliteStore
from ..executor import Executor

SQLITE_POLL_SECONDS = 0.05  # how often a follower looks at the tasks table


class TargetError(ValueError):
    """Raised when a command's target or executors cannot be used (bad usage: exit code 2)."""


def sqlite_backend(path: str, executor: Executor | None = None) -> Backend:
    return Backend(executor=executor, store=SqliteStore(path),
                   runner=SqliteRunner(path, poll_interval=SQLITE_POLL_SECONDS))


def memory_backend(executor: Executor) -> Backend:
    return Backend(executor=executor)


def load_executor(reference: str) -> Executor:
    """``module:function`` -> the function (the current directory is importable, as for ``python -m``)."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise TargetError(f"--executors must be module:function, got {reference!r}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetError(f"--executors: cannot import module {module_name!r}: {exc}") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise TargetError(f"--executors: module {module_name!r} has no function {attr!r}")
    return function
