"""no_wedge_kit.py -- the shapes that once wedged an execution, run on strict moto and in memory.

``strict_limits`` makes a moto DynamoDB client refuse what DynamoDB refuses and
moto lets through: a transaction over 4 MB, any expression over 4 KB, keys
over their size limits, batches over their counts. (moto itself refuses a
transaction over 100 actions and any item, put or updated, in a transaction
or not, over 400 KB.) Each shape (``SHAPES``) is run to its end twice: on DynamoDB + SQS
through the production path (``driver``, ``sqs_executor``, ``ResultRouter``;
the queues in memory, ``QueuesInMemory``),
and in memory through ``Workflow``; the two ``Ending``s must be equal.

Shapes, at width ``w``: a fan-out and join; a loop that resets all of them once;
all their deadlines expiring together (``max_attempts: 2``); a crash between
claiming and sending, then a re-drive; one output merging ``w`` state keys.
Used by tests/aws/test_no_wedge.py (small widths) and bench/no_wedge.py
(1,000 and 10,000).

``HeaderWatch`` records the size of the execution header after every write
to it, so a run can show the header stays within a bound whatever the width;
``on_aws(inline_bytes=...)`` shrinks the header's inline schedule budget, so a
100-wide run spills as a 10,000-wide one does with the deployed budget.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

import runfox_core as rfx
from local.moto_patches import fast_moto_transactions
from runfox_core import driver
from runfox_core.aws import _items
from runfox_core.aws._keys import MAX_PK_BYTES, MAX_SK_BYTES
from runfox_core.aws.dynamodb_store import DynamoDBStore
from runfox_core.aws.executor import sqs_executor
from runfox_core.aws.sqs_runner import SQSRunner
from runfox_core.backend import InMemoryStore, InProcessRunner
from runfox_core.results import Complete, Dispatch, Failed, Halt

TOKEN = "work"
START = 1_800_000_000.0
HANG_FOR = 1_000.0  # seconds the fake clock moves when jobs are left unanswered (past every deadline)


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


# ----------------------------------------------------------------- strict moto


def _refuse(op: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": message}}, op)


def _check_key(op: str, key: dict[str, Any]) -> None:
    if len(key["pk"]["S"].encode()) > MAX_PK_BYTES or len(key["sk"]["S"].encode()) > MAX_SK_BYTES:
        raise _refuse(op, "One or more parameter values were invalid: key too large")


def _check_expressions(op: str, params: dict[str, Any]) -> None:
    for name, value in params.items():
        if name.endswith("Expression") and len(value.encode()) > _items.MAX_EXPRESSION_BYTES:
            raise _refuse(op, f"{name} is {len(value.encode())} bytes; the limit is {_items.MAX_EXPRESSION_BYTES}")


def strict_limits(client: Any, table: str) -> Any:
    """Make ``client`` refuse, as DynamoDB would, what moto accepts (see the module docstring)."""
    def before(params: dict[str, Any], model: Any, **_: Any) -> None:
        op = model.name
        _check_expressions(op, params)
        if op == "TransactWriteItems":
            total = 0
            for action in params["TransactItems"]:
                ((kind, body),) = action.items()
                _check_expressions(op, body)
                if kind == "Put":
                    _check_key(op, body["Item"])
                    total += _items.item_size(body["Item"])
                else:
                    _check_key(op, body["Key"])
            if total > _items.MAX_TRANSACTION_BYTES:
                raise _refuse(op, f"transaction of {total} bytes; the limit is {_items.MAX_TRANSACTION_BYTES}")
        elif op in ("PutItem",):
            _check_key(op, params["Item"])
        elif op in ("UpdateItem", "GetItem", "DeleteItem"):
            _check_key(op, params["Key"])
        elif op == "BatchGetItem":
            keys = [k for t in params["RequestItems"].values() for k in t["Keys"]]
            if len(keys) > _items.MAX_BATCH_GET_KEYS:
                raise _refuse(op, "too many keys in one BatchGetItem")
            for k in keys:
                _check_key(op, k)
        elif op == "BatchWriteItem":
            if sum(len(r) for r in params["RequestItems"].values()) > _items.MAX_BATCH_WRITE_ITEMS:
                raise _refuse(op, "too many requests in one BatchWriteItem")
        elif op == "TransactGetItems" and len(params["TransactItems"]) > _items.MAX_TRANSACTION_ITEMS:
            raise _refuse(op, "too many items in one TransactGetItems")

    client.meta.events.register("provide-client-params.dynamodb.*", before)
    return client


class HeaderWatch:
    """The largest execution header item seen after each DynamoDB call that wrote one (read back with
    ``reader``, a client not watched): ``largest``; and the largest item any call wrote, header or
    not: ``largest_item`` bytes, its sort key ``largest_item_sk``. A put's item is measured as sent;
    an update is read back when it is the header's (the other updates, tombstones and ``mark_sent``,
    only remove attributes)."""

    def __init__(self, client: Any, reader: Any, table: str):
        self.reader, self.table, self.largest = reader, table, 0
        self.largest_item, self.largest_item_sk = 0, ""
        self._keys: dict[int, list[dict[str, Any]]] = {}
        client.meta.events.register("provide-client-params.dynamodb.*", self._before)
        client.meta.events.register("after-call.dynamodb.*", self._after)

    def _seen(self, item: dict[str, Any]) -> None:
        size = _items.item_size(item)
        if size > self.largest_item:
            self.largest_item, self.largest_item_sk = size, item["sk"]["S"]

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        keys = []
        if model.name == "TransactWriteItems":
            for action in params["TransactItems"]:
                ((kind, body),) = action.items()
                keys.append(body["Item"] if kind == "Put" else body["Key"])
                if kind == "Put":
                    self._seen(body["Item"])
        elif model.name in ("UpdateItem", "PutItem"):
            keys.append(params.get("Key") or params["Item"])
            if model.name == "PutItem":
                self._seen(params["Item"])
        elif model.name == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    if "PutRequest" in request:
                        self._seen(request["PutRequest"]["Item"])
        self._keys[id(params)] = [{"pk": k["pk"], "sk": k["sk"]} for k in keys if k["sk"]["S"] == "header"]
        self._last = id(params)

    def _after(self, **_: Any) -> None:
        for key in self._keys.pop(self._last, []):
            item = self.reader.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
            if item:
                self.largest = max(self.largest, _items.item_size(item))
                self._seen(item)


class QueuesInMemory:
    """The SQS calls the runner and executor make, on in-memory queues (moto's SQS rescans every
    message on each receive, which dominates a wide run; SQS is not what these shapes test).
    A delayed message (a deadline timer) is held back: these runs move a fake clock instead."""

    def __init__(self) -> None:
        self.queues: dict[str, list[str]] = {}
        self.delayed = 0

    def send_message(self, QueueUrl: str, MessageBody: str, DelaySeconds: int = 0) -> dict[str, Any]:  # noqa: N803
        if DelaySeconds:
            self.delayed += 1
        else:
            self.queues.setdefault(QueueUrl, []).append(MessageBody)
        return {}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        for entry in Entries:
            self.send_message(QueueUrl, entry["MessageBody"], entry.get("DelaySeconds", 0))
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def take(self, url: str) -> list[str]:
        bodies, self.queues[url] = self.queues.get(url, []), []
        return bodies


# --------------------------------------------------------------------- shapes


def _worker(i: int) -> dict[str, Any]:
    return {"id": f"w{i}", "fn": TOKEN, "depends_on": ["seed"], "input": {"key": f"k{i}", "x": 1}}


def fan_out(w: int) -> dict[str, Any]:
    steps = [{"id": "seed", "fn": TOKEN, "input": {"x": 0}}, *(_worker(i) for i in range(w)),
             {"id": "join", "fn": TOKEN, "depends_on": [f"w{i}" for i in range(w)],
              "input": {"x": 0, "all": {"var": "state"}}}]
    return {"steps": steps, "outputs": {"n": {"var": "steps.join.output.n"}}}


def loop(w: int) -> dict[str, Any]:
    spec = fan_out(w)
    join = spec["steps"][-1]
    join["input"] = {"x": 0, "round": {"var": ["state.round", 0]}, "all": {"var": "state"}}
    join["branch"] = [{"condition": {"<": [{"var": "round"}, 1]}, "action": {"set": "seed"}},
                      {"condition": True, "action": "complete"}]
    spec["outputs"] = {"n": {"var": "steps.join.output.n"}, "round": {"var": "state.round"}}
    return spec


def deadlines(w: int) -> dict[str, Any]:
    spec = fan_out(w)
    for step in spec["steps"][1:-1]:
        step.update(timeout_seconds=600, max_attempts=2, retry={"backoff_seconds": 0})
    return spec


def merge(w: int) -> dict[str, Any]:
    return {"steps": [{"id": "seed", "fn": TOKEN, "input": {"x": 0, "merge": w}},
                      {"id": "count", "fn": TOKEN, "depends_on": ["seed"], "input": {"x": 0, "all": {"var": "state"}}}],
            "outputs": {"n": {"var": "steps.count.output.n"}}}


SHAPES = {"fan_out": fan_out, "loop": loop, "deadlines": deadlines, "crash": fan_out, "merge": merge}


def execute(token: str, inputs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"x": inputs.get("x", 0) + 1}
    if "key" in inputs:
        out[inputs["key"]] = 1
    if "merge" in inputs:
        out.update({f"m{i:05d}": i for i in range(inputs["merge"])})
    if "all" in inputs:
        out["n"] = len(inputs["all"])
        out["round"] = inputs.get("round", 0) + 1
    return out


@dataclass(frozen=True)
class Ending:
    status: str
    outcome: Any
    run_ids: dict[str, int]
    state: dict[str, Any]


def _ending(backend: rfx.Backend, key: str) -> Ending:
    wf = rfx.Workflow(key, backend)
    records = backend.load_steps(key)
    return Ending(str(wf.status), wf.outcome, {s: r.run_id for s, r in records.items()}, wf.state)


# -------------------------------------------------------------------- in memory


def in_memory(shape: str, w: int) -> Ending:
    clock = FakeClock()
    backend = rfx.Backend(store=InMemoryStore(), runner=InProcessRunner(), clock=clock)
    wf = rfx.Workflow.from_dict(SHAPES[shape](w), backend)
    hang = shape == "deadlines"
    while True:
        result = wf.advance()
        if isinstance(result, (Complete, Halt, Failed)):
            return _ending(backend, wf.id)
        if isinstance(result, Dispatch):
            wf.dispatch(result.jobs)
        jobs = backend.take_tasks()
        if hang and any(job.timeout_seconds for job in jobs):  # the first attempts never answer
            hang, clock.now = False, clock.now + HANG_FOR
            jobs = [job for job in jobs if not job.timeout_seconds]
            if not jobs:
                continue
        if not jobs:
            raise AssertionError(f"{shape} w={w}: stalled in memory")
        for job in jobs:  # as an executor harness would: references in the inputs read first
            wf.on_step_result(job.step, execute(job.token, backend.codec.unpack(job.inputs)), run_id=job.run_id)


# --------------------------------------------------------------- DynamoDB + SQS


class _CrashOnce:
    """An SQSRunner whose first dispatch dies after the claims were committed, before any send."""

    def __init__(self, runner: SQSRunner):
        self.runner, self.crashed = runner, False

    def dispatch(self, key: str, jobs: list[Any]) -> list[Any]:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("the Lambda died between claiming and sending")
        return self.runner.dispatch(key, jobs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runner, name)


def on_aws(kit: Any, shape: str, w: int, grace: float = 60.0, inline_bytes: int | None = None,
           watch: list[HeaderWatch] | None = None, blobs: Any = None) -> Ending:
    """Run ``shape`` at width ``w`` on DynamoDB + SQS (``kit``: tests/aws AwsKit) to its end; with
    ``inline_bytes``, the header's inline budget per schedule; ``watch`` receives a HeaderWatch;
    ``blobs``: the blob store values over 8 KB go to, for the engine and the executor (as deployed:
    the values bucket); without it they stay inline, up to 192 KiB."""
    with fast_moto_transactions():
        return _on_aws(kit, shape, w, grace, inline_bytes, watch, blobs)


def _on_aws(kit: Any, shape: str, w: int, grace: float, inline_bytes: int | None,
            watch: list[HeaderWatch] | None, blobs: Any) -> Ending:
    from aws_kit import sqs_event

    clock = FakeClock()
    ddb = strict_limits(kit.client("dynamodb"), kit.workflows_table)
    if watch is not None:
        watch.append(HeaderWatch(ddb, kit.client("dynamodb"), kit.workflows_table))
    sqs = QueuesInMemory()
    queue = f"https://sqs.local/runfox-{TOKEN}"
    runner: Any = SQSRunner({TOKEN: queue}, kit.results_url, sqs_client=sqs, clock=clock)
    if shape == "crash":
        runner = _CrashOnce(runner)
    store = DynamoDBStore(kit.workflows_table, client=ddb)
    if inline_bytes is not None:
        store.schedule_inline_bytes = inline_bytes
    backend = rfx.Backend(store=store, runner=runner, clock=clock, unsent_grace_seconds=grace, blobs=blobs)
    handler = sqs_executor(execute, results_queue_url=kit.results_url, sqs_client=sqs, blobs=blobs)
    key = backend.create(SHAPES[shape](w))
    try:
        driver.advance_execution(backend, key)
    except RuntimeError:  # the crash: the safety wake re-drives once the claims are stale
        clock.now += grace + 1
        driver.advance_execution(backend, key)
    hang = shape == "deadlines"
    while str(backend.load_header(key).status) not in ("complete", "failed", "halted"):
        jobs = sqs.take(queue)
        if hang and any(json.loads(body)["timeout_seconds"] for body in jobs):
            # the first attempts never answer; a wake finds every deadline past
            hang, clock.now = False, clock.now + HANG_FOR
            jobs = [body for body in jobs if not json.loads(body)["timeout_seconds"]]
            driver.advance_execution(backend, key)
            continue
        for start in range(0, len(jobs), 10):
            handler(sqs_event(*jobs[start:start + 10]), None)
        bodies = sqs.take(kit.results_url)
        for start in range(0, len(bodies), 10):
            router = driver.ResultRouter(backend, bodies[start:start + 10])
            for body in bodies[start:start + 10]:
                router.handle(body)
        if not jobs and not bodies:
            raise AssertionError(f"{shape} w={w}: stalled on DynamoDB in {backend.load_header(key).status}")
    return _ending(backend, key)
