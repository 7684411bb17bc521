"""runfox_cdk -- the AWS CDK constructs that deploy runfox_core (``pip install "runfox-core[cdk]"``).

``RunfoxEngine`` is the reusable construct (compose it in your own stack);
``RunfoxStack`` is the ready-made stack built from ``executors.json``. The
deployment facts they render (names, sizes, the topology) live in
``runfox_deploy``, shared with the local emulator.
"""

from runfox_cdk.engine import RunfoxEngine
from runfox_cdk.stack import RunfoxStack

__all__ = ["RunfoxEngine", "RunfoxStack"]
