"""fault_kit.py -- run a workflow through the local emulator with one AWS call made to fail.

``CallTap`` wraps botocore's single entry point for API calls. While a
handler runs (the driver marks those spans), it numbers every call; with
``fail_at=k`` the k-th call raises ``InjectedCrash`` instead, as if the
Lambda died there. The emulator's own polling (ReceiveMessage,
DeleteMessage) and the test's reads are never counted or failed.

A run that crashes is then left to the system's own recovery: SQS
redelivers failed records, start is retried by its caller with the same
``name`` (idempotent), claims whose send was lost are re-emitted by the
next advance, and timers re-drive executions.

``crash_points`` says which calls a crash test fails: every call under
``make reliability``; under ``make test`` (``RUNFOX_CRASH_EVERY``: the Makefile's
``TEST_CRASH_EVERY``) every tenth, so the tier keeps within its time while each crash test still runs
and crashes a spread of its calls. ``crash_each_call`` is the crash tests'
one loop: a run per crash point, each checked against how the test says it
must end; ``tapped_cloud`` the emulator, in this process, that each run
gets afresh.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
import yaml
from botocore.client import BaseClient

import local.event_source
from local.cloud import LocalCloud
from local.event_source import EventSourceDriver
from local.events import EXAMPLES_DIR
from local.lambda_runtime import invoke
from runfox_core.aws import config
from runfox_core.aws.factory import get_backend
from runfox_core.status import TERMINAL_WORKFLOW_STATUSES
from runfox_core.workflow import Workflow
from runfox_deploy.executors import ExecutorsConfig, load_executors_config
from tests.aws.no_wedge_kit import Ending

CRASH_EVERY = max(1, int(os.environ.get("RUNFOX_CRASH_EVERY", "1")))


def crash_points(total: int, shard: int = 0, shards: int = 1) -> range:
    """The calls (1-based) of a clean run of ``total`` calls that shard ``shard`` of ``shards`` fails in turn."""
    return range(1 + shard, total + 1, shards * CRASH_EVERY)


CONFIG = EXAMPLES_DIR / "executors.json"
SPEC = yaml.safe_load((Path(__file__).parent / "crash_workflow.yaml").read_text())
INPUTS = {"start": 2}


def only_ops_of(spec: dict[str, Any]) -> ExecutorsConfig:
    """The examples' deployment cut to the ops ``spec``'s steps and maps call: fewer queues to create and for
    the event sources to poll."""
    everything = load_executors_config(CONFIG)
    tokens = {step.get("fn", step.get("map", {}).get("fn")) for step in spec["steps"]}
    return dataclasses.replace(everything, ops={t: op for t, op in everything.ops.items() if t in tokens})


WORKFLOW_CONFIG = only_ops_of(SPEC)
START_RETRIES = 20  # a caller retrying a failed start, as a client SDK would


class InjectedCrash(Exception):
    """Raised in place of the AWS call chosen to fail: the Lambda 'dies' there."""


@dataclass
class CallTap:
    fail_at: int | None = None  # the call (1-based, of every call) made to fail
    fail_nth: tuple[str, int] | None = None  # or (operation, n): its n-th call is made to fail
    calls: list[str] = field(default_factory=list)
    fired: str | None = None  # the call that was made to fail
    fired_at: int | None = None  # and its number
    _counts: Counter[str] = field(default_factory=Counter)
    # inside a handler: a context variable, so the calls a handler makes from a pool of threads (which
    # run in copies of its context: the DynamoDB store's writes ahead) are its calls too
    _active: ContextVar[bool] = field(default_factory=lambda: ContextVar("handler_span", default=False))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def handler_span(self) -> Iterator[None]:
        token = self._active.set(True)
        try:
            yield
        finally:
            self._active.reset(token)

    def before(self, operation: str) -> None:
        if not self._active.get():
            return
        with self._lock:  # (calls made at once from several threads each get a number of their own)
            self.calls.append(operation)
            self._counts[operation] += 1
            number, count = len(self.calls), self._counts[operation]
            if number == self.fail_at or (operation, count) == self.fail_nth:
                self.fired, self.fired_at = operation, number
            else:
                return
        raise InjectedCrash(f"injected failure of call {number} ({operation} {count})")


@contextmanager
def tapped(tap: CallTap, monkeypatch: Any) -> Iterator[CallTap]:
    original = BaseClient._make_api_call

    def call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        tap.before(f"{client.meta.service_model.service_name}.{operation}")
        return original(client, operation, params)

    def invoke_in_span(*args: Any, **kwargs: Any) -> Any:
        with tap.handler_span():
            return invoke(*args, **kwargs)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)
    monkeypatch.setattr(local.event_source, "invoke", invoke_in_span)
    yield tap


@contextmanager
def tapped_cloud(executors: Any, tap: CallTap) -> Iterator[tuple[LocalCloud, pytest.MonkeyPatch]]:
    """The emulator, on moto in this process, with ``tap`` on the handlers' calls, for one run.

    In this process: one thread drives the handlers, so the server's HTTP hop
    and second process would add nothing but time. A MonkeyPatch per run: the
    tap's wrappers come off again instead of stacking up run after run.
    """
    with (pytest.MonkeyPatch.context() as monkeypatch,
          LocalCloud(executors, quiet=True, in_process=True) as cloud, tapped(tap, monkeypatch)):
        yield cloud, monkeypatch


def start(tap: CallTap, name: str, spec: dict[str, Any] = SPEC) -> str:
    payload = {"spec": spec, "inputs": INPUTS, "name": name}
    for _ in range(START_RETRIES):
        try:
            with tap.handler_span():
                response = invoke(config.START_HANDLER, payload)
        except InjectedCrash:
            continue
        assert "error" not in response, response
        return str(response["execution"])
    raise AssertionError("start never succeeded")


def run_once(cloud: LocalCloud, tap: CallTap, name: str, timeout: float = 60.0,
             spec: dict[str, Any] = SPEC) -> Ending:
    """Start ``spec`` and deliver events until it ends; return how it ended."""
    key = start(tap, name, spec)
    wf = Workflow(key, get_backend())
    driver = EventSourceDriver(cloud.consumers, cloud.client("sqs"), visibility_timeout_seconds=0)
    driver.run(lambda: wf.status in TERMINAL_WORKFLOW_STATUSES, timeout=timeout)
    records = get_backend().load_steps(key)
    return Ending(str(wf.status), wf.outcome, {sid: r.run_id for sid, r in records.items()}, wf.state)


def operations(tap: CallTap) -> Counter[str]:
    return Counter(tap.calls)


def calls_made(tap: CallTap) -> str:
    """``tap``'s calls counted by operation, most made first: "N AWS calls (dynamodb.GetItem 9, ...)"."""
    return f"{len(tap.calls)} AWS calls ({', '.join(f'{op} {n}' for op, n in operations(tap).most_common())})"


R = TypeVar("R")


@dataclass
class Sweep(Generic[R]):
    """The crash runs of one crash test: the calls made to fail, and the runs that did not end as they must."""

    crashes: range
    broken: list[tuple[int, str, R]]  # (call number, the operation that failed, what the run gave)

    @property
    def survived(self) -> str:
        return f"{len(self.crashes) - len(self.broken)}/{len(self.crashes)}"


# A run may make a call fewer than the clean one near its end: whether the send confirmation flushes the
# history buffer depends on the buffer's compressed size, which its timestamps move by a byte or two. A
# crash point among the clean run's last TAIL_CALLS that a run ends before reaching is run again, up to
# RUNS_TO_REACH_A_CALL times; if no run reaches it, the last one must still end well (there was no such call
# to fail). Any other crash point that is never reached fails the test: the injection did not happen.
TAIL_CALLS = 2
RUNS_TO_REACH_A_CALL = 3


def crash_each_call(run: Callable[[CallTap, str], R], name: str, total: int, ended_well: Callable[[R], bool],
                    shard: int = 0, shards: int = 1) -> Sweep[R]:
    """For each crash point of a clean run of ``total`` calls (``crash_points``), a ``run`` with that call made
    to fail and recovery left to the system; each run's result must pass ``ended_well``."""
    crashes = crash_points(total, shard, shards)
    broken: list[tuple[int, str, R]] = []
    for k in crashes:
        for attempt in range(RUNS_TO_REACH_A_CALL if k > total - TAIL_CALLS else 1):
            tap = CallTap(fail_at=k)
            result = run(tap, f"{name}-{k}" + (f"-again-{attempt}" if attempt else ""))
            if tap.fired is not None:
                break
        assert tap.fired is not None or (k > total - TAIL_CALLS and len(tap.calls) < k), \
            f"call {k} was never made: the injection did not happen"
        if not ended_well(result):
            broken.append((k, tap.fired or "(no call: the run ended before it)", result))
    return Sweep(crashes, broken)


def wide_fan_out(width: int) -> dict[str, Any]:
    """A seed, ``width`` workers and a join adding up their results."""
    workers = [f"w{i}" for i in range(width)]
    steps: list[dict[str, Any]] = [{"id": "seed", "fn": "increment", "input": {"value": {"var": "input.start"}}}]
    steps += [{"id": w, "fn": "increment", "depends_on": ["seed"],
               "input": {"value": {"var": "steps.seed.output.incremented"}}} for w in workers]
    steps.append({"id": "join", "fn": "add", "depends_on": workers,
                  "input": {"values": [{"var": f"steps.{w}.output.incremented"} for w in workers]}})
    return {"steps": steps, "outputs": {"sum": {"var": "steps.join.output.sum"}}}


def nth(calls: list[str], operation: str, n: int) -> int:
    """The call number (1-based) of the ``n``-th call of ``operation``."""
    return [i + 1 for i, op in enumerate(calls) if op == operation][n - 1]
