"""ids.py -- execution ids and the composite keys built from them.

An execution id sorts by creation time (microsecond UTC timestamp) and stays
unique under bursts: a per-process counter plus 40 random bits follow the
timestamp, so thousands created in one second never collide (the reference's
second + 4 hex digits did, and the later record overwrote the earlier).
Stores still refuse to create over an existing key.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from datetime import UTC, datetime

_counter = itertools.count()
_lock = threading.Lock()


def new_execution_id(now: float | None = None) -> str:
    ts = time.time() if now is None else now
    stamp = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y%m%dT%H%M%S.%f")
    with _lock:
        seq = next(_counter) % 0x10000
    return f"{stamp}Z-{seq:04x}{os.urandom(5).hex()}"


def execution_key(workflow_id: str, execution_id: str) -> str:
    return f"{workflow_id}#{execution_id}"


def step_key(execution_key: str, step: str) -> str:
    return f"{execution_key}#{step}"


def step_run_key(execution_key: str, step: str, run_id: int) -> str:
    return f"{execution_key}#{step}#{run_id}"
