"""large_payloads.py -- the issue-14 runs on the local emulator: a 100 MB output through a 3-step chain,
and 500 steps with 1 MB outputs each in one execution.

Both go through everything a deployment runs (start handler, op queues,
executor Lambdas, results queue, result router) on the local emulator
(``local.cloud.LocalCloud``: moto's DynamoDB, SQS and S3 in this process),
with the example executors: ``document`` writes ``{"doc": {title, body}}``
with a body of the given size, ``relay`` reads the document whole and writes
it again one hop further (a new value: a new object), ``measure`` reads it
and returns its length. Between steps only references travel.

Prints, per run: wall time, steps, objects and bytes written to the values
bucket, and the largest DynamoDB item written (the issue's bound: 16 KB).
Each Lambda runs in this process, so its reads are not cached across
invocations here only if ``payloads.clear_cache`` is called: the driver
clears it before every delivery round, as separate Lambdas would start cold.

Usage: python bench/large_payloads.py [--chain-mb 100] [--steps 500] [--step-mb 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "lambdas"))
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from local import blobs  # noqa: E402
from local.cloud import LocalCloud  # noqa: E402
from local.deployment import WORKFLOWS_TABLE  # noqa: E402
from local.event_source import EventSourceDriver  # noqa: E402
from local.events import EXAMPLES_DIR  # noqa: E402
from local.lambda_runtime import invoke  # noqa: E402
from runfox_core import payloads  # noqa: E402
from runfox_core.aws import config  # noqa: E402
from runfox_core.aws.factory import get_backend  # noqa: E402
from runfox_core.status import TERMINAL_WORKFLOW_STATUSES  # noqa: E402
from runfox_core.workflow import Workflow  # noqa: E402

MB = 1_000_000
MAX_ITEM_BYTES = 16 * 1024  # the bound on any DynamoDB item


def chain(body_bytes: int, relays: int) -> dict[str, Any]:
    """document -> relay x ``relays`` -> measure, each reading the previous document."""
    steps: list[dict[str, Any]] = [{"op": "document", "input": {"title": "big", "bytes": body_bytes}}]
    previous = "document"
    for i in range(relays):
        steps.append({"id": f"r{i}", "fn": "relay", "depends_on": [previous],
                      "input": {"doc": {"var": f"steps.{previous}.output.doc"}}})
        previous = f"r{i}"
    steps.append({"op": "measure", "depends_on": [previous], "input": {"doc": {"var": f"steps.{previous}.output.doc"}}})
    return {"steps": steps, "outputs": {"length": {"var": "steps.measure.output.length"},
                                        "hops": {"var": "steps.measure.output.hops"},
                                        "title": {"var": f"steps.{previous}.output.doc.title"}}}


def run(cloud: LocalCloud, label: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    started = time.perf_counter()
    response = invoke(config.START_HANDLER, {"spec": spec, "inputs": {}})
    assert "error" not in response, response
    wf = Workflow(response["execution"], get_backend())
    driver = EventSourceDriver(cloud.consumers, cloud.client("sqs"), visibility_timeout_seconds=0)
    stats = driver.run(lambda: payloads.clear_cache() or wf.status in TERMINAL_WORKFLOW_STATUSES, timeout=timeout)
    seconds = time.perf_counter() - started
    s3 = cloud.client("s3")
    objects = [o for page in s3.get_paginator("list_objects_v2").paginate(Bucket=blobs.BLOB_BUCKET, Prefix="blobs/")
               for o in page.get("Contents", [])]
    size, where = blobs.largest_item(cloud.client("dynamodb"), WORKFLOWS_TABLE)
    return {"label": label, "status": str(wf.status), "outcome": wf.outcome, "error": wf.error, "seconds": seconds,
            "steps": len(spec["steps"]), "objects": len(objects), "bytes": sum(o["Size"] for o in objects),
            "largest": size, "where": where, "invocations": stats.invocations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chain-mb", type=float, default=100.0, help="MB of the document the 3-step chain passes")
    parser.add_argument("--steps", type=int, default=500, help="steps of the long run (>= 3)")
    parser.add_argument("--step-mb", type=float, default=1.0, help="MB each step of the long run writes")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run before giving up")
    args = parser.parse_args()
    runs = [(f"3-step chain, {args.chain_mb:g} MB", chain(int(args.chain_mb * MB), 1)),
            (f"{args.steps} steps x {args.step_mb:g} MB", chain(int(args.step_mb * MB), args.steps - 2))]
    rows = []
    for label, spec in runs:
        with LocalCloud(EXAMPLES_DIR / "executors.json", quiet=True, in_process=True) as cloud:
            rows.append(run(cloud, label, spec, args.timeout))
    print("Payloads of any size on the local emulator (moto DynamoDB + SQS + S3, in process):")
    print(f"{'run':28} {'status':9} {'seconds':>8} {'steps':>6} {'S3 objects':>10} {'S3 MB':>8} "
          f"{'largest DynamoDB item':>22}")
    for r in rows:
        print(f"{r['label']:28} {r['status']:9} {r['seconds']:>8.1f} {r['steps']:>6} {r['objects']:>10} "
              f"{r['bytes'] / MB:>8.1f} {r['largest']:>16,} bytes  ({r['where']})")
        if r["error"]:
            print(f"  error: {r['error']}")
        else:
            print(f"  outcome: {r['outcome']}")
    worst = max(r["largest"] for r in rows)
    ok = all(r["status"] == "complete" for r in rows)
    print(f"Targets: both complete ({'met' if ok else 'NOT met'}); largest DynamoDB item < {MAX_ITEM_BYTES:,} bytes: "
          f"{worst:,} ({'met' if worst < MAX_ITEM_BYTES else 'NOT met'}).")


if __name__ == "__main__":
    main()
