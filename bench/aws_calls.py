"""aws_calls.py -- AWS API calls, DynamoDB request units and dollars per step on DynamoDB + SQS.

Runs a chain of N steps and an N-step fan-out/fan-in (seed, N-2 workers,
one join reading every worker's state key) through the real production
path against moto: ``driver.start_execution`` with
``Backend(DynamoDBStore, SQSRunner)``; executor batches through
``sqs_executor`` (up to 10 jobs per invocation); result batches through
``driver.ResultRouter`` (up to 10 messages per invocation), exactly as the
Lambdas do. The simulated event source mappings (ReceiveMessage +
DeleteMessageBatch) are the platform's calls, counted apart from ours.

Calls are counted with botocore ``provide-client-params`` hooks on each
client. Request units are computed from item sizes (moto's consumed
capacity is fixed, not computed): writes ceil(size/1 KB) per item, x2 in a
transaction, an update billed at max(size before, size after); strongly
consistent reads ceil(size/4 KB) per item (x2 in TransactGetItems), at
least 1 per key asked. SQS: one request per call (every message < 64 KB).

Prices (us-east-1, on-demand, list prices as of 2024-11): DynamoDB
$0.625 per million write request units, $0.125 per million read request
units; SQS standard $0.40 per million requests; Step Functions Standard
$25 per million state transitions (at least one per step). Lambda compute
and free tiers are left out of both sides.

Usage: python bench/aws_calls.py [--sizes 10,200]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
from collections import Counter
from pathlib import Path
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
from runfox_core import driver  # noqa: E402
from runfox_core.aws import _items  # noqa: E402
from runfox_core.aws.dynamodb_store import DynamoDBStore  # noqa: E402
from runfox_core.aws.executor import sqs_executor  # noqa: E402
from runfox_core.aws.sqs_runner import SQSRunner  # noqa: E402
from runfox_core.aws.tables import create_tables  # noqa: E402
from tests.aws.aws_kit import sqs_event  # noqa: E402

PRICE_WRU = 0.625 / 1e6  # $ per write request unit
PRICE_RRU = 0.125 / 1e6  # $ per read request unit
PRICE_SQS = 0.40 / 1e6  # $ per SQS request
PRICE_SFN = 25.0 / 1e6  # $ per Step Functions Standard state transition
TARGET_CALLS_PER_STEP = 8


def chain(n: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"id": "s0", "fn": "inc", "input": {"x": {"var": "input.x"}}}]
    steps += [{"id": f"s{i}", "fn": "inc", "depends_on": [f"s{i - 1}"],
               "input": {"x": {"var": f"steps.s{i - 1}.output.x"}}} for i in range(1, n)]
    return {"steps": steps, "outputs": {"x": {"var": f"steps.s{n - 1}.output.x"}}}


def fan_out_in(n: int) -> dict[str, Any]:
    workers = [f"w{i}" for i in range(n - 2)]
    steps: list[dict[str, Any]] = [{"id": "seed", "fn": "inc", "input": {"x": {"var": "input.x"}}}]
    steps += [{"id": w, "fn": "inc", "depends_on": ["seed"],
               "input": {"x": {"var": "steps.seed.output.x"}, "key": w}} for w in workers]
    steps.append({"id": "join", "fn": "inc", "depends_on": workers, "input": {"x": 0, "all": {"var": "state"}}})
    return {"steps": steps, "outputs": {"n": {"var": "steps.join.output.x"}}}


def execute(token: str, inputs: dict[str, Any]) -> dict[str, Any]:
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
        self._params: dict[int, dict[str, Any]] = {}
        self._sizes: dict[tuple[str, str], int] = {}  # item key -> last known size

    def attach(self, client: Any) -> Any:
        client.meta.events.register("provide-client-params.*.*", self._before)
        client.meta.events.register("after-call.dynamodb.*", self._after)
        return client

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        self._params[threading.get_ident()] = params

    def _size_now(self, key: dict[str, Any]) -> int:
        item = self.reader.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        return _items.item_size(item) if item else 0

    def _write(self, key: dict[str, Any], size: int, transactional: bool) -> None:
        ident = (key["pk"]["S"], key["sk"]["S"])
        billed = max(size, self._sizes.get(ident, 0))
        self._sizes[ident] = size
        self.wru += _items.write_units(billed, transactional)

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        op, params = model.name, self._params.pop(threading.get_ident(), {})
        if "Error" in parsed:
            return
        if op == "TransactWriteItems":
            for action in params["TransactItems"]:
                if "Put" in action:
                    item = action["Put"]["Item"]
                    self._write({"pk": item["pk"], "sk": item["sk"]}, _items.item_size(item), True)
                else:
                    key = action["Update"]["Key"]
                    self._write(key, self._size_now(key), True)
        elif op == "UpdateItem":
            self._write(params["Key"], self._size_now(params["Key"]), False)
        elif op == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                self.wru += sum(_items.write_units(_items.item_size(r["PutRequest"]["Item"])) for r in requests)
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


def run(shape: str, n: int) -> dict[str, Any]:
    spec = chain(n) if shape == "chain" else fan_out_in(n)
    with mock_aws(), fast_moto_transactions():
        admin = boto3.client("dynamodb")
        admin_sqs = boto3.client("sqs")  # the platform: Lambda's event source mappings
        create_tables(admin, "workflows", "tasks")
        op_queue = admin_sqs.create_queue(QueueName="runfox-inc")["QueueUrl"]
        results = admin_sqs.create_queue(QueueName="runfox-results")["QueueUrl"]
        meter = Meter(admin, "workflows")
        ddb, sqs = meter.attach(boto3.client("dynamodb")), meter.attach(boto3.client("sqs"))
        runner = SQSRunner({"inc": op_queue}, "tasks", results, sqs_client=sqs, dynamodb_client=ddb)
        backend = rfx.Backend(store=DynamoDBStore("workflows", client=ddb), runner=runner)
        handler = sqs_executor(execute, results_queue_url=results, sqs_client=meter.attach(boto3.client("sqs")))
        platform: Counter[str] = Counter()

        def take(url: str) -> list[dict[str, Any]]:
            platform["ReceiveMessage"] += 1
            msgs = admin_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if msgs:
                platform["DeleteMessageBatch"] += 1
                admin_sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
            return msgs

        started = driver.start_execution(backend, spec, {"x": 0})
        status = started.status
        while status not in (rfx.WorkflowStatus.COMPLETE, rfx.WorkflowStatus.FAILED, rfx.WorkflowStatus.HALTED):
            jobs = take(op_queue)
            if jobs:
                handler(sqs_event(*(m["Body"] for m in jobs)), None)
            bodies = [m["Body"] for m in take(results)]
            router = driver.ResultRouter(backend, bodies)
            for body in bodies:
                router.handle(body)
            for advanced in router.advanced:
                status = advanced.status
            if not jobs and not bodies:
                raise RuntimeError(f"{shape} N={n}: stalled in status {status}")
        assert status == rfx.WorkflowStatus.COMPLETE, status
        ours = sum(meter.calls.values())
        sqs_requests = sum(v for k, v in meter.calls.items() if k in _SQS_OPS) + sum(platform.values())
        return {"shape": shape, "n": n, "calls": ours / n, "by_op": {k: v / n for k, v in meter.calls.items()},
                "platform": sum(platform.values()) / n, "wru": meter.wru / n, "rru": meter.rru / n,
                "sqs": sqs_requests / n}


_SQS_OPS = {"SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessageBatch", "DeleteMessage"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,200")
    args = parser.parse_args()
    rows = [run(shape, int(n)) for shape in ("chain", "fan-out/in") for n in args.sizes.split(",")]
    print(f"{'shape':11} {'N':>5} {'calls/step':>10} {'(ESM)':>6} {'WRU/step':>9} {'RRU/step':>9} "
          f"{'SQS req/step':>12} {'$/M steps':>10}   calls per step by operation (ours)")
    for r in rows:
        dollars = (r["wru"] * PRICE_WRU + r["rru"] * PRICE_RRU + r["sqs"] * PRICE_SQS) * 1e6
        ops = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["by_op"].items(), key=lambda kv: -kv[1]))
        print(f"{r['shape']:11} {r['n']:>5} {r['calls']:>10.2f} {r['platform']:>6.2f} {r['wru']:>9.2f} "
              f"{r['rru']:>9.2f} {r['sqs']:>12.2f} {dollars:>10.2f}   {ops}")
    worst = max(r["calls"] for r in rows)
    print(f"\nTarget <= {TARGET_CALLS_PER_STEP} API calls per step by our code: worst {worst:.2f} "
          f"({'met' if worst <= TARGET_CALLS_PER_STEP else 'NOT met'}).")
    print(f"Step Functions Standard: >= ${PRICE_SFN * 1e6:.2f} per million steps (one transition each). "
          "Lambda compute is excluded on both sides.")


if __name__ == "__main__":
    main()
