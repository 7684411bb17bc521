"""stack.py -- RunfoxStack: one RunfoxEngine built from the executors config, tagged, with outputs.

The stack only composes: the engine (and through it every construct), one
``add_executor`` per op in the config, tags, and outputs for scripts and
end-to-end tests (keys in ``runfox_core.aws.config``). cdk-nag runs over the
whole app (``infra.app``); accepted findings are acknowledged in ``infra.nag``.

Known limits: each op with a handler adds about a dozen resources (queue, DLQ,
queue policies, alarm, function, role, policy, log group, two event source
mappings), so CloudFormation's 500-resource limit caps one stack at roughly
35 such ops (external-worker ops cost about half as much).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack, Tags
from constructs import Construct

from infra.engine import RunfoxEngine
from runfox_core.aws import config
from runfox_core.aws.config import ConfigError, ExecutorsConfig

TAGS = {"project": "runfox", "service": config.SERVICE_NAME}


class RunfoxStack(Stack):
    """Everything ``executors`` declares, plus the engine; ``engine`` for further composition."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        executors: ExecutorsConfig,
        layer_dir: str | Path,
        lambdas_dir: str | Path,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.engine = RunfoxEngine(
            self,
            "Engine",
            layer_dir=layer_dir,
            lambdas_dir=lambdas_dir,
            results=executors.results,
            removal_policy=removal_policy,
        )
        for op_name, op in executors.ops.items():
            self.engine.add_executor(op_name, op)
        for key, value in TAGS.items():
            Tags.of(self).add(key, value)
        self._add_outputs()

    def _add_outputs(self) -> None:
        engine = self.engine
        outputs = {
            config.OUTPUT_WORKFLOWS_TABLE: engine.workflows_table.table_name,
            config.OUTPUT_TASKS_TABLE: engine.tasks_table.table_name,
            config.OUTPUT_START_FUNCTION: engine.start_function.function_name,
            config.OUTPUT_ADVANCE_FUNCTION: engine.advance_function.function_name,
            config.OUTPUT_RESULT_ROUTER_FUNCTION: engine.result_router_function.function_name,
            config.OUTPUT_RESULTS_QUEUE_URL: engine.results_queue.queue_url,
            config.OUTPUT_QUEUE_MAP: self.to_json_string(engine.queue_map),
        }
        for op_name, resources in engine.ops.items():
            key = config.queue_output_key(op_name)
            if key in outputs:
                raise ConfigError(f"op {op_name!r}: output key {key} clashes with another op's", op=op_name)
            outputs[key] = resources.queue.queue_url
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)
