"""app.py -- build the CDK app: one RunfoxStack from executors.json, checked by cdk-nag.

Context keys (``cdk.json``, or ``-c key=value`` with the CDK CLI):

- ``runfox:stackName``        stack name (default ``Runfox``)
- ``runfox:removalPolicy``    ``retain`` (default) or ``destroy``: tables, queues and log groups
- ``runfox:executorsConfig``  executors config path (default $RUNFOX_EXECUTORS_CONFIG, then executors.json)
- ``runfox:layerDir``         layer folder (default build/layer, from ``make layer``)
- ``runfox:lambdasDir``       the engine handlers' folder (default lambdas)
- ``runfox:queuePrefix``      op queue name prefix (default ``<stack name>-``, at most 12 characters)
- ``runfox:retentionDays``    days a finished execution is kept (default 90)
- ``runfox:alarmEmail``       an address subscribed to the alarm topic (default none)
- ``runfox:itemsBuckets``     buckets map steps may read items from: a list, or names separated by commas
                              (``name`` or ``name/prefix/``; default none)

Relative paths resolve against the project root (the folder of cdk.json), so
the app synthesizes the same from any working directory; an op's ``code``
folder resolves there too. Run without the CDK CLI (``make synth``), ``main``
reads the context from cdk.json itself and writes ./cdk.out; under the CLI,
the CLI passes both. No AWS credentials are needed to synthesize.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, RemovalPolicy

from runfox_cdk import nag
from runfox_cdk.stack import RunfoxStack
from runfox_core.aws import config
from runfox_core.aws.config import ConfigError
from runfox_deploy import facts
from runfox_deploy.executors import executors_config_path, load_executors_config

ROOT = Path(__file__).resolve().parent.parent
CONTEXT_STACK_NAME = "runfox:stackName"
CONTEXT_REMOVAL_POLICY = "runfox:removalPolicy"
CONTEXT_EXECUTORS_CONFIG = "runfox:executorsConfig"
CONTEXT_LAYER_DIR = "runfox:layerDir"
CONTEXT_LAMBDAS_DIR = "runfox:lambdasDir"
CONTEXT_QUEUE_PREFIX = "runfox:queuePrefix"
CONTEXT_RETENTION_DAYS = "runfox:retentionDays"
CONTEXT_ALARM_EMAIL = "runfox:alarmEmail"
CONTEXT_PROJECT_ROOT = "runfox:projectRoot"
CONTEXT_ITEMS_BUCKETS = "runfox:itemsBuckets"
DEFAULT_STACK_NAME = "Runfox"
REMOVAL_POLICIES = {"retain": RemovalPolicy.RETAIN, "destroy": RemovalPolicy.DESTROY}


def build_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    """The app with its stack and the AwsSolutions checks; raises ``ConfigError`` on bad input."""
    app = App(context=dict(context) if context is not None else None, outdir=outdir)
    ctx = app.node.try_get_context
    removal = str(ctx(CONTEXT_REMOVAL_POLICY) or "retain").lower()
    if removal not in REMOVAL_POLICIES:
        raise ConfigError(
            f"context {CONTEXT_REMOVAL_POLICY} must be one of {sorted(REMOVAL_POLICIES)}, got {removal!r}"
        )
    root = Path(ctx(CONTEXT_PROJECT_ROOT) or ROOT)
    executors_path = _resolve(root, ctx(CONTEXT_EXECUTORS_CONFIG) or executors_config_path())
    layer_dir = _resolve(root, ctx(CONTEXT_LAYER_DIR) or facts.LAYER_DIR)
    lambdas_dir = _resolve(root, ctx(CONTEXT_LAMBDAS_DIR) or config.LAMBDAS_DIR)
    if not (layer_dir / "python").is_dir():
        raise ConfigError(f"layer folder {layer_dir}/python is missing: run `make layer` first")
    if not lambdas_dir.is_dir():
        raise ConfigError(f"Lambda code folder {lambdas_dir} is missing")
    RunfoxStack(
        app,
        str(ctx(CONTEXT_STACK_NAME) or DEFAULT_STACK_NAME),
        engine={
            "executors": load_executors_config(executors_path),
            "layer_dir": layer_dir,
            "lambdas_dir": lambdas_dir,
            "project_root": root,
            "queue_prefix": ctx(CONTEXT_QUEUE_PREFIX) or None,
            "removal_policy": REMOVAL_POLICIES[removal],
            "execution_retention_days": _retention_days(ctx(CONTEXT_RETENTION_DAYS)),
            "alarm_email": ctx(CONTEXT_ALARM_EMAIL) or None,
            "items_buckets": context_names(ctx(CONTEXT_ITEMS_BUCKETS)),
        },
        env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
        description="runfox serverless workflow engine",
    )
    nag.add_checks(app)
    return app


def cdk_json_context(path: Path = ROOT / "cdk.json") -> dict[str, Any]:
    """The ``context`` of cdk.json: feature flags and runfox defaults, as the CLI would pass them."""
    return dict(json.loads(path.read_text(encoding="utf-8")).get("context", {}))


def main() -> None:
    """Synthesize; outside the CDK CLI, with cdk.json's context and into ./cdk.out."""
    under_cli = "CDK_OUTDIR" in os.environ
    try:
        app = build_app(
            context=None if under_cli else cdk_json_context(),
            outdir=None if under_cli else str(ROOT / "cdk.out"),
        )
        app.synth()
    except ConfigError as exc:
        sys.exit(f"runfox: {exc}")


def context_names(value: Any) -> list[str]:
    """A context list given as a JSON list (cdk.json) or as names separated by commas (``-c key=a,b``)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return value
    raise ConfigError(f"context {CONTEXT_ITEMS_BUCKETS} must be a list of bucket names, got {value!r}")


def _retention_days(value: Any) -> int:
    if value is None or value == "":
        return config.DEFAULT_EXECUTION_RETENTION_DAYS
    try:
        days = int(str(value))
    except ValueError:
        days = 0
    if days < 1:
        raise ConfigError(f"context {CONTEXT_RETENTION_DAYS} must be a whole number of days >= 1, got {value!r}")
    return days


def _resolve(root: Path, path: str | os.PathLike[str]) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else root / candidate
