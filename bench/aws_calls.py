"""aws_calls.py -- AWS API calls, DynamoDB request units and dollars per step on DynamoDB + SQS.

Runs a chain of N steps and an N-step fan-out/fan-in (seed, N-2 workers,
one join reading every worker's state key) through the real production
path against moto: ``driver.start_execution`` with
``Backend(DynamoDBStore, SQSRunner)``; executor batches through
``sqs_executor`` (up to 10 jobs per invocation), which hands its results to
the router by an asynchronous Invoke, as the kit's executors do
(``answers.py``: Lambda's acceptance is played by a botocore hook, the call
counted with ours); each answers event, and each batch that reaches the
results queue, through ``driver.ResultRouter`` as one router invocation,
exactly as the Lambdas do. The simulated event source mappings
(ReceiveMessage + DeleteMessageBatch, counted when they return messages) are
the platform's calls, counted apart from ours.

Calls are counted with botocore ``provide-client-params`` hooks on each
client. Request units are computed from item sizes (moto's consumed
capacity is fixed, not computed): writes ceil(size/1 KB) per item, x2 in a
transaction, an update billed at max(size before, size after); strongly
consistent reads ceil(size/4 KB) per item (x2 in TransactGetItems), at
least 1 per key asked. SQS: one request per call (every message < 64 KB),
ours and the event sources' ReceiveMessage + DeleteMessageBatch.

Engine Lambdas (start, advance, result-router; the executors are the user's
work, counted apart): one request per invocation, and GB-seconds from each
invocation's duration measured in this run: its wall time minus the time
spent inside moto (timed around every AWS call), plus a round trip per AWS
call of ``LATENCY_DYNAMODB_S`` / ``LATENCY_SQS_S`` (typical in-region
latencies, an assumption: moto in-process is slower than the real services),
rounded up to 1 ms per invocation as Lambda bills, at ``ENGINE_MEMORY_MB``
on arm64 (``runfox_deploy/facts.py``).

Retention is on, as deployed (``runfox:retentionDays``, 90): every item is
stamped with ``expires_at`` when it is written (``aws/_ddb_retention.py``),
so an execution's end costs no sweep; a run shorter than half
a day is never renewed, so these figures hold no renewal.
``--no-retention`` runs the same without it (``execution_ttl_seconds=None``),
so the difference is what retention costs.

Wait rows (issue 16): the chain with a wait for an event before every step
but the first, less the chain; and the same with callback waits. Once the
router's commit has begun a wait (it sent no job and the execution goes on),
the event is sent at once through the advance Lambda (``api.run_advance``,
action ``send_event``), or the callback answered (action ``callback``, with
the token read beforehand by an uncounted ``describe``, as a worker would
have it from there or from the history): the event source mappings receive
nothing meanwhile, and their empty long polls are the idle cost below (per
month), not a wait's.

The start's safety wake (a delayed message on the results queue, one per
execution, ``operations._arm_safety_wake``) is sent in every row (its
SendMessage is counted) but delivered in none: the backend's grace is
``SAFETY_WAKE_GRACE_S``, longer than any run, so a slow row (a callback row
reads each token with an uncounted ``describe``) is not charged a delivery a
fast one escapes. Its delivery is once per execution, whatever its length:
one hop (a router invocation and a header read, about $1.63 per million, the
README's timers), not a step's or a wait's.

Critical path per step: between one executor handing over its result and
the next job being sent, one queue hop (the op queue) and the router's
Invoke, and the DynamoDB round trips the router makes before its first job
send, counted in the router invocations that dispatched something (the
fewest and the most, where they differ). Calls
a store makes at once from its pool of threads (claims and evictions put
ahead) are one round trip.

Idle cost of a deployed stack per month: each SQS event source mapping
long-polls its queue (``IDLE_POLLERS`` concurrent 20-second receives, since
the stack sets maximum concurrency and so Lambda's scale-down to 2 pollers is
unavailable); the stack maps the results queue, and per op its queue and its
dead-letter queue; the stack's CloudWatch alarms (``runfox_deploy.facts.
alarm_count``: per queue its dead-letter and oldest-message alarms, per
function its errors and throttles, plus WorkflowsFailed; every op here has an
executor Lambda) and its dashboard. DynamoDB on demand and Lambda cost
nothing idle (storage aside).

Prices (us-east-1, list prices): DynamoDB on demand $0.625 per million
write request units, $0.125 per million read request units; SQS standard
$0.40 per million requests; Lambda arm64 $0.20 per million requests and
$0.0000133334 per GB-second; CloudWatch standard alarm $0.10 per month and
dashboard $3.00 per month;
Step Functions Standard $25 per million state transitions; Lambda durable
functions $8.00 per million durable operations plus $0.25 per GB written.
Free tiers are left out.

Map rows (issue 13): a map step over N items of about 100 bytes (listed by
``PAGE_ITEMS``-item page steps, counted in the totals), with ``batch`` 1 and
10, results of about 100 bytes (and 1 KB with batch 10), ``keep_results``
on; figures per item. As deployed, every row has the values bucket
(``S3BlobStore`` on moto's S3, its calls counted with ours): the page steps'
outputs (about 100 KB) and the map's ``results`` (1 MB for 10,000 items of
100 bytes or 1,000 of 1 KB) go by reference, one PutObject each where they
are made and one GetObject where they are read, with S3 requests and
storage in the all-in price as in the payload rows below. The ``map b1 jsonl``
row reads the same items from one JSON-lines object in another bucket
(``items_from``, uploaded before the run and not counted): one GetObject
instead of the page steps; it runs with ``--items-from`` (it takes as long as
``map b1``, so the default run leaves it out).

Usage: python bench/aws_calls.py [--sizes 10,200] [--map-sizes 1000,10000] [--no-steps] [--items-from]
       [--payloads-only]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

import runfox_core as rfx  # noqa: E402
from local.moto_patches import fast_moto_transactions  # noqa: E402
from runfox_core import api, driver, operations  # noqa: E402
from runfox_core.aws import _items, answers  # noqa: E402
from runfox_core.aws._sqs import MAX_DELAY_SECONDS  # noqa: E402
from runfox_core.aws.config import DEFAULT_EXECUTION_RETENTION_DAYS  # noqa: E402
from runfox_core.aws.dynamodb_store import DynamoDBStore  # noqa: E402
from runfox_core.aws.executor import sqs_executor  # noqa: E402
from runfox_core.aws.s3_blobs import S3BlobStore  # noqa: E402
from runfox_core.aws.sqs_runner import SQSRunner  # noqa: E402
from runfox_core.aws.tables import create_tables  # noqa: E402
from runfox_deploy import facts  # noqa: E402
from tests.aws.aws_kit import sqs_event  # noqa: E402

PRICE_WRU = 0.625 / 1e6  # $ per write request unit
PRICE_RRU = 0.125 / 1e6  # $ per read request unit
PRICE_SQS = 0.40 / 1e6  # $ per SQS request
PRICE_LAMBDA_REQUEST = 0.20 / 1e6  # $ per Lambda request (arm64)
PRICE_LAMBDA_GBS = 0.0000133334  # $ per GB-second (arm64)
PRICE_ALARM = 0.10  # $ per standard CloudWatch alarm per month
PRICE_DASHBOARD = 3.00  # $ per CloudWatch dashboard per month (past the free tier's three)
PRICE_S3_PUT = 0.005 / 1000  # $ per PutObject (S3 Standard)
PRICE_S3_GET = 0.0004 / 1000  # $ per GetObject
PRICE_S3_GB_MONTH = 0.023  # $ per GB-month stored (S3 Standard, first 50 TB)
PRICE_SFN = 25.0 / 1e6  # $ per Step Functions Standard state transition
PRICE_DURABLE_OP = 8.0 / 1e6  # $ per Lambda durable functions operation
PRICE_DURABLE_GB = 0.25  # $ per GB written by durable functions
PRICE_S3_PUT = 0.005 / 1000  # $ per PutObject (S3 Standard)
PRICE_S3_GET = 0.0004 / 1000  # $ per GetObject
PRICE_S3_GB_MONTH = 0.023  # $ per GB-month stored (S3 Standard, first 50 TB)
LATENCY_DYNAMODB_S = 0.006  # assumed round trip of one DynamoDB call from Lambda (s)
LATENCY_SQS_S = 0.010  # assumed round trip of one SQS call from Lambda (s)
IDLE_POLLERS = 5  # concurrent long polls per event source mapping at idle
POLLS_PER_MINUTE = 3  # one 20-second long poll at a time per poller
MINUTES_PER_MONTH = 60 * 24 * 30
TARGET_CALLS_PER_STEP = 8
TARGET_DOLLARS = 5.0  # all in, per million steps
TARGET_WRU = 5.0  # write units per step
SAFETY_WAKE_GRACE_S = 900.0  # the grace before the safety wake (SQS's longest delay): past any run (docstring)
TARGET_WAIT_CALLS = 3  # API calls per completed wait (issue 16)
TARGET_WAIT_DOLLARS = 2.0  # all in, per million completed waits


def chain(n: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"id": "s0", "fn": "inc", "input": {"x": {"var": "input.x"}}}]
    steps += [{"id": f"s{i}", "fn": "inc", "depends_on": [f"s{i - 1}"],
               "input": {"x": {"var": f"steps.s{i - 1}.output.x"}}} for i in range(1, n)]
    return {"steps": steps, "outputs": {"x": {"var": f"steps.s{n - 1}.output.x"}}}


def _chain_with_waits(n: int, wait: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    """``chain(n)`` with a step ``w<i>`` waiting (``wait(i)``, its block) before every step but the first."""
    spec = chain(n)
    steps = [spec["steps"][0]]
    for i, step in enumerate(spec["steps"][1:], start=1):
        steps.append({"id": f"w{i}", "depends_on": [f"s{i - 1}"], "wait": wait(i)})
        steps.append({**step, "depends_on": [f"w{i}"]})
    return {**spec, "steps": steps}


def chain_with_waits(n: int) -> dict[str, Any]:
    """``chain(n)`` with a wait for event ``go<i>`` (matched on its sequence number) before every step but the first."""
    return _chain_with_waits(n, lambda i: {"event": f"go{i}", "match": {"==": [{"var": "event.seq"}, i]}})


def chain_with_callbacks(n: int) -> dict[str, Any]:
    """``chain(n)`` with a callback wait before every step but the first (its output the next step's input)."""
    return _chain_with_waits(n, lambda i: {"callback": True})


WAIT_ROWS = {"chain+waits": chain_with_waits, "chain+callbacks": chain_with_callbacks}


def fan_out_in(n: int) -> dict[str, Any]:
    workers = [f"w{i}" for i in range(n - 2)]
    steps: list[dict[str, Any]] = [{"id": "seed", "fn": "inc", "input": {"x": {"var": "input.x"}}}]
    steps += [{"id": w, "fn": "inc", "depends_on": ["seed"],
               "input": {"x": {"var": "steps.seed.output.x"}, "key": w}} for w in workers]
    steps.append({"id": "join", "fn": "inc", "depends_on": workers, "input": {"x": 0, "all": {"var": "state"}}})
    return {"steps": steps, "outputs": {"n": {"var": "steps.join.output.x"}}}


PAGE_ITEMS = 1000  # item keys per listing step of a map row (about 100 KB of output)
MAP_ROWS = {"map b1": (1, 100), "map b10": (10, 100), "map b10 1KB": (10, 1000),  # batch, result bytes
            "map b1 jsonl": (1, 100)}  # its items from a JSON-lines object (items_from), not page steps
ITEMS_BUCKET = "team-data"  # where the jsonl row's object is, uploaded before the run (not counted)


def items_object(n: int) -> tuple[str, bytes]:
    """The jsonl row's object: its key and the ``n`` item keys, one JSON string per line."""
    return f"exports/{n}.jsonl", "".join(f'"{_item_key(i)}"\n' for i in range(n)).encode()


def map_spec(shape: str, n: int) -> dict[str, Any]:
    """A map row: page steps listing ``n`` items of ~100 bytes, one map over all of them."""
    batch, result_bytes = MAP_ROWS[shape]
    if shape.endswith("jsonl"):  # the same items, read from one object: one GetObject, no page steps
        source = {"items_from": {"s3": {"bucket": ITEMS_BUCKET, "key": items_object(n)[0], "format": "jsonl"}}}
        return {"steps": [{"id": "work", "map": {**source, "fn": "inc", "batch": batch, "max_concurrency": 100,
                                                 "input": {"doc": {"var": "item"}, "bytes": result_bytes}}}],
                "outputs": {"n": {"var": "steps.work.output.succeeded"}}}
    pages = [f"p{i}" for i in range(-(-n // PAGE_ITEMS))]
    steps: list[dict[str, Any]] = [
        {"id": p, "fn": "inc", "input": {"page": i * PAGE_ITEMS, "count": min(PAGE_ITEMS, n - i * PAGE_ITEMS)}}
        for i, p in enumerate(pages)]
    steps.append({"id": "work", "depends_on": pages, "map": {
        "items": {"merge": [{"var": f"steps.{p}.output.keys"} for p in pages]}, "fn": "inc",
        "input": {"doc": {"var": "item"}, "bytes": result_bytes}, "batch": batch, "max_concurrency": 100}})
    return {"steps": steps, "outputs": {"n": {"var": "steps.work.output.succeeded"}}}


def _digest_text(seed: str, size: int) -> str:
    """``size`` hex digits that depend on ``seed``: like the hashes, ids and vectors of real items and
    results, they compress to about half (zlib), so the figures do not rest on repetitive text."""
    out, counter = [], 0
    while len(out) * 64 < size:
        out.append(hashlib.sha256(f"{seed}/{counter}".encode()).hexdigest())
        counter += 1
    return "".join(out)[:size]


def _item_key(i: int) -> str:
    """An item of about 100 bytes: a document key with a content hash, as a listing step returns."""
    return f"{i:08d}/corpus/documents/{_digest_text(str(i), 64)}.json"


def execute(token: str, inputs: Any) -> Any:
    if isinstance(inputs, list):  # a map's batch
        return [execute(token, one) for one in inputs]
    if "page" in inputs:
        return {"keys": [_item_key(i) for i in range(inputs["page"], inputs["page"] + inputs["count"])]}
    if "doc" in inputs:
        return {"doc": inputs["doc"][:8], "r": _digest_text(inputs["doc"], inputs["bytes"] - 26)}
    out: dict[str, Any] = {"x": (inputs.get("x") or 0) + 1}
    if "key" in inputs:
        out[inputs["key"]] = out["x"]  # one state key per worker
    return out


class Meter:
    """Counts API calls by operation and computes DynamoDB request units from item sizes."""

    def __init__(self, reader: Any, table: str):
        self.reader, self.table = reader, table  # an unmetered client, to size updated items
        self.calls: Counter[str] = Counter()
        self.wru = self.rru = 0.0
        self.history_wru = 0.0  # of which history items (flushes, wide commits' events)
        self.index_wru = 0.0  # of which the listing indexes (GSI writes: creates and status changes)
        self.by_item: Counter[str] = Counter()  # write units by "how written: item kind" (--breakdown)
        self._status: dict[str, str] = {}  # header pk -> last status written
        self._params: dict[int, dict[str, Any]] = {}
        self._sizes: dict[tuple[str, str], int] = {}  # item key -> last known size
        self.aws_seconds = 0.0  # time spent inside moto (subtracted from handler durations)
        self.s3_bytes = 0  # bytes written to the values bucket (PutObject bodies)
        self.sequence: list[str] = []  # "service.Operation" of every call, in order
        self.aside: list[bool] = []  # per call of ``sequence``: made by a pool thread, beside others at once
        self._started: dict[int, float] = {}
        self._aside_until = 0.0  # when the last call made beside others ended

    def attach(self, client: Any) -> Any:
        client.meta.events.register("provide-client-params.*.*", self._before)
        client.meta.events.register("after-call.dynamodb.*", self._after)
        client.meta.events.register("after-call.*.*", self._timed)
        return client

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        if model.name == "PutObject":
            self.s3_bytes += len(params["Body"])
        self._params[threading.get_ident()] = params
        self.sequence.append(f"{model.service_model.service_name}.{model.name}:{params.get('QueueUrl', '')}")
        self.aside.append(threading.current_thread() is not threading.main_thread())
        self._started[threading.get_ident()] = time.perf_counter()

    def _timed(self, **_: Any) -> None:
        started = self._started.pop(threading.get_ident(), None)
        if started is None:
            return
        ended = time.perf_counter()
        if threading.current_thread() is threading.main_thread():
            self.aws_seconds += ended - started
        else:  # calls at once: the time any of them was in flight, counted once
            self.aws_seconds += max(0.0, ended - max(started, self._aside_until))
            self._aside_until = max(self._aside_until, ended)

    def round_trips(self, start: int, end: int, service: str = "") -> list[str]:
        """The calls of ``sequence[start:end]`` (of ``service``, if given) one after the other: a run of
        calls made at once by pool threads counts as one round trip (its first call)."""
        trips = []
        for i in range(start, end):
            if self.sequence[i].startswith(service) and not (self.aside[i] and i > start and self.aside[i - 1]
                                                            and self.sequence[i - 1].startswith(service)):
                trips.append(self.sequence[i])
        return trips

    def _size_now(self, key: dict[str, Any]) -> int:
        item = self.reader.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        return _items.item_size(item) if item else 0

    def _write(self, key: dict[str, Any], size: int, transactional: bool, how: str) -> None:
        ident = (key["pk"]["S"], key["sk"]["S"])
        billed = max(size, self._sizes.get(ident, 0))
        self._sizes[ident] = size
        self.wru += _items.write_units(billed, transactional)
        self.by_item[f"{how}: {ident[1].split('#')[0]}"] += _items.write_units(billed, transactional)
        if ident[1].startswith("history#"):
            self.history_wru += _items.write_units(billed, transactional)

    def _index(self, pk: str, status: str | None, created: dict[str, Any] | None = None) -> None:
        """GSI writes (``config.LIST_INDEXES``): a new header is put in by_status, by_start and (named)
        by_name; a status change deletes and puts its by_status entry. Index entries are under 1 KB."""
        units = 0
        if created is not None:
            units = 3 if "name" in created else 2
        elif status is not None and self._status.get(pk) not in (None, status):
            units = 2
        if status is not None:
            self._status[pk] = status
        self.wru += units
        self.index_wru += units

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        op, params = model.name, self._params.pop(threading.get_ident(), {})
        if "Error" in parsed:
            return
        if op == "TransactWriteItems":
            for action in params["TransactItems"]:
                if "Put" in action:
                    item = action["Put"]["Item"]
                    self._write({"pk": item["pk"], "sk": item["sk"]}, _items.item_size(item), True, "transaction put")
                    if item["sk"]["S"] == "header":
                        self._index(item["pk"]["S"], item["status"]["S"], created=item)
                else:
                    key = action["Update"]["Key"]
                    self._write(key, self._size_now(key), True, "transaction update")
                    status = action["Update"].get("ExpressionAttributeValues", {}).get(":st")
                    if key["sk"]["S"] == "header" and status:
                        self._index(key["pk"]["S"], status["S"])
        elif op == "UpdateItem":
            self._write(params["Key"], self._size_now(params["Key"]), False, "UpdateItem")
        elif op == "PutItem":
            item = params["Item"]
            self._write({"pk": item["pk"], "sk": item["sk"]}, _items.item_size(item), False, "PutItem")
            if item["sk"]["S"] == "header":  # a create without a name ("Create" in dynamodb_store)
                self._index(item["pk"]["S"], item["status"]["S"], created=item)
        elif op == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for r in requests:
                    units = _items.write_units(_items.item_size(r["PutRequest"]["Item"]))
                    self.wru += units
                    self.by_item[f"BatchWriteItem: {r['PutRequest']['Item']['sk']['S'].split('#')[0]}"] += units
        elif op == "GetItem":
            self.rru += _read_units(parsed.get("Item"))
        elif op == "BatchGetItem":
            asked = sum(len(t["Keys"]) for t in params["RequestItems"].values())
            got = [i for items in parsed.get("Responses", {}).values() for i in items]
            self.rru += sum(_read_units(i) for i in got) + (asked - len(got))
        elif op == "Query":
            size = sum(_items.item_size(i) for i in parsed.get("Items", []))
            self.rru += max(1, math.ceil(size / 4096))
        elif op == "TransactGetItems":
            self.rru += sum(2 * _read_units(r.get("Item")) for r in parsed.get("Responses", []))


def _read_units(item: dict[str, Any] | None) -> int:
    return max(1, math.ceil(_items.item_size(item) / 4096)) if item else 1


def run(shape: str, n: int, retention: bool = True) -> dict[str, Any]:
    spec = map_spec(shape, n) if shape in MAP_ROWS else \
        {"chain": chain, **WAIT_ROWS}.get(shape, fan_out_in)(n)
    with mock_aws(), fast_moto_transactions():
        admin = boto3.client("dynamodb")
        admin_sqs = boto3.client("sqs")  # the platform: Lambda's event source mappings
        create_tables(admin, "workflows")
        boto3.client("s3").create_bucket(Bucket="values")
        if shape.endswith("jsonl"):  # the caller's export, there before the execution starts
            key, body = items_object(n)
            boto3.client("s3").create_bucket(Bucket=ITEMS_BUCKET)
            boto3.client("s3").put_object(Bucket=ITEMS_BUCKET, Key=key, Body=body)
        op_queue = admin_sqs.create_queue(QueueName="runfox-inc")["QueueUrl"]
        results = admin_sqs.create_queue(QueueName="runfox-results")["QueueUrl"]
        meter = Meter(admin, "workflows")
        ddb, sqs = meter.attach(boto3.client("dynamodb")), meter.attach(boto3.client("sqs"))
        runner = SQSRunner({"inc": op_queue}, results, sqs_client=sqs)
        ttl = DEFAULT_EXECUTION_RETENTION_DAYS * 86_400 if retention else None
        store = DynamoDBStore("workflows", client=ddb, execution_ttl_seconds=ttl)
        backend = rfx.Backend(store=store, runner=runner, unsent_grace_seconds=SAFETY_WAKE_GRACE_S,
                              blobs=S3BlobStore("values", client=meter.attach(boto3.client("s3"))))
        handler, handed = answering_executor(meter, execute, results)
        platform: Counter[str] = Counter()

        def take(url: str) -> list[dict[str, Any]]:
            msgs = admin_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if msgs:  # (an empty receive is the event source's idle long poll: the idle cost below)
                platform["ReceiveMessage"] += 1
                platform["DeleteMessageBatch"] += 1
                admin_sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
            return msgs

        engine: list[float] = []  # billed seconds of each engine Lambda invocation
        paths: list[int] = []  # DynamoDB round trips before the first job send, per dispatching router call
        handled: list[int] = []  # where in meter.sequence each routed message began
        executors = 0

        def invoke(fn: Any, *args: Any, router: bool = False) -> Any:
            wall, aws, mark = time.perf_counter(), meter.aws_seconds, len(meter.sequence)
            out = fn(*args)
            seq = meter.sequence[mark:]
            ours = (time.perf_counter() - wall) - (meter.aws_seconds - aws)
            latency = sum(LATENCY_DYNAMODB_S if c.startswith("dynamodb") else LATENCY_SQS_S
                          for c in meter.round_trips(mark, len(meter.sequence)))
            engine.append(math.ceil((ours + latency) * 1000) / 1000)
            sends = [mark + i for i, c in enumerate(seq) if c.endswith(op_queue) and "SendMessage" in c]
            if router and sends:  # from the start of the message that unblocked the send, to the send
                since = max(m for m in handled if m < sends[0])
                paths.append(len(meter.round_trips(since, sends[0], "dynamodb")))
            return out

        started = invoke(driver.start_execution, backend, spec, {"x": 0})
        sent = 0  # events sent (chain+waits)
        waiting = False  # the last router call sent no job and the execution goes on: a wait began
        status = started.status
        while status not in (rfx.WorkflowStatus.COMPLETE, rfx.WorkflowStatus.FAILED, rfx.WorkflowStatus.HALTED):
            payload_cache_clear()  # every Lambda is its own process: nothing read is cached across them
            if waiting:  # every step waits for its event (or callback): answer it as the advance Lambda does
                sent += 1
                if shape == "chain+waits":
                    answer = {"execution": started.execution, "action": "send_event", "event": f"go{sent}",
                              "payload": {"seq": sent}, "event_id": f"go-{sent}"}
                else:  # the worker got its token beforehand (from describe or the history): not counted here
                    token = operations.describe(rfx.Backend(store=DynamoDBStore("workflows", client=admin)),
                                                started.execution).waiting[f"w{sent}"]["token"]
                    answer = {"action": "callback", "token": token, "output": {"seq": sent}}
                status = invoke(api.run_advance, backend, api.parse_advance(answer)).status
                waiting = False
                continue
            jobs = take(op_queue)
            if jobs:
                executors += 1
                handler(sqs_event(*(m["Body"] for m in jobs)), None)
            queued = [m["Body"] for m in take(results)]  # timers, and results Invoke refused (none here)
            batches, handed[:] = [*handed, *([queued] if queued else [])], []

            def route(bodies: list[str]) -> list[Any]:
                router = driver.ResultRouter(backend, bodies)
                for body in bodies:
                    handled.append(len(meter.sequence))
                    router.handle(body)
                return router.advanced

            for bodies in batches:  # a router invocation per answers event (and per results-queue batch)
                payload_cache_clear()  # the router is another Lambda than the executor that just ran
                routed = invoke(route, bodies, router=True)
                for advanced in routed:
                    status = advanced.status
                waiting = shape in WAIT_ROWS and status == rfx.WorkflowStatus.IN_PROGRESS \
                    and not any(advanced.dispatched for advanced in routed)
            if not jobs and not batches:
                raise RuntimeError(f"{shape} N={n}: stalled in status {status}")
        assert status == rfx.WorkflowStatus.COMPLETE or shape in MAP_ROWS, status
        ours = sum(meter.calls.values())
        sqs_requests = sum(v for k, v in meter.calls.items() if k in _SQS_OPS) + sum(platform.values())
        gbs = sum(engine) * facts.ENGINE_MEMORY_MB / 1024
        return {"shape": shape, "n": n, "calls": ours / n, "by_op": {k: v / n for k, v in meter.calls.items()},
                "platform": sum(platform.values()) / n, "wru": meter.wru / n, "rru": meter.rru / n,
                "history_wru": meter.history_wru / n, "index_wru": meter.index_wru / n,
                "by_item": {k: v / n for k, v in meter.by_item.items()},
                "sqs": sqs_requests / n, "lambda": len(engine) / n, "executors": executors / n, "gbs": gbs / n,
                "ms": 1000 * statistics.median(engine), "path": (min(paths), max(paths)) if paths else (0, 0),
                "put": meter.calls["PutObject"] / n, "get": meter.calls["GetObject"] / n,
                "s3_gb": meter.s3_bytes / 1e9 / n, "status": str(status)}


def answering_executor(meter: Meter, execute: Any, results: str) -> tuple[Any, list[list[str]]]:
    """The executor harness as the kit deploys it (results handed to the router by Invoke, large values to
    the values bucket), its calls metered; and the list where the answers events it hands over wait, each
    a router invocation to come (Lambda's acceptance is played by a botocore hook)."""
    handed: list[list[str]] = []
    lambda_client = meter.attach(boto3.client("lambda"))

    def accept(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        handed.append(answers.bodies_of(json.loads(params["body"])) or [])
        return SimpleNamespace(status_code=answers.ACCEPTED, headers={}), {"StatusCode": answers.ACCEPTED}

    lambda_client.meta.events.register("before-call.lambda.Invoke", accept)
    handler = sqs_executor(execute, results_queue_url=results, sqs_client=meter.attach(boto3.client("sqs")),
                           blobs=S3BlobStore("values", client=meter.attach(boto3.client("s3"))),
                           router_function="runfox-result-router", lambda_client=lambda_client)
    return handler, handed


def dollars(r: dict[str, Any]) -> dict[str, float]:
    """$ per million steps (or items), by service; S3: the values bucket's requests, and its storage kept
    for the retention plus the bucket's grace (what a row without S3 figures leaves out costs nothing)."""
    months = (DEFAULT_EXECUTION_RETENTION_DAYS + facts.BLOB_GRACE_DAYS) / 30
    return {"dynamodb": (r["wru"] * PRICE_WRU + r["rru"] * PRICE_RRU) * 1e6, "sqs": r["sqs"] * PRICE_SQS * 1e6,
            "lambda": (r["lambda"] * PRICE_LAMBDA_REQUEST + r["gbs"] * PRICE_LAMBDA_GBS) * 1e6,
            "s3": (r.get("put", 0) * PRICE_S3_PUT + r.get("get", 0) * PRICE_S3_GET
                   + r.get("s3_gb", 0) * months * PRICE_S3_GB_MONTH) * 1e6}


def idle(ops: int) -> float:
    """$ per month of a deployed stack with ``ops`` ops and no traffic (see the module docstring)."""
    polled = 1 + 2 * ops  # the results queue; each op's queue and dead-letter queue
    receives = polled * IDLE_POLLERS * POLLS_PER_MINUTE * MINUTES_PER_MONTH
    alarms = facts.alarm_count(queues=1 + ops, functions=facts.ENGINE_FUNCTIONS + ops)
    return receives * PRICE_SQS + alarms * PRICE_ALARM + PRICE_DASHBOARD


_SQS_OPS = {"SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessageBatch", "DeleteMessage"}


def print_wait_row(rows: list[dict[str, Any]], retention: bool, breakdown: bool = False,
                   shape: str = "chain+waits") -> None:
    """Per completed wait for an event (or, ``chain+callbacks``, a callback), all in: a chain of N steps
    with a wait before each but the first, less the same chain without them (so the wait's own calls,
    including its answer's advance Lambda)."""
    n = max(r["n"] for r in rows if r["shape"] == "chain")
    plain = next(r for r in rows if r["shape"] == "chain" and r["n"] == n)
    waits = run(shape, n, retention=retention)
    per = {k: (waits[k] - plain[k]) * n / (n - 1) for k in ("calls", "wru", "rru", "sqs", "lambda", "gbs")}
    cost = sum(dollars({**per, "platform": 0}).values())
    what = "an event" if shape == "chain+waits" else "a callback"
    print(f"\nWait for {what} (chain of {n} with {n - 1} waits, less the chain): {per['calls']:.3f} calls, "
          f"{per['rru']:.2f} RRU, {per['wru']:.2f} WRU, {per['sqs']:.2f} SQS requests, {per['lambda']:.2f} Lambda "
          f"requests per completed wait: ${cost:.2f} per million waits all in" + (
              f" (targets: <= {TARGET_WAIT_CALLS} calls, <= ${TARGET_WAIT_DOLLARS:.2f}). While it waits: nothing "
              f"(no timer; with a timeout, a wake every {MAX_DELAY_SECONDS // 60} minutes: "
              f"{86400 // MAX_DELAY_SECONDS} a day, each 1 header read + 1 SQS send + the router's receive). "
              f"Durable functions >= 3 operations = ${3 * PRICE_DURABLE_OP * 1e6:.2f}, Step Functions >= 1 "
              f"transition = ${PRICE_SFN * 1e6:.2f} per million waits." if shape == "chain+waits" else "."))

    def per_wait(counts: str) -> dict[str, float]:  # "by_op" or "by_item", per wait: the waits' less the chain's
        return {k: (waits[counts].get(k, 0) - plain[counts].get(k, 0)) * n / (n - 1)
                for k in set(waits[counts]) | set(plain[counts])}

    ops = per_wait("by_op")
    print("  its calls by operation: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(ops.items(), key=lambda kv: -kv[1])
                                                   if round(v, 3)))
    # a history item is one PutItem of 1 write unit (a flush of the header's buffer, under 1 KB)
    flushes = per_wait("by_item").get("PutItem: history", 0.0)
    print(f"  of which history flushes: {flushes:.3f} (the wait keeps its own events on its record; the steps "
          f"around it log theirs in two commits, at two times, where the chain logs them in one)")
    if breakdown:
        kinds = per_wait("by_item")
        print("  its write units by call and item kind: " + ", ".join(
            f"{k} {v:.2f}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]) if round(v, 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,200")
    parser.add_argument("--no-retention", action="store_true", help="finished executions never expire (no expires_at)")
    parser.add_argument("--map-sizes", default="1000,10000", help="items of the map rows (empty: none)")
    parser.add_argument("--no-steps", action="store_true", help="only the map rows")
    parser.add_argument("--items-from", action="store_true",
                        help="also the map row reading its items from a jsonl object (as long again as map b1)")
    parser.add_argument("--payloads-only", action="store_true", help="only the 1 KB / 100 KB / 1 MB output rows")
    parser.add_argument("--breakdown", action="store_true", help="also print write units per step by call and item kind")
    args = parser.parse_args()
    if args.payloads_only:
        payload_section()
        return
    rows = [] if args.no_steps else [run(shape, int(n), retention=not args.no_retention)
                                     for shape in ("chain", "fan-out/in") for n in args.sizes.split(",")]
    map_rows = [run(shape, int(n), retention=not args.no_retention)
                for shape in MAP_ROWS if args.items_from or not shape.endswith("jsonl")
                for n in args.map_sizes.split(",") if n]
    if map_rows:
        print_map_rows(map_rows, args.breakdown)
    if not rows:
        return
    if args.no_retention:
        print("Retention off: finished executions are kept for ever (no expires_at).")
    print(f"Per step. Engine Lambdas at {facts.ENGINE_MEMORY_MB} MB {facts.LAMBDA_ARCHITECTURE}; $ per million steps, all in.")
    print(f"{'shape':11} {'N':>4} {'calls':>6} {'RRU':>5} {'WRU':>5} {'SQS req':>7} {'(ESM)':>6} {'Lambda req':>10} "
          f"{'GB-s':>8} {'ms/inv':>6} {'$ DDB':>6} {'$ SQS':>6} {'$ Lambda':>8} {'$ all in':>8}  critical path")
    for r in rows:
        cost = dollars(r)
        print(f"{r['shape']:11} {r['n']:>4} {r['calls']:>6.2f} {r['rru']:>5.2f} {r['wru']:>5.2f} {r['sqs']:>7.2f} "
              f"{r['platform']:>6.2f} {r['lambda']:>10.2f} {r['gbs']:>8.5f} {r['ms']:>6.1f} {cost['dynamodb']:>6.2f} "
              f"{cost['sqs']:>6.2f} {cost['lambda']:>8.2f} {sum(cost.values()):>8.2f}  "
              f"1 queue hop + 1 Invoke, {' to '.join(str(n) for n in sorted(set(r['path'])))} DynamoDB round trips")
    print("\nWrite units per step, of the WRU above: history items (flushed buffers; "
          "the buffer itself rides in the header update) and the listing indexes (GSI writes):")
    for r in rows:
        print(f"  {r['shape']:11} {r['n']:>4}: history items {r['history_wru']:.2f}, listing indexes {r['index_wru']:.2f}")
    if args.breakdown:
        print("\nWrite units per step by call and item kind (the sort key's prefix):")
        for r in rows:
            kinds = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["by_item"].items(), key=lambda kv: -kv[1]))
            print(f"  {r['shape']:11} {r['n']:>4}: {kinds}")
    print("\nOur calls per step by operation:")
    for r in rows:
        ops = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["by_op"].items(), key=lambda kv: -kv[1]))
        print(f"  {r['shape']:11} {r['n']:>4}: {ops}")
    worst = max(sum(dollars(r).values()) for r in rows)
    wru = [r["wru"] for r in rows]
    print(f"\nTargets: <= ${TARGET_DOLLARS:.2f} per million steps all in: worst ${worst:.2f} "
          f"({'met' if worst <= TARGET_DOLLARS else 'NOT met'}); <= {TARGET_WRU:g} write units per step: "
          f"{min(wru):.2f} to {max(wru):.2f} ({'met' if max(wru) <= TARGET_WRU else 'NOT met'}); "
          f"<= {TARGET_CALLS_PER_STEP} calls per step: worst {max(r['calls'] for r in rows):.2f}.")
    per_step = ", ".join(f"{r['shape']} {r['n']}: {r['executors']:.2f}" for r in rows)
    print(f"Executor invocations (the user's Lambdas, not counted above): {per_step} per step.")
    print(f"Idle stack per month: ${idle(1):.2f} with 1 op, ${idle(10):.2f} with 10, +${idle(2) - idle(1):.2f} per op "
          f"({IDLE_POLLERS} long-polling receivers per mapped queue, "
          f"{facts.alarm_count(queues=2, functions=facts.ENGINE_FUNCTIONS + 1)} alarms and the dashboard with 1 op).")
    for shape in WAIT_ROWS:
        print_wait_row(rows, retention=not args.no_retention, breakdown=args.breakdown, shape=shape)
    print(f"Compare: Step Functions Standard >= ${PRICE_SFN * 1e6:.2f} per million steps (one transition each); "
          f"Lambda durable functions ~ ${(PRICE_DURABLE_OP + PRICE_DURABLE_GB / 1e6) * 1e6:.2f} per million steps "
          "(one operation and 1 KB written each); both before their Lambda compute.")
    payload_section()


# --- payloads by reference: rows for 1 KB, 100 KB and 1 MB outputs (issue 14) --------------------------------
# Self-contained: a chain whose every step reads the previous step's document and writes a new one of
# PAYLOAD_SIZES bytes, through the same production path plus the values bucket (S3BlobStore) on moto's S3.
# Over the inline threshold each value costs one PutObject (its writer) and one GetObject (its reader).

PAYLOAD_SIZES = {"1 KB": 1_000, "100 KB": 100_000, "1 MB": 1_000_000}  # bytes of each step's output document
PAYLOAD_STEPS = 10
TARGET_EXTRA_CALLS = 2  # S3 calls per offloaded value: one PUT, one GET where it is read


def payload_run(size: int, n: int = PAYLOAD_STEPS) -> dict[str, Any]:
    """Per step: our calls, S3 calls, write units, and dollars all in (S3 requests and storage included)."""
    steps = [{"id": f"s{i}", "fn": "doc", **({"depends_on": [f"s{i - 1}"]} if i else {}),
              "input": {"i": i, "doc": {"var": f"steps.s{i - 1}.output.doc"} if i else ""}} for i in range(n)]
    spec = {"steps": steps, "outputs": {"last": {"var": f"steps.s{n - 1}.output.i"}}}

    def execute(token: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"i": inputs["i"], "doc": f"{inputs['i']}:{len(inputs['doc'])}:".ljust(size, "x")}

    with mock_aws(), fast_moto_transactions():
        admin, admin_sqs = boto3.client("dynamodb"), boto3.client("sqs")
        create_tables(admin, "workflows")
        boto3.client("s3").create_bucket(Bucket="values")
        op_queue = admin_sqs.create_queue(QueueName="runfox-doc")["QueueUrl"]
        results = admin_sqs.create_queue(QueueName="runfox-results")["QueueUrl"]
        meter = Meter(admin, "workflows")
        blobs = S3BlobStore("values", client=meter.attach(boto3.client("s3")))
        store = DynamoDBStore("workflows", client=meter.attach(boto3.client("dynamodb")),
                              execution_ttl_seconds=DEFAULT_EXECUTION_RETENTION_DAYS * 86_400)
        backend = rfx.Backend(store=store, runner=SQSRunner({"doc": op_queue}, results,
                                                               sqs_client=meter.attach(boto3.client("sqs"))),
                              blobs=blobs)
        handler, handed = answering_executor(meter, execute, results)
        lambdas, wall = 1, time.perf_counter()
        started = driver.start_execution(backend, spec, {})
        status = started.status
        while status != rfx.WorkflowStatus.COMPLETE:
            payload_cache_clear()  # every Lambda is its own process: nothing read is cached across them
            jobs = admin_sqs.receive_message(QueueUrl=op_queue, MaxNumberOfMessages=10).get("Messages", [])
            if jobs:
                handler(sqs_event(*(m["Body"] for m in jobs)), None)
            queued = [m["Body"] for m in admin_sqs.receive_message(QueueUrl=results, MaxNumberOfMessages=10)
                      .get("Messages", [])]
            batches, handed[:] = [*handed, *([queued] if queued else [])], []
            for bodies in batches:  # a router invocation each
                payload_cache_clear()  # the router is another Lambda than the executor that just ran
                lambdas += 1
                router = driver.ResultRouter(backend, bodies)
                for body in bodies:
                    router.handle(body)
                status = router.advanced[-1].status if router.advanced else status
            if status == rfx.WorkflowStatus.FAILED or not (jobs or batches):
                raise RuntimeError(f"{size} B: {status}, {rfx.Workflow(started.execution, backend).error}")
        seconds = time.perf_counter() - wall - meter.aws_seconds
        s3_calls = {k: meter.calls[k] for k in ("PutObject", "GetObject")}
        row = {"size": size, "calls": sum(meter.calls.values()) / n, "s3": sum(s3_calls.values()) / n,
               "put": s3_calls["PutObject"] / n, "get": s3_calls["GetObject"] / n, "s3_gb": meter.s3_bytes / 1e9 / n,
               "wru": meter.wru / n, "rru": meter.rru / n,
               "sqs": sum(v for k, v in meter.calls.items() if k in _SQS_OPS) / n,
               "lambda": lambdas / n, "gbs": seconds * facts.ENGINE_MEMORY_MB / 1024 / n}
        row["dollars"] = dollars(row)
        return row


def payload_cache_clear() -> None:
    from runfox_core.payloads import clear_cache

    clear_cache()


def payload_section() -> None:
    rows = {label: payload_run(size) for label, size in PAYLOAD_SIZES.items()}
    base = rows["1 KB"]
    print(f"\nPayloads by reference: a {PAYLOAD_STEPS}-step chain, each step reading the previous output and "
          "writing its own (values over 8 KB go to the values bucket). Per step; $ per million steps, all in, "
          f"S3 storage kept {DEFAULT_EXECUTION_RETENTION_DAYS}+{facts.BLOB_GRACE_DAYS} days.")
    print(f"{'output':>7} {'calls':>6} {'S3 PUT':>6} {'S3 GET':>6} {'extra':>5} {'WRU':>5} {'RRU':>5} "
          f"{'$ DDB':>6} {'$ SQS':>6} {'$ Lambda':>8} {'$ S3':>8} {'$ all in':>8}")
    for label, r in rows.items():
        c = r["dollars"]
        print(f"{label:>7} {r['calls']:>6.2f} {r['put']:>6.2f} {r['get']:>6.2f} {r['calls'] - base['calls']:>5.2f} "
              f"{r['wru']:>5.2f} {r['rru']:>5.2f} {c['dynamodb']:>6.2f} {c['sqs']:>6.2f} {c['lambda']:>8.2f} "
              f"{c['s3']:>8.2f} {sum(c.values()):>8.2f}")
    worst = max(r["s3"] for r in rows.values())
    # an offloaded value leaves a reference (about 400 bytes with its preview) where a 1 KB value sat inline
    excess = max(r["wru"] - base["wru"] for r in rows.values())
    print(f"Targets: <= {TARGET_EXTRA_CALLS} extra calls per offloaded value: worst {worst:.2f} "
          f"({'met' if worst <= TARGET_EXTRA_CALLS else 'NOT met'}); write units flat in size (at most 1 above "
          f"the 1 KB case): largest excess {excess:+.2f} ({'met' if excess <= 1 else 'NOT met'}).")


MAP_TARGETS = {1: 1.0, 10: 0.25}  # $ per million items all in, by batch
MAP_TARGET_CALLS = 1.0  # our calls plus the event sources', per item with batch 1


def print_map_rows(rows: list[dict[str, Any]], breakdown: bool = False) -> None:
    """The map rows: per item (page steps included), all in."""
    print(f"Map steps, per item. Engine Lambdas at {facts.ENGINE_MEMORY_MB} MB {facts.LAMBDA_ARCHITECTURE}; "
          "$ per million items, all in.")
    print(f"{'shape':12} {'items':>6} {'calls':>6} {'+ESM':>5} {'RRU':>5} {'WRU':>5} {'SQS req':>7} {'Lambda req':>10} "
          f"{'$ DDB':>6} {'$ SQS':>6} {'$ Lambda':>8} {'$ S3':>6} {'$ all in':>8} {'target':>6}  ending")
    for r in rows:
        cost = dollars(r)
        batch = MAP_ROWS[r["shape"]][0]
        target = MAP_TARGETS[batch] if "1KB" not in r["shape"] else None
        total = sum(cost.values())
        verdict = "-" if target is None else ("met" if total <= target else "NOT met")
        ending = r["status"] if r["status"] == "complete" else f"{r['status']} (expected complete)"
        print(f"{r['shape']:12} {r['n']:>6} {r['calls']:>6.2f} {r['platform']:>5.2f} {r['rru']:>5.2f} "
              f"{r['wru']:>5.2f} {r['sqs']:>7.2f} {r['lambda']:>10.2f} {cost['dynamodb']:>6.2f} {cost['sqs']:>6.2f} "
              f"{cost['lambda']:>8.2f} {cost['s3']:>6.2f} {total:>8.2f} {verdict:>6}  {ending}")
    for r in rows:
        ops = ", ".join(f"{k} {v:.3f}" for k, v in sorted(r["by_op"].items(), key=lambda kv: -kv[1]))
        print(f"  {r['shape']:12} {r['n']:>6}: {ops}")
    if breakdown:
        print("Write units per item by call and item kind (the sort key's prefix):")
        for r in rows:
            kinds = ", ".join(f"{k} {v:.3f}" for k, v in sorted(r["by_item"].items(), key=lambda kv: -kv[1]))
            print(f"  {r['shape']:12} {r['n']:>6}: {kinds}")
    ones = [r["calls"] + r["platform"] for r in rows if MAP_ROWS[r["shape"]][0] == 1]
    if ones:
        print(f"Targets: <= {MAP_TARGET_CALLS:g} AWS call per item with batch 1 (event sources included): worst "
              f"{max(ones):.2f}; <= ${MAP_TARGETS[1]:.2f} per million items with batch 1, "
              f"<= ${MAP_TARGETS[10]:.2f} with batch 10 (rows above).\n")


if __name__ == "__main__":
    main()
