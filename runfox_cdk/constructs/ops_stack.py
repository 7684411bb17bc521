"""ops_stack.py -- a nested stack holding a slice of the ops (``facts.OPS_PER_STACK`` at most).

CloudFormation allows 500 resources per stack; an op with a handler costs
14, so the ops go in nested stacks (``Topology.op_stacks``) and the
parent keeps the engine. What crosses the boundary does not grow with the
ops: the results queue, the router, the alarm topic and the layers become a
handful of parameters; nothing comes back as an output.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import NestedStack
from constructs import Construct

from runfox_cdk.constructs.op import Op, OpParts
from runfox_deploy.executors import OpConfig


class OpsStack(NestedStack):
    """``ops``: op name -> its ``Op``."""

    def __init__(self, scope: Construct, id: str, *, ops: Mapping[str, OpConfig], parts: OpParts) -> None:
        super().__init__(scope, id, description=f"runfox ops {', '.join(list(ops)[:3])}{'...' if len(ops) > 3 else ''}")
        self.ops = {name: Op(self, f"Op-{name}", op_name=name, op=op, parts=parts) for name, op in ops.items()}
