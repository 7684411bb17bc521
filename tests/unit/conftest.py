"""Fixtures for the pure-core tier: every pattern runs on each local backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import runfox_core as rfx
from runfox_core.backend import InMemoryStore, InProcessRunner, SqliteRunner, SqliteStore

BackendFactory = Callable[..., rfx.Backend]


@pytest.fixture(params=["memory", "sqlite"])
def make_backend(request: pytest.FixtureRequest, tmp_path: Any) -> BackendFactory:
    """Build a Backend on the parametrised storage: ``make_backend(executor=..., **kwargs)``."""

    def factory(executor: Any = None, **kwargs: Any) -> rfx.Backend:
        if request.param == "memory":
            return rfx.Backend(executor=executor, store=InMemoryStore(), runner=InProcessRunner(), **kwargs)
        db = str(tmp_path / "runfox.db")
        return rfx.Backend(executor=executor, store=SqliteStore(db), runner=SqliteRunner(db, poll_interval=0.001),
                           **kwargs)

    return factory


class FakeClock:
    """A clock tests move by hand, so backoff and deadlines need no sleeping."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
