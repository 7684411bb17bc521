"""deploy_scale.py -- what one app of N ops synthesizes to: time, stacks, resources, sizes, environments.

For each N, synthesizes ``RunfoxStack`` (cdk-nag included, as ``make synth``
does) from N ops with handlers, in a temp folder with stand-in layer and code
folders, and prints: synth seconds, number of templates, the largest
template's resources / bytes / parameters / outputs, and the largest function
environment in bytes with CloudFormation values replaced by realistic ones
(a 110-character queue URL, a 60-character table name).

Usage: python bench/deploy_scale.py [--sizes 1,50,200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aws_cdk import App  # noqa: E402

from runfox_cdk import nag  # noqa: E402
from runfox_cdk.stack import RunfoxStack  # noqa: E402
from runfox_deploy.executors import parse_executors_config  # noqa: E402

URL, NAME = 110, 60  # bytes a queue URL and a table or function name take once deployed


def value_bytes(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return len(separator) * (len(parts) - 1) + sum(value_bytes(p) for p in parts)
    return URL if "Queue" in json.dumps(value) else NAME


def measure(count: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="runfox-scale-"))
    (root / "layer" / "python").mkdir(parents=True)
    (root / "lambdas" / "executors").mkdir(parents=True)
    (root / "lambdas" / "executors" / "work.py").write_text("def handler(event, context):\n    return None\n")
    ops = {f"op_{i:03d}": {"handler": "executors.work.handler"} for i in range(count)}
    started = time.perf_counter()
    app = App(outdir=str(root / "cdk.out"))
    RunfoxStack(app, "Runfox", engine={"executors": parse_executors_config({"ops": ops}), "layer_dir": root / "layer",
                                       "lambdas_dir": root / "lambdas", "project_root": root})
    nag.add_checks(app)
    directory = Path(app.synth().directory)
    seconds = time.perf_counter() - started
    templates = {p: json.loads(p.read_text()) for p in directory.glob("*.template.json")}
    environments = [sum(len(k) + value_bytes(v) for k, v in f["Properties"]["Environment"]["Variables"].items())
                    for t in templates.values() for f in t["Resources"].values() if f["Type"] == "AWS::Lambda::Function"]
    return {
        "ops": count, "synth_s": round(seconds, 1), "templates": len(templates),
        "max_resources": max(len(t["Resources"]) for t in templates.values()),
        "max_template_kb": round(max(p.stat().st_size for p in templates) / 1024),
        "max_parameters": max(len(t.get("Parameters", {})) for t in templates.values()),
        "max_outputs": max(len(t.get("Outputs", {})) for t in templates.values()),
        "max_env_bytes": max(environments),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="1,50,200")
    args = parser.parse_args()
    rows = [measure(int(n)) for n in args.sizes.split(",")]
    columns = list(rows[0])
    print("  ".join(f"{c:>15}" for c in columns))
    for row in rows:
        print("  ".join(f"{row[c]!s:>15}" for c in columns))


if __name__ == "__main__":
    main()
