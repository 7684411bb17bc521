"""wide_header.py -- the execution header of a 10,000-step static fan-out, on strict moto DynamoDB.

The row of issue 11 that once failed: one ``advance()`` of a 10,000-step
static fan-out with 24-character step ids made a 409,063-byte header that
DynamoDB refused. This creates that execution (its ready set spilled at
creation), runs ``advance()`` until every step is claimed, confirming each
batch sent as the driver does, with DynamoDB's limits enforced on every write
(``tests/aws/no_wedge_kit.strict_limits``), and prints the largest the header
item ever was (read back after every write to it), the largest item written
at all, the spilled entries, the calls made, the items the Queries read (the
ready set's pages start after the entries already claimed: at most about 8
per step whatever the width, a claim of 50 reading a page of 200 twice;
before that cursor, every claim re-read the tombstones of the claims before
it, 319,441 items at 4,000 steps) and the time taken.

Usage: python bench/wide_header.py [--steps 10000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "aws"))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402
from no_wedge_kit import HeaderWatch, strict_limits  # noqa: E402

import runfox_core as rfx  # noqa: E402
from local.moto_patches import fast_moto_transactions  # noqa: E402
from runfox_core.aws.dynamodb_store import SCHEDULE_INLINE_BYTES, DynamoDBStore  # noqa: E402
from runfox_core.aws.tables import create_tables  # noqa: E402
from runfox_core.backend import InProcessRunner  # noqa: E402
from runfox_core.engine.records import SCHEDULES  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000)
    args = parser.parse_args()
    ids = [f"step_{i:019d}" for i in range(args.steps)]
    with mock_aws(), fast_moto_transactions():
        admin = boto3.client("dynamodb")
        create_tables(admin, "workflows")
        client = strict_limits(boto3.client("dynamodb"), "workflows")
        calls: Counter[str] = Counter()
        client.meta.events.register("provide-client-params.dynamodb.*",
                                    lambda model, **_: calls.update([model.name]))
        scanned: Counter[str] = Counter()
        client.meta.events.register("after-call.dynamodb.Query",
                                    lambda parsed, **_: scanned.update({"items": parsed.get("ScannedCount", 0)}))
        watch = HeaderWatch(client, admin, "workflows")
        backend = rfx.Backend(store=DynamoDBStore("workflows", client=client), runner=InProcessRunner())
        t0 = time.perf_counter()
        wf = rfx.Workflow.from_dict({"steps": [{"id": sid, "fn": "work"} for sid in ids]}, backend)
        created = time.perf_counter()
        header = backend.load_header(wf.id)
        print(f"created {args.steps:,} steps in {created - t0:.1f}s: header {watch.largest:,} bytes, "
              f"{header.ready.spilled:,} of {args.steps:,} ready entries spilled", flush=True)
        claimed = advances = 0
        while claimed < args.steps:
            result = wf.advance()
            assert isinstance(result, rfx.Dispatch), result
            wf.dispatch(result.jobs)
            claimed, advances = claimed + len(result.jobs), advances + 1
        header = backend.load_header(wf.id)
        assert len(header.ready) == 0 and len(header.unsent) == 0
        bound = len(SCHEDULES) * SCHEDULE_INLINE_BYTES + 4096
        print(f"claimed and sent {claimed:,} jobs in {advances} advance() calls, {time.perf_counter() - created:.1f}s")
        print(f"largest header item: {watch.largest:,} bytes (bound {bound:,}; DynamoDB's item limit 409,600); "
              f"once claimed, {header.deadlines.spilled} deadlines and {header.unsent.spilled} unsent spilled")
        print(f"largest item written: {watch.largest_item:,} bytes ({watch.largest_item_sk!r})")
        print(f"items read by Query: {scanned['items'] / args.steps:.1f} per step")
        print("DynamoDB calls: " + ", ".join(f"{op} {n:,}" for op, n in calls.most_common()))


if __name__ == "__main__":
    main()
