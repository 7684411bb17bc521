"""validation.py -- what checking a spec and its inputs costs, once per execution created.

``Backend.create`` compiles the spec with the given inputs (JSON-only values,
the inputs block, every ``input.*`` path read, operator typos); nothing of it
runs per step (``Backend.plan`` caches the plan by workflow id). This prints
the CPU time of ``compile_spec(spec, inputs)`` for the chain and fan-out specs
of ``bench/core.py`` at N steps: the figure to watch is that it grows
linearly (us/step roughly flat), since a spec may hold 10,000 steps.

Usage: python bench/validation.py [--sizes 100,1000,10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

from core import chain, fanout

from runfox_core.spec import compile_spec


def cpu_seconds(spec: dict[str, object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        compile_spec(spec, {"x": 0})
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=5, help="best of R runs per cell (CPU time)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'shape':14} " + " ".join(f"{'N=' + str(n):>12}" for n in sizes) + "   growth")
    for name, make in (("chain", chain), ("fan-out+join", fanout)):
        cells = [cpu_seconds(make(n), args.repeat) / n * 1e6 for n in sizes]
        print(f"{name:14} " + " ".join(f"{c:8.1f}us/st" for c in cells) + f"   {cells[-1] / cells[0]:5.2f}x")


if __name__ == "__main__":
    main()
