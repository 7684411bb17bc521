"""engine_functions.py -- the shared layer and the three engine Lambdas: start, advance, result_router.

The layer is built from a local folder (``make layer`` writes ``build/layer/python``)
and holds runfox_core, Powertools and their dependencies. We bundle Powertools
rather than use the public Powertools layer ARN: synth stays offline and
region-free, one pinned version runs in Lambda and locally, and each function
needs one layer instead of two. The code asset is the whole ``lambdas/``
folder, shared by engine functions and executors (CDK uploads it once).

All three functions get the same environment (both tables, the results queue
URL, the queue map and op defaults, the task TTL); ``infra.engine`` builds it
and adds grants and event sources, since it knows the queues.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs.function import ARCHITECTURE, RUNTIME, python_function
from runfox_core.aws import config

# Bytecode caches left by local runs would change the asset hash (and redeploy) for nothing.
_NOT_CODE = ["**/__pycache__", "**/*.pyc"]


class EngineFunctions(Construct):
    """``layer``, ``code`` and the functions ``start``, ``advance``, ``result_router``."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        layer_dir: Path,
        lambdas_dir: Path,
        environment: Mapping[str, str],
        log_level: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(layer_dir), exclude=_NOT_CODE),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="runfox_core with Powertools and their dependencies",
        )
        self.code = lambda_.Code.from_asset(str(lambdas_dir), exclude=_NOT_CODE)

        def engine_function(id: str, handler: str, description: str) -> lambda_.Function:
            return python_function(
                self,
                id,
                handler=handler,
                code=self.code,
                layer=self.layer,
                memory_mb=config.ENGINE_MEMORY_MB,
                timeout_seconds=config.ENGINE_TIMEOUT_SECONDS,
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
