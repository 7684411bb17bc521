"""map_scale.py -- a map step of up to 100,000 items in one execution, in memory (issue 13's size figures).

Runs ``pages`` listing steps (each returns up to ``PAGE`` item keys, so no
step output passes the payload limit) and one map step over all their keys
(``{"merge": [...]}``), through ``Workflow.run()`` with the in-process worker,
at N = 1,000, 10,000 and 100,000 items, with ``batch`` 1 and 10. Prints the
time per item (the benchmark's own sizing of every record written left
out), the CPU time per item (every thread of the process: on a shared
machine, the figure that does not depend on the share it got), items per
second, the growth of the time per item from the smallest N
to the largest (flat is the target), and the largest record any commit
wrote (every store record must stay under DynamoDB's 400 KB, and the map's
own records under 64 KB). With ``keep_results`` the results of 100,000
items do not fit in one step output (the step fails naming the size, after
every item ran; results by reference is the payload issue), so the rows run
with ``keep_results: false`` unless ``--keep-results``.

Targets: <= 30 us per item in memory; per-item time flat from 1,000 to
100,000 items. Absolute times depend on the machine.

``--emulator N`` runs instead the example ``examples/map.yaml`` over N
numbers (0 to 99, repeated: 10,000 squares of up to 4 digits fit in one step
output) on the local emulator (moto in this process, the deployed
handlers, SQS event sources), with ``batch`` 10 and 100 jobs in flight, and
checks every square comes back in order and their sum is exact.

Usage: python bench/map_scale.py [--sizes 1000,10000,100000] [--batches 1,10] [--keep-results]
       python bench/map_scale.py --emulator 10000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code, not an installed copy

import runfox_core as rfx  # noqa: E402
from runfox_core.backend import InMemoryStore, InProcessRunner  # noqa: E402
from runfox_core.engine.records import Commit  # noqa: E402

PAGE = 10_000  # item keys per listing step (about 100 KB of output)


def spec(n: int, batch: int, keep: bool) -> dict[str, Any]:
    pages = [f"p{i}" for i in range(-(-n // PAGE))]
    steps: list[dict[str, Any]] = [{"id": p, "fn": "page", "input": {"first": i * PAGE, "count": min(PAGE, n - i * PAGE)}}
                                   for i, p in enumerate(pages)]
    steps.append({"id": "work", "depends_on": pages, "map": {
        "items": {"merge": [{"var": f"steps.{p}.output.keys"} for p in pages]}, "fn": "work",
        "input": {"doc": {"var": "item"}}, "max_concurrency": 100, "batch": batch, "keep_results": keep}})
    return {"steps": steps, "outputs": {"done": {"var": "steps.work.output.succeeded"}}}


def execute(token: str, inputs: Any) -> Any:
    if token == "page":
        return {"keys": [f"doc-{i:07d}" for i in range(inputs["first"], inputs["first"] + inputs["count"])]}
    if isinstance(inputs, list):
        return [{"ok": 1} for _ in inputs]
    return {"ok": 1}


class SizedStore(InMemoryStore):
    """The in-memory store, noting the largest record (step record or header) any commit writes.

    The time spent sizing (a JSON encoding of every record written) is kept in
    ``sizing`` and left out of the figures: it is the benchmark's, not the engine's.
    """

    def __init__(self) -> None:
        super().__init__()
        self.largest, self.largest_id, self.sizing = 0, "", 0.0

    def commit(self, key: str, commit: Commit) -> None:
        super().commit(key, commit)
        started = time.perf_counter()
        for sid, rec in commit.steps.items():
            size = len(json.dumps(rec.to_dict(), separators=(",", ":")))
            if size > self.largest:
                self.largest, self.largest_id = size, sid
        size = len(json.dumps(commit.header.to_dict(), separators=(",", ":"), default=str))
        if size > self.largest:
            self.largest, self.largest_id = size, "(header)"
        self.sizing += time.perf_counter() - started


def run(n: int, batch: int, keep: bool) -> dict[str, Any]:
    store = SizedStore()
    backend = rfx.Backend(executor=execute, store=store, runner=InProcessRunner())
    wf = rfx.Workflow.from_dict(spec(n, batch, keep), backend)
    started, cpu = time.perf_counter(), time.process_time()
    result = wf.run(timeout=3600)
    cpu = time.process_time() - cpu - store.sizing
    seconds = time.perf_counter() - started - store.sizing
    ok = isinstance(result, rfx.Complete) and result.outcome["done"] == n
    return {"n": n, "batch": batch, "us": 1e6 * seconds / n, "cpu": 1e6 * cpu / n, "per_s": n / seconds, "ok": ok,
            "ending": result if not ok else None, "largest": store.largest, "largest_id": store.largest_id}


def emulator(n: int) -> None:
    """The example map over ``n`` numbers through the deployed flow on the local emulator."""
    from local.cloud import LocalCloud
    from local.event_source import EventSourceDriver
    from local.events import EXAMPLES_DIR, load_event
    from local.lambda_runtime import invoke
    from runfox_core.aws import config
    from runfox_core.aws.factory import get_backend

    payload = load_event("map")
    payload["spec"] = payload["spec"].replace("max_concurrency: 3", "max_concurrency: 100\n      batch: 10")
    numbers = [i % 100 for i in range(n)]  # small squares, so 10,000 results fit in one step output
    payload["inputs"] = {"numbers": numbers}
    with LocalCloud(EXAMPLES_DIR / "executors.json", quiet=True, in_process=True) as cloud:
        started = time.perf_counter()
        key = invoke(config.START_HANDLER, payload)["execution"]
        wf = rfx.Workflow(key, get_backend())
        driver = EventSourceDriver(cloud.consumers, cloud.client("sqs"), visibility_timeout_seconds=0)
        driver.run(lambda: wf.status in ("complete", "failed", "halted", "cancelled"), timeout=3600)
        seconds = time.perf_counter() - started
        outcome = wf.outcome or {}
        exact = (outcome.get("squares") == [{"squared": i * i} for i in numbers]
                 and outcome.get("total") == sum(i * i for i in numbers))
        print(f"emulator: {n:,} items in batches of 10: {wf.status} in {seconds:.1f} s ({n / seconds:,.0f} items/s); "
              f"every square in order and the sum exact: {exact}" + (f"; error: {wf.error}" if wf.error else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--batches", default="1,10")
    parser.add_argument("--keep-results", action="store_true")
    parser.add_argument("--emulator", type=int, default=0, help="items of a map run on the local emulator instead")
    args = parser.parse_args()
    if args.emulator:
        emulator(args.emulator)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'items':>8} {'batch':>5} {'us/item':>8} {'cpu us':>7} {'items/s':>9} {'growth':>7} "
          f"{'largest record':>15}  ")
    for batch in (int(b) for b in args.batches.split(",")):
        first = None
        for n in sizes:
            r = run(n, batch, args.keep_results)
            first = first or r["us"]
            print(f"{n:>8,} {batch:>5} {r['us']:>8.1f} {r['cpu']:>7.1f} {r['per_s']:>9,.0f} {r['us'] / first:>6.2f}x "
                  f"{r['largest']:>9,} bytes ({r['largest_id']})" + ("" if r["ok"] else f"  ENDED {r['ending']}"))


if __name__ == "__main__":
    main()
