"""local -- the whole runfox deployment in one process, on moto: no network, no AWS account.

- ``cloud.LocalCloud``: moto's server on 127.0.0.1, the tables and queues the
  CDK stack would create (from the same executors config and config.py
  constants), and the environment the Lambdas read.
- ``event_source.EventSourceDriver``: plays Lambda's SQS event source
  mappings, feeding real-shaped SQS events to the real handlers, and
  delivers the asynchronous events of ``async_invoke`` (an executor's Invoke
  of the result router: queued, retried, then a destination record).
- ``lambda_runtime``: imports handlers from ``lambdas/`` the way Lambda does
  and gives them a context object.
- ``events``: the sample payloads in ``events/`` (one loader for tests and demo).
- ``demo``: ``python -m local.demo``.

The names below load their module on first use: importing the package must
not import ``local.server`` (and moto), or ``python -m local.server``, the
emulator's child process, would run a module already imported (runpy warns).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.cloud import LocalCloud
    from local.event_source import EventSourceDriver

__all__ = ["EventSourceDriver", "LocalCloud"]

_HOMES = {"LocalCloud": "local.cloud", "EventSourceDriver": "local.event_source"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'local' has no attribute {name!r}")
