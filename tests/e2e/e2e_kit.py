"""e2e_kit.py -- run a start payload on the local emulator and in-process, and compare how they end.

``run_local`` goes through everything a deployment runs: the start handler,
job messages on op queues, executor Lambdas, their results handed to the
result router by asynchronous Invoke (answers events; the results queue for
timers and Lambda's destination records), wake timers and DLQs. ``run_in_process`` runs the same
spec with ``Backend(executor=execute)`` and ``Workflow.run()``, where
``execute`` is the same function the executor Lambdas wrap (found through
the executors config). Both are reduced to an ``Ending`` to compare.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from local.async_invoke import AsyncEvent
from local.cloud import LocalCloud
from local.deployment import Consumer
from local.event_source import DriveStats, EventSourceDriver, Record
from local.events import EXAMPLES_DIR, load_event
from local.lambda_runtime import invoke, load_handler
from runfox_core import api
from runfox_core.aws import answers, config
from runfox_core.aws.factory import get_backend
from runfox_core.backend.base import Backend
from runfox_core.status import TERMINAL_WORKFLOW_STATUSES
from runfox_core.workflow import Workflow
from runfox_deploy.executors import load_executors_config

EXAMPLES_CONFIG = EXAMPLES_DIR / "executors.json"
EXECUTORS = load_executors_config(EXAMPLES_CONFIG)

MODES = {
    "in-order": {},
    "shuffled": {"shuffle": True, "seed": 7},
    "twice": {"duplicate": True},
    "shuffled-twice": {"shuffle": True, "duplicate": True, "seed": 11},
}


@dataclass(frozen=True)
class Ending:
    """How an execution ended, in terms both runs share (no ids, no run counts)."""

    status: str
    outcome: Any
    error: tuple[str, str, str] | None  # step, type, message
    state: dict[str, Any]


@dataclass
class LocalRun:
    endings: list[Ending]
    stats: DriveStats
    deliveries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (queue, record) first deliveries
    answered: list[str] = field(default_factory=list)  # messages of the answers events, at their first delivery


def ending(wf: Workflow) -> Ending:
    error = wf.error
    return Ending(str(wf.status), wf.outcome,
                  None if error is None else (error["step"], error["type"], error["message"]), wf.state)


def fresh_keys(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``payload`` whose ``inputs.key`` (flaky's call counter) is unique to this run."""
    payload = copy.deepcopy(payload)
    if "key" in payload.get("inputs", {}):
        payload["inputs"]["key"] = f"{payload['inputs']['key']}-{uuid.uuid4().hex}"
    return payload


def execute(op: str, inputs: dict[str, Any]) -> Any:
    """The ``execute`` of the module that handles ``op`` in the executors config."""
    handler = EXECUTORS.ops[op].handler
    assert handler is not None
    return load_handler(handler.rsplit(".", 1)[0] + ".execute")(op, inputs)


ITEMS_BUCKET = "team-data"  # the bucket a map reads its items from (the infra tier's app lists it in items_buckets)


def items_from_payload(cloud: LocalCloud, numbers: list[int]) -> dict[str, Any]:
    """The map pattern reading ``numbers`` from a JSON-lines object in the emulator's S3 (the s3 form)."""
    payload = load_event("map")
    source = "items_from: {s3: {bucket: " + ITEMS_BUCKET + ", key: {var: input.object}, format: jsonl}}"
    payload["spec"] = payload["spec"].replace("items: {var: input.numbers}", source).replace(
        "numbers: {type: array, default: [1, 2, 3, 4, 5, 6, 7]}", "object: {type: string}")
    key = f"exports/{uuid.uuid4().hex}.jsonl"
    s3 = cloud.client("s3")
    if ITEMS_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=ITEMS_BUCKET)
    s3.put_object(Bucket=ITEMS_BUCKET, Key=key, Body="".join(f"{n}\n" for n in numbers).encode())
    payload["inputs"] = {"object": key}
    return payload


def run_in_process(payload: dict[str, Any]) -> Ending:
    request = api.parse_start(fresh_keys(payload))
    wf = Workflow.from_dict(request.spec, Backend(executor=execute), inputs=request.inputs)
    wf.run(timeout=30)
    return ending(wf)


def run_local(cloud: LocalCloud, payloads: list[dict[str, Any]], *, timeout: float = 120.0, **mode: Any) -> LocalRun:
    """Start every payload with the start handler, then drive the event sources until all have ended."""
    keys = []
    for payload in payloads:
        response = invoke(config.START_HANDLER, fresh_keys(payload))
        assert "error" not in response, response
        keys.append(response["execution"])
    handles = [Workflow(key, get_backend()) for key in keys]
    run = LocalRun([], DriveStats())

    def record(consumer: Consumer, records: list[Record], failed: set[str], duplicate: bool) -> None:
        if not duplicate:
            run.deliveries += [(consumer.name, r) for r in records]

    def record_event(event: AsyncEvent, error: BaseException | None, duplicate: bool) -> None:
        if not duplicate and event.attempts == 0:
            run.answered += answers.bodies_of(event.payload) or []

    driver = EventSourceDriver(cloud.consumers, cloud.client("sqs"), visibility_timeout_seconds=0,
                               on_delivery=record, on_event=record_event, **mode)
    run.stats = driver.run(lambda: all(wf.status in TERMINAL_WORKFLOW_STATUSES for wf in handles), timeout=timeout)
    run.endings = [ending(wf) for wf in handles]
    return run
