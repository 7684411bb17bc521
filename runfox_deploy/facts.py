"""facts.py -- deploy-side constants: Lambda defaults, AWS limits, build folders, output keys.

Owns every number and name the CDK constructs (``runfox_cdk``) and the local
emulator (``local/deployment.py``) both need and the Lambdas never read at
run time. Units are in the comments. The environment variable names and the
DynamoDB key schema stay in ``runfox_core.aws.config`` (the runtime reads
them); this module imports them from there, never the other way round.

Known limits: the CloudFormation and Lambda limits below are the documented
quotas of 2026; an account with raised quotas still gets these.
"""

from __future__ import annotations

# --- Lambda ------------------------------------------------------------------------

LAMBDA_RUNTIME = "python3.13"  # the layer is built for exactly this runtime
LAMBDA_PYTHON_VERSION = "3.13"  # pip --python-version of `make layer`
LAMBDA_ARCHITECTURE = "arm64"  # default of every function
#: architecture -> pip --platform of wheels built for it (no Docker needed)
PIP_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
ENGINE_MEMORY_MB = 256  # MB, start / advance / result_router
ENGINE_TIMEOUT_SECONDS = 30  # seconds, start / advance / result_router
LOG_RETENTION_DAYS = 30  # days, every function's log group (one of 7, 14, 30, 90, 365)
LAMBDA_ENVIRONMENT_MAX_BYTES = 4096  # bytes: keys + values of one function's variables
LAMBDA_LAYERS_MAX = 5  # layers per function
#: the result router's asynchronous invocations (executors' answers events, ``runfox_core.aws.answers``):
#: Lambda retries a failed one this many times, then sends it to the results queue (the on-failure
#: destination), as it does with an event still unprocessed after ROUTER_EVENT_MAX_AGE_SECONDS
ROUTER_EVENT_RETRY_ATTEMPTS = 2  # the Lambda maximum
ROUTER_EVENT_MAX_AGE_SECONDS = 6 * 3600  # seconds in Lambda's event queue (the maximum and default)

# --- S3 (the values bucket) ---------------------------------------------------------

#: days a value outlives execution retention: it expires retention + this after its last write
BLOB_GRACE_DAYS = 30

# --- SQS ---------------------------------------------------------------------------

DLQ_RETENTION_DAYS = 14  # days, the SQS maximum: longer than any source queue
VISIBILITY_TIMEOUT_FACTOR = 6  # queue visibility = 6 x consumer timeout (AWS advice)
ROUTER_VISIBILITY_TIMEOUT_SECONDS = VISIBILITY_TIMEOUT_FACTOR * ENGINE_TIMEOUT_SECONDS  # results queue and DLQs
MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200  # seconds, the SQS maximum (12 h)
QUEUE_NAME_MAX = 80  # characters, SQS
OP_NAME_MAX = 64  # characters, a dispatch token
DLQ_SUFFIX = "-dlq"
#: characters left for the queue name prefix: prefix + op name + "-dlq" <= 80
QUEUE_PREFIX_MAX = QUEUE_NAME_MAX - OP_NAME_MAX - len(DLQ_SUFFIX)

# --- CloudFormation (per stack; a nested stack is a stack) -------------------------

CFN_MAX_RESOURCES = 500
CFN_MAX_OUTPUTS = 200
CFN_MAX_PARAMETERS = 200
CFN_MAX_TEMPLATE_BYTES = 1_000_000  # bytes, a template uploaded to S3 (what CDK deploys)
#: Ops per nested stack. An op with a handler costs 14 resources (queue, DLQ, two queue
#: policies, function, role, policy, log group, two event source mappings, four alarms),
#: plus a layer per distinct requirements set: 20 ops are 280, far from 500 with room to grow.
OPS_PER_STACK = 20

# --- operations ----------------------------------------------------------------------

ALARM_PERIOD_SECONDS = 60  # seconds, every alarm's evaluation period
QUEUE_AGE_ALARM_SECONDS = 900  # seconds: a job or result older than this pages someone


# --- repository layout (app.py resolves these against the project root) ------------

LAYER_DIR = "build/layer"  # `make layer` writes python/ here (arm64)
REQUIREMENTS_DIR = "build/requirements"  # `make layer` writes one folder per op requirements set
LAYER_CONSTRAINTS = "constraints/layer.txt"  # pins of the layer and executor dependencies
DEFAULT_EXECUTORS_CONFIG = "executors.json"
OPS_MANIFEST_FILE = "runfox_ops.json"  # written into the engine functions' code asset

# --- CloudFormation outputs ---------------------------------------------------------

OUTPUT_WORKFLOWS_TABLE = "WorkflowsTableName"
OUTPUT_START_FUNCTION = "StartFunctionName"
OUTPUT_ADVANCE_FUNCTION = "AdvanceFunctionName"
OUTPUT_RESULT_ROUTER_FUNCTION = "ResultRouterFunctionName"
OUTPUT_RESULTS_QUEUE_URL = "ResultsQueueUrl"
OUTPUT_QUEUE_URL_PREFIX = "OpQueueUrlPrefix"  # an op's queue URL is this + the op name
OUTPUT_ALARM_TOPIC = "AlarmTopicArn"
OUTPUT_DASHBOARD = "DashboardName"

# --- CloudWatch ---------------------------------------------------------------------

ENGINE_FUNCTIONS = 3  # start, advance, result-router
ALARMS_PER_QUEUE = 2  # its dead-letter queue holds messages; its oldest message is too old
ALARMS_PER_FUNCTION = 2  # errors; throttles
ALARMS_FIXED = 1  # WorkflowsFailed, the engine's metric


def alarm_count(queues: int, functions: int) -> int:
    """Alarms of a stack with ``queues`` queues that have a dead-letter queue (the results queue and
    each owned op queue) and ``functions`` functions (the engine's and each op's executor)."""
    return queues * ALARMS_PER_QUEUE + functions * ALARMS_PER_FUNCTION + ALARMS_FIXED
