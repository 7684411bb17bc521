"""no_wedge.py -- the no-wedge shapes at widths too large for ``make test``: up to 9,998 (10,000 steps).

Runs each shape of ``tests/aws/no_wedge_kit.py`` (a fan-out and join, a loop
resetting all of it, every deadline expiring together, a crash between claim
and send then a re-drive, one output merging that many state keys) on moto
DynamoDB with DynamoDB's limits enforced on every write, and the same shape
in memory, and prints whether they ended alike (status, outcome, every step's
run id, the whole state), how long each took and the DynamoDB run's time per
step (with its ratio to the first width's: flat means no cost grows with
width), the largest the execution's header item ever was (bytes, read back
after every write to it: it stays under the same bound at any width,
``dynamodb_store.py``) and the largest item written at all (bytes and sort
key; the target is under 64 KB). Values over 8 KB go by reference to a
(moto) S3 bucket, as deployed, so the join's inputs (the whole state: 10,000
keys, about 120 KB) are a reference, not an item that size.

The SQS queues are in memory (``QueuesInMemory``) and the clock is faked; the
time is moto's and the engine's, on one core. Default: the fan-out and join
at 1,000 and 9,998 wide (about 15 minutes here); ``--shapes`` runs the others.

Usage: python bench/no_wedge.py [--widths 1000,9998] [--shapes fan_out,loop,deadlines,crash,merge]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "aws"))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

import boto3  # noqa: E402
from aws_kit import AwsKit  # noqa: E402
from moto import mock_aws  # noqa: E402
from no_wedge_kit import SHAPES, HeaderWatch, in_memory, on_aws  # noqa: E402

from runfox_core.aws.s3_blobs import S3BlobStore  # noqa: E402
from runfox_core.aws.tables import create_tables  # noqa: E402

ITEM_TARGET_BYTES = 64 * 1024  # the largest item written must stay under this (issue 13)
BUCKET = "runfox-values"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", default="1000,9998")
    parser.add_argument("--shapes", default="fan_out")
    args = parser.parse_args()
    print(f"{'shape':10} {'width':>6} {'memory':>8} {'dynamodb':>9} {'ms/step':>8} {'growth':>6} "
          f"{'header max':>11} {'largest item':>13}  ending", flush=True)
    failures = 0
    first: dict[str, float] = {}
    for width in (int(w) for w in args.widths.split(",")):
        for shape in args.shapes.split(","):
            t0 = time.perf_counter()
            expected = in_memory(shape, width)
            t1 = time.perf_counter()
            watch: list[HeaderWatch] = []
            with mock_aws():
                kit = AwsKit(dynamodb=boto3.client("dynamodb"), sqs=boto3.client("sqs"))
                create_tables(kit.dynamodb, kit.workflows_table, kit.tasks_table)
                kit.results_url = "https://sqs.local/runfox-results"
                s3 = boto3.client("s3")
                s3.create_bucket(Bucket=BUCKET)
                try:
                    ending = on_aws(kit, shape, width, watch=watch, blobs=S3BlobStore(BUCKET, client=s3))
                    verdict = "same as in memory" if ending == expected else "DIFFERENT from memory"
                except Exception as exc:  # a bench reports, it does not stop at the first failure
                    verdict = f"ERROR {type(exc).__name__}: {str(exc)[:160]}"
            t2 = time.perf_counter()
            steps = len(SHAPES[shape](width)["steps"])
            per_step = (t2 - t1) / steps * 1000
            growth = per_step / first.setdefault(shape, per_step)
            header = f"{watch[0].largest:,} B" if watch else "-"
            item = watch[0].largest_item if watch else 0
            too_big = item >= ITEM_TARGET_BYTES
            failures += (not verdict.startswith("same")) + too_big
            largest = f"{item:,} B" if watch else "-"
            print(f"{shape:10} {width:>6} {t1 - t0:>7.1f}s {t2 - t1:>8.1f}s {per_step:>8.1f} {growth:>5.2f}x "
                  f"{header:>11} {largest:>13}  {expected.status}; {verdict}; largest item "
                  f"{watch[0].largest_item_sk if watch else '-'!r}{' OVER 64 KB' if too_big else ''}", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
