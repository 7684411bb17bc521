"""layers.py -- build the Lambda layers without Docker, pinned, and only when their inputs change.

``python -m runfox_deploy.layers`` (what ``make layer`` runs) builds

- the shared layer (``build/layer/python``; ``build/layer-x86_64`` too when an
  op runs on x86_64): runfox_core, its dependencies and Powertools;
- one layer per distinct set of op ``requirements`` and architecture
  (``build/requirements/<arch>-<hash>/python``), shared by the ops that ask for it;

as wheels for the Lambda runtime and architecture (``pip --platform``), every
package constrained by ``constraints/layer.txt``. Each folder keeps a stamp
of its inputs (packages, constraints, platform, runfox_core's sources): a
folder whose stamp matches is left alone, so a deploy rebuilds nothing that
did not change.

The pins: ``--pin`` (run by every ``make layer``) writes the versions of the
layer's packages and their dependencies *installed in the venv the tests run
in*, so the layer ships what the tests ran; an executor's ``requirements`` are
pinned to what pip resolves the first time they are built and stay so until
``--lock`` (``make lock``) re-resolves everything afresh.

Known limits: packages with no wheel for the platform cannot be built (pip
says which); the AWS SDK is pruned, since the runtime ships it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from runfox_deploy import facts
from runfox_deploy.executors import OpConfig, load_executors_config

#: runfox_core's runtime dependencies (pyproject.toml) plus Powertools; the tracer extra brings
#: aws-xray-sdk, since every function has X-Ray tracing on.
LAYER_PACKAGES = ("PyYAML", "json-logic-path", "jsonpath-ng", "aws-lambda-powertools[tracer]")
#: Pruned after install: the AWS SDK ships with the Lambda runtime (a second copy would be ~30 MB
#: and shadow the runtime's), plus folders json-logic-path's wheel leaks.
PRUNE = ("boto3", "botocore", "s3transfer", "urllib3", "dateutil", "python_dateutil", "six", "bin", "tests", "venv")
STAMP = ".inputs.sha256"


def requirements_key(op: OpConfig) -> str:
    """The folder name of ``op``'s requirements layer: architecture and a hash of the sorted requirements."""
    digest = hashlib.sha256("\n".join(sorted(op.requirements)).encode()).hexdigest()[:12]
    return f"{op.architecture}-{digest}"


def requirements_folder(requirements_dir: Path, op: OpConfig) -> Path:
    return requirements_dir / requirements_key(op)


def build(root: Path, executors_path: Path, *, lock: bool = False) -> list[Path]:
    """Build every layer folder that is missing or stale; return the folders built."""
    constraints = root / facts.LAYER_CONSTRAINTS
    executors = load_executors_config(executors_path)
    runfox_sources = root / "runfox_core"
    targets: dict[Path, tuple[str, tuple[str, ...], bool]] = {
        root / facts.LAYER_DIR: (facts.LAMBDA_ARCHITECTURE, LAYER_PACKAGES, True)}
    for op in executors.ops.values():
        if op.handler and op.architecture != facts.LAMBDA_ARCHITECTURE:
            targets[root / f"{facts.LAYER_DIR}-{op.architecture}"] = (op.architecture, LAYER_PACKAGES, True)
        if op.handler and op.requirements:
            targets[requirements_folder(root / facts.REQUIREMENTS_DIR, op)] = (op.architecture, op.requirements, False)
    built = []
    for folder, (architecture, packages, with_core) in targets.items():
        stamp = _inputs_hash(architecture, packages, constraints, runfox_sources if with_core else None)
        if not lock and (folder / STAMP).is_file() and (folder / STAMP).read_text() == stamp:
            continue
        _pip_install(folder, architecture, packages, constraints, lock and not with_core)
        if with_core:
            shutil.copytree(runfox_sources, folder / "python" / "runfox_core",
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (folder / STAMP).write_text(_inputs_hash(architecture, packages, constraints,
                                                 runfox_sources if with_core else None))
        built.append(folder)
    return built


def _pip_install(folder: Path, architecture: str, packages: Iterable[str], constraints: Path, lock: bool) -> None:
    """pip-install ``packages`` for ``architecture`` into ``folder/python``; ``lock``: ignore and rewrite pins."""
    shutil.rmtree(folder, ignore_errors=True)
    target = folder / "python"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
               "--platform", facts.PIP_PLATFORMS[architecture], "--implementation", "cp",
               "--python-version", facts.LAMBDA_PYTHON_VERSION, "--only-binary=:all:", "--target", str(target)]
    if constraints.is_file() and not lock:
        command += ["--constraint", str(constraints)]
    subprocess.run([*command, *packages], check=True)
    _write_constraints(target, constraints, replace=lock)
    for entry in target.iterdir():
        base = entry.name.split("-")[0]
        if base in PRUNE or entry.name in PRUNE or entry.name == "six.py":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def _write_constraints(target: Path, constraints: Path, *, replace: bool) -> None:
    """Add the versions pip installed in ``target`` to ``constraints`` (``replace``: overwrite existing pins)."""
    installed = {}
    for info in target.glob("*.dist-info"):
        name, version = info.name[: -len(".dist-info")].rsplit("-", 1)
        installed[_normal(name)] = version
    pins = dict(_read_pins(constraints))
    _save(constraints, {**installed, **pins} if not replace else {**pins, **installed})


def pin_from_environment(root: Path) -> dict[str, str]:
    """Pin the layer's packages and their dependencies to the versions installed here (the tests' versions)."""
    constraints = root / facts.LAYER_CONSTRAINTS
    found: dict[str, str] = {}
    pending = [re.split(r"[\[<>=!~; ]", p, maxsplit=1)[0] for p in LAYER_PACKAGES] + ["aws-xray-sdk"]
    while pending:
        name = _normal(pending.pop())
        if name in found:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency not installed here
        found[name] = distribution.version
        for requirement in distribution.requires or []:
            if "extra ==" not in requirement:
                pending.append(re.split(r"[\[<>=!~; (]", requirement, maxsplit=1)[0])
    _save(constraints, {**dict(_read_pins(constraints)), **found})
    return found


def _save(constraints: Path, pins: dict[str, str]) -> None:
    constraints.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by `make layer` (python -m runfox_deploy.layers): the layer's packages at the versions",
             "# installed in the venv the tests run in, and each executor's requirements as first resolved.",
             "# `make lock` re-resolves the executor requirements."]
    constraints.write_text("\n".join(lines + [f"{n}=={v}" for n, v in sorted(pins.items())]) + "\n")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _read_pins(constraints: Path) -> Iterable[tuple[str, str]]:
    if not constraints.is_file():
        return []
    pins = []
    for line in constraints.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins.append((_normal(name.strip()), version.strip()))
    return pins


def pins(root: Path) -> dict[str, str]:
    """The pinned versions of ``constraints/layer.txt``: normalised name -> version."""
    return dict(_read_pins(root / facts.LAYER_CONSTRAINTS))


def _inputs_hash(architecture: str, packages: Iterable[str], constraints: Path, sources: Path | None) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([architecture, facts.LAMBDA_PYTHON_VERSION, sorted(packages)]).encode())
    if constraints.is_file():
        digest.update(constraints.read_bytes())
    if sources is not None:
        for path in sorted(sources.rglob("*.py")):
            digest.update(str(path.relative_to(sources)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--config", type=Path, default=None, help="executors config (default executors.json)")
    parser.add_argument("--lock", action="store_true", help="resolve afresh and rewrite the constraints")
    parser.add_argument("--pin-only", action="store_true", help="only pin the layer to this venv's versions")
    args = parser.parse_args(argv)
    config_path = args.config or args.root / facts.DEFAULT_EXECUTORS_CONFIG
    pin_from_environment(args.root)
    if args.pin_only:
        return
    for folder in build(args.root, config_path, lock=args.lock):
        print(f"built {folder}")
    pin_from_environment(args.root)  # the shared layer stays at the tests' versions, even after --lock


if __name__ == "__main__":
    main()
