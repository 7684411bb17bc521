"""newcomer.py -- a newcomer's first commands, timed on a fresh clone: `make demo`, then `make test`.

    python bench/newcomer.py                 # clone this repo's HEAD, time make demo, then make test's parts
    python bench/newcomer.py --demo-only     # just make demo
    python bench/newcomer.py --no-pip-cache  # pip downloads everything again (PIP_NO_CACHE_DIR=1)

Clones the committed HEAD (uncommitted edits are not measured) into a temporary
folder, so `.venv` is created from nothing, exactly as on a new machine, except
for pip's download cache, which is used unless ``--no-pip-cache`` (the script
prints its size first, so a reader knows which case was measured). Prints
one line per command and the targets: `make demo` under 60 s, `make test` under
6 minutes. `make test` is timed as the parts it runs (`make install` then each
`make test-*` it depends on, in its order), so the figure comes with its
parts.

Known limits: wall-clock time on a shared machine moves with its load, so each
line also gives the CPU seconds the command and its children used (user +
system), and the load average is printed before and after; the clone is
deleted unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO_TARGET_SECONDS = 60
TEST_TARGET_SECONDS = 6 * 60
TEST_STEPS = ["install", "test-in-process", "test-stack"]  # what ``make test`` runs (the Makefile)


def pip_cache_size() -> str:
    result = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    folder = Path(result.stdout.strip()) if result.returncode == 0 else None
    if folder is None or not folder.is_dir():
        return "no pip cache"
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return f"pip cache {folder}: {size / 1e6:.0f} MB"


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def cpu_seconds() -> float:
    """User + system CPU seconds of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(target: str, clone: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run ``make <target>`` in the clone; return its wall-clock and CPU seconds (raise if it fails)."""
    started, cpu = time.monotonic(), cpu_seconds()
    result = subprocess.run(["make", target], cwd=clone, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise SystemExit(f"make {target} failed after {seconds:.0f} s:\n{tail}")
    return seconds, cpu_seconds() - cpu


def verdict(seconds: float, target: float) -> str:
    return f"{'within' if seconds <= target else 'OVER'} the {target:.0f} s target"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--demo-only", action="store_true", help="time make demo only")
    parser.add_argument("--no-pip-cache", action="store_true", help="PIP_NO_CACHE_DIR=1: download every package")
    parser.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "JSII_NODE")}
    if args.no_pip_cache:
        env["PIP_NO_CACHE_DIR"] = "1"
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()
    print(f"newcomer bench: fresh clone of {REPO} at {head}; "
          f"{'pip cache off' if args.no_pip_cache else pip_cache_size()}; {os.cpu_count()} cores; {load()}")
    workdir = Path(tempfile.mkdtemp(prefix="runfox-newcomer-"))
    clone = workdir / "runfox"
    try:
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        demo, demo_cpu = timed("demo", clone, env)
        print(f"make demo (from nothing):    {demo:6.1f} s  ({demo_cpu:5.1f} s CPU)  "
              f"{verdict(demo, DEMO_TARGET_SECONDS)}")
        if not args.demo_only:
            parts = {step: timed(step, clone, env) for step in TEST_STEPS}
            total, total_cpu = (sum(p[i] for p in parts.values()) for i in (0, 1))
            print(f"make test (after make demo): {total:6.1f} s  ({total_cpu:5.1f} s CPU)  "
                  f"{verdict(total, TEST_TARGET_SECONDS)}")
            for step, (seconds, cpu) in parts.items():
                print(f"  make {step:<17}      {seconds:6.1f} s  ({cpu:5.1f} s CPU)")
        print(f"done; {load()}")
    finally:
        if args.keep:
            print(f"clone kept at {clone}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
