"""backend -- Stores (long-term records) and Runners (short-term tasks) that a Backend composes."""

from .base import Backend, ExecutionView
from .inmemory_store import InMemoryStore
from .inprocess_runner import InProcessRunner
from .inprocess_worker import InProcessWorker
from .runner import Runner
from .sqlite_runner import SqliteRunner
from .sqlite_store import SqliteStore
from .store import Store

__all__ = [
    "Backend", "ExecutionView", "InMemoryStore", "InProcessRunner", "InProcessWorker", "Runner",
    "SqliteRunner", "SqliteStore", "Store",
]
