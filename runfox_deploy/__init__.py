"""runfox_deploy -- deployment facts, rendered by the CDK constructs and the local emulator alike.

- ``facts``: Lambda defaults, AWS limits, build folders, output keys;
- ``executors``: the executors config (``executors.json``) and its checks;
- ``topology``: queue names, consumers, the ops manifest, the engine environment.

Pure stdlib (plus ``runfox_core.aws.config`` for the runtime's names): importing
it starts no CDK and no boto3, and it never ships in a Lambda.
"""

from runfox_deploy.executors import (
    ExecutorsConfig,
    OpConfig,
    ResultsConfig,
    check_code,
    executors_config_path,
    load_executors_config,
    parse_executors_config,
    validate_op,
    validate_results,
)
from runfox_deploy.topology import Consumer, Topology, dlq_name, engine_environment

__all__ = [
    "Consumer",
    "ExecutorsConfig",
    "OpConfig",
    "ResultsConfig",
    "Topology",
    "check_code",
    "dlq_name",
    "engine_environment",
    "executors_config_path",
    "load_executors_config",
    "parse_executors_config",
    "validate_op",
    "validate_results",
]
