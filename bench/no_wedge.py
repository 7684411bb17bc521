"""no_wedge.py -- the no-wedge shapes at widths too large for ``make test``: 1,000 and 9,998 (10,000 steps).

Runs each shape of ``tests/aws/no_wedge_kit.py`` (a fan-out and join, a loop
resetting all of it, every deadline expiring together, a crash between claim
and send then a re-drive, one output merging that many state keys) on moto
DynamoDB with DynamoDB's limits enforced on every write, and the same shape
in memory, and prints whether they ended alike, how long each took, and the
largest the execution's header item ever was (bytes, read back after every
write to it: it stays under the same bound at any width, ``dynamodb_store.py``).

Usage: python bench/no_wedge.py [--widths 1000,9998] [--shapes fan_out,loop,...]
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

from runfox_core.aws.tables import create_tables  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", default="1000,9998")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    args = parser.parse_args()
    print(f"{'shape':10} {'width':>6} {'memory':>9} {'dynamodb':>9} {'header max':>11}  ending")
    failures = 0
    for width in (int(w) for w in args.widths.split(",")):
        for shape in args.shapes.split(","):
            t0 = time.perf_counter()
            expected = in_memory(shape, width)
            t1 = time.perf_counter()
            with mock_aws():
                kit = AwsKit(dynamodb=boto3.client("dynamodb"), sqs=boto3.client("sqs"))
                create_tables(kit.dynamodb, kit.workflows_table, kit.tasks_table)
                kit.results_url = "https://sqs.local/runfox-results"
                watch: list[HeaderWatch] = []
                try:
                    ending = on_aws(kit, shape, width, watch=watch)
                    verdict = "same as in memory" if ending == expected else "DIFFERENT from memory"
                except Exception as exc:  # a bench reports, it does not stop at the first failure
                    verdict = f"ERROR {type(exc).__name__}: {str(exc)[:160]}"
            t2 = time.perf_counter()
            failures += not verdict.startswith("same")
            largest = f"{watch[0].largest:,} B" if watch else "-"
            print(f"{shape:10} {width:>6} {t1 - t0:>8.1f}s {t2 - t1:>8.1f}s {largest:>11}  {expected.status}; {verdict}",
                  flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
