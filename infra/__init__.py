"""infra -- the AWS CDK kit that deploys runfox_core: tables, queues and Lambdas.

``RunfoxEngine`` is the reusable construct (compose it in your own stack);
``RunfoxStack`` is the ready-made stack built from ``executors.json``.
Names, sizes and Lambda defaults live in ``runfox_core.aws.config``.
"""

from infra.engine import OpResources, RunfoxEngine
from infra.stack import RunfoxStack

__all__ = ["OpResources", "RunfoxEngine", "RunfoxStack"]
