"""core.py -- per-step cost of runfox_core as workflows grow (the speed targets of the README).

Runs three shapes through ``Workflow.run()`` with an in-process worker:
a chain of N steps, an N-wide fan-out joined by one step, and a loop of N
iterations, at N = 100, 1,000 and 5,000, in memory and on SQLite (a file in
a temp dir). Prints microseconds per step and the growth from the smallest
to the largest N. Targets: <= 100 us/step in memory, <= 1 ms/step on
SQLite, growth <= 1.5x. Absolute times depend on the machine; the growth
column is the figure to compare across machines.

Usage: python bench/core.py [--sizes 100,1000,5000] [--repeat 3] [--cpu]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code, not an installed copy

import runfox_core as rfx  # noqa: E402
from runfox_core.backend import InMemoryStore, InProcessRunner, InProcessWorker, SqliteRunner, SqliteStore  # noqa: E402


def chain(n: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"id": "s0", "fn": "inc", "input": {"x": {"var": "input.x"}}}]
    for i in range(1, n):
        steps.append({"id": f"s{i}", "fn": "inc", "depends_on": [f"s{i - 1}"],
                      "input": {"x": {"var": f"steps.s{i - 1}.output.x"}}})
    return {"steps": steps, "outputs": {"x": {"var": f"steps.s{n - 1}.output.x"}}}


def fanout(n: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"id": "seed", "fn": "inc", "input": {"x": {"var": "input.x"}}}]
    for i in range(n - 2):
        steps.append({"id": f"w{i}", "fn": "inc", "depends_on": ["seed"],
                      "input": {"x": {"var": "steps.seed.output.x"}}})
    steps.append({"id": "join", "fn": "inc", "depends_on": [f"w{i}" for i in range(n - 2)],
                  "input": {"x": {"var": "steps.w0.output.x"}}})
    return {"steps": steps, "outputs": {"x": {"var": "steps.join.output.x"}}}


def loop(n: int) -> dict[str, Any]:
    return {
        "steps": [{"op": "count", "input": {"x": {"var": ["state.x", 0]}},
                   "branch": [{"condition": {"<": [{"var": "state.x"}, n]}, "action": {"set": "count"}},
                              {"condition": {">=": [{"var": "state.x"}, n]}, "action": "complete"}]}],
        "outputs": {"x": {"var": "state.x"}},
    }


def execute(op: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"x": (inputs.get("x") or 0) + 1}


SHAPES: dict[str, tuple[Callable[[int], dict[str, Any]], Callable[[int], int]]] = {
    "chain": (chain, lambda n: n),
    "fan-out+join": (fanout, lambda n: n),
    "loop": (loop, lambda n: n),
}


def backends(kind: str, workdir: str) -> tuple[rfx.Backend, InProcessWorker]:
    if kind == "memory":
        runner: Any = InProcessRunner()
        store: Any = InMemoryStore()
    else:
        path = os.path.join(workdir, f"bench-{time.monotonic_ns()}.db")
        store, runner = SqliteStore(path), SqliteRunner(path, poll_interval=0.0005)
    return rfx.Backend(store=store, runner=runner), InProcessWorker(runner, execute)


def measure(kind: str, shape: str, n: int, workdir: str, clock: Callable[[], float]) -> float:
    make, steps_of = SHAPES[shape]
    spec = make(n)
    backend, worker = backends(kind, workdir)
    wf = rfx.Workflow.from_dict(spec, backend, inputs={"x": 0})
    start = clock()
    result = wf.run(worker=worker)
    elapsed = clock() - start
    assert isinstance(result, rfx.Complete), result
    return elapsed / steps_of(n) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--repeat", type=int, default=3, help="best of R runs per cell")
    parser.add_argument("--backends", default="memory,sqlite")
    parser.add_argument("--cpu", action="store_true",
                        help="CPU time of the process (every thread) instead of wall time: on a shared machine, "
                             "the figure that does not depend on the share it got")
    args = parser.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as workdir:
        print(f"{'backend':8} {'shape':14} " + " ".join(f"{'N=' + str(n):>10}" for n in sizes) + "   growth")
        for kind in args.backends.split(","):
            for shape in SHAPES:
                cells = [min(measure(kind, shape, n, workdir, clock) for _ in range(args.repeat)) for n in sizes]
                growth = cells[-1] / cells[0]
                print(f"{kind:8} {shape:14} " + " ".join(f"{c:8.1f}us" for c in cells) + f"   {growth:5.2f}x")


if __name__ == "__main__":
    main()
