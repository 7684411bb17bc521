"""Long waits re-arm cheaply: a wake that arrives before its time is sent on without an advance (driver.rearm_wake)."""

from __future__ import annotations

from typing import Any

import runfox_core as rfx
from runfox_core import messages, operations
from runfox_core.backend import InMemoryStore, InProcessRunner
from runfox_core.driver import ResultRouter
from runfox_core.status import WorkflowStatus
from tests.unit.conftest import FakeClock

MAX_DELAY = 900  # what SQS delays a message at most


class DelayedWakes(InProcessRunner):
    """A runner with SQS's timer semantics: each wake comes back after min(900 s, the time left)."""

    def __init__(self, clock: FakeClock):
        super().__init__()
        self.clock = clock
        self.wakes: list[tuple[float, dict[str, Any]]] = []  # (arrives at, body)

    def schedule_wake(self, key: str, at: float) -> None:
        self.wakes.append((self.clock.now + min(MAX_DELAY, max(0.0, at - self.clock.now)),
                           messages.wake_message(key, at)))

    def deliver_next(self, backend: rfx.Backend) -> ResultRouter:
        """Move the clock to the first wake due and route it, as the results queue would."""
        self.wakes.sort(key=lambda w: w[0])
        arrives, body = self.wakes.pop(0)
        self.clock.now = max(self.clock.now, arrives)
        encoded = messages.encode(body)
        router = ResultRouter(backend, [encoded])
        router.handle(encoded)
        return router


def waiting(seconds: float) -> tuple[rfx.Backend, DelayedWakes, str]:
    clock = FakeClock()
    runner = DelayedWakes(clock)
    backend = rfx.Backend(store=InMemoryStore(), runner=runner, clock=clock)
    key = operations.start(backend, {"steps": [{"id": "later", "wait": {"seconds": seconds}}]}).execution
    return backend, runner, key


def test_a_day_long_wait_is_one_chain_of_96_wake_hops_each_one_header_read_and_no_commit():
    backend, runner, key = waiting(86400)
    assert len(runner.wakes) == 1  # the start's safety wake: its advance arms the wait's timer
    runner.deliver_next(backend)
    version = backend.load_header(key).version
    hops = 0
    while backend.load_header(key).status != WorkflowStatus.COMPLETE:
        assert len(runner.wakes) == 1  # one chain, never two
        router = runner.deliver_next(backend)
        hops += 1
        if backend.load_header(key).status != WorkflowStatus.COMPLETE:
            assert router.advanced == [] and backend.load_header(key).version == version
    assert hops == 96 and runner.wakes == []


def test_an_early_wake_for_a_timer_that_is_gone_is_dropped():
    backend, runner, key = waiting(86400)
    runner.deliver_next(backend)  # the safety wake
    operations.cancel(backend, key)
    router = runner.deliver_next(backend)
    assert router.advanced == [] and runner.wakes == []


def test_a_wait_shorter_than_the_safety_wake_has_its_own_wake_at_its_time():
    backend, runner, key = waiting(30)
    router = runner.deliver_next(backend)
    assert [a.status for a in router.advanced] == [WorkflowStatus.COMPLETE]


def test_a_wake_without_a_time_still_advances_at_once():
    backend, runner, key = waiting(86400)
    body = messages.encode(messages.wake_message(key))
    router = ResultRouter(backend, [body])
    router.handle(body)
    assert [a.status for a in router.advanced] == [WorkflowStatus.IN_PROGRESS]
