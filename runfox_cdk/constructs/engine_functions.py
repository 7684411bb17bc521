"""engine_functions.py -- the shared layer and the three engine Lambdas: start, advance, result_router.

The layer is built from a local folder (``make layer`` writes ``build/layer/python``)
and holds runfox_core, Powertools and their dependencies. We bundle Powertools
rather than use the public Powertools layer ARN: synth stays offline and
region-free, one pinned version runs in Lambda and locally, and each function
needs one layer instead of two.

The engine's code asset is the ``lambdas/`` folder plus the ops manifest
(``runfox_ops.json``, from ``Topology.ops_manifest``), staged together in a
temporary folder at synth: the manifest is the one config object the engine
reads at cold start, so adding an op changes the code, never the environment.
All three functions get the same, constant-size environment.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from runfox_cdk.constructs.function import ARCHITECTURES, RUNTIME, python_function
from runfox_cdk.constructs.op import NOT_CODE
from runfox_core.aws import config
from runfox_deploy import facts


class EngineFunctions(Construct):
    """``layer``, ``code`` and the functions ``start``, ``advance``, ``result_router``."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        layer_dir: Path,
        lambdas_dir: Path,
        manifest_json: str,
        environment: Mapping[str, str],
        log_level: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.layer = runfox_layer(self, "Layer", layer_dir, facts.LAMBDA_ARCHITECTURE)
        self.code = lambda_.Code.from_asset(str(stage_engine_code(lambdas_dir, manifest_json)), exclude=NOT_CODE)

        def engine_function(id: str, handler: str, description: str) -> lambda_.Function:
            return python_function(
                self,
                id,
                handler=handler,
                code=self.code,
                layers=[self.layer],
                memory_mb=facts.ENGINE_MEMORY_MB,
                timeout_seconds=facts.ENGINE_TIMEOUT_SECONDS,
                environment=environment,
                log_level=log_level,
                removal_policy=removal_policy,
                description=description,
            )

        self.start = engine_function("Start", config.START_HANDLER, "runfox: start workflow executions")
        self.advance = engine_function("Advance", config.ADVANCE_HANDLER, "runfox: advance an execution")
        self.result_router = engine_function(
            "ResultRouter", config.RESULT_ROUTER_HANDLER, "runfox: apply results and dead-lettered jobs"
        )

    @property
    def all(self) -> tuple[lambda_.Function, ...]:
        return (self.start, self.advance, self.result_router)


def runfox_layer(scope: Construct, id: str, layer_dir: Path, architecture: str) -> lambda_.LayerVersion:
    """The shared layer (runfox_core, Powertools, dependencies) built for ``architecture``."""
    return lambda_.LayerVersion(
        scope,
        id,
        code=lambda_.Code.from_asset(str(layer_dir), exclude=NOT_CODE),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURES[architecture]],
        description=f"runfox_core with Powertools and their dependencies ({architecture})",
    )


def stage_engine_code(lambdas_dir: Path, manifest_json: str) -> Path:
    """A temporary copy of ``lambdas_dir`` with the ops manifest added (CDK copies it into cdk.out)."""
    staged = Path(tempfile.mkdtemp(prefix="runfox-engine-")) / "code"
    shutil.copytree(lambdas_dir, staged, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (staged / facts.OPS_MANIFEST_FILE).write_text(manifest_json, encoding="utf-8")
    return staged
