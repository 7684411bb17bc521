"""nag.py -- every cdk-nag finding we accept, each with its written reason.

The AwsSolutions pack runs as a policy-validation plugin (cdk-nag v3): any
finding not acknowledged here fails synthesis. Constructs call these helpers
on the resource that causes the finding, so a user composing ``RunfoxEngine``
in their own stack inherits the same acknowledgements and reasons.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from runfox_deploy.facts import LAMBDA_RUNTIME
from runfox_deploy.topology import Topology


def add_checks(scope: IConstruct) -> None:
    """Run the AwsSolutions pack over ``scope`` at synth (writing acknowledgements to the template)."""
    Validations.of(scope).add_plugins(
        AwsSolutionsChecks(scope, verbose=True, write_suppressions_to_cloud_formation=True)
    )


def accept_function_findings(function: IConstruct) -> None:
    """Findings every runfox Lambda has by design (applies to its role and policy too)."""
    _ack(
        function,
        "AwsSolutions-IAM5[Resource::*]",
        "Only X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) uses Resource '*': "
        "X-Ray has no resource-level permissions. Table and queue grants name their resources "
        "(tests/infra asserts it).",
    )
    _ack(
        function,
        "AwsSolutions-L1",
        f"Pinned to {LAMBDA_RUNTIME} on purpose: the shared layer's compiled wheels are built for "
        "exactly this runtime (make layer); move both together when upgrading.",
    )


def accept_queue_name_patterns(function: IConstruct, topology: Topology) -> None:
    """The engine reaches every op queue and DLQ through one name pattern."""
    for pattern in (topology.op_queue_arn_pattern(), topology.op_dlq_arn_pattern()):
        _ack(
            function,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:{pattern}]",
            _PATTERN_REASON,
        )


_PATTERN_REASON = (
        "Op queues and their DLQs are named <prefix><op> and <prefix><op>-dlq: one statement on "
        "<prefix>* (send) and <prefix>*-dlq (consume) covers every op, so the role's policy stays under "
        "IAM's 10 KB whatever the number of ops (a statement per queue passes it at about 100 ops)."
)


def accept_blob_bucket(bucket: IConstruct) -> None:
    """The values bucket keeps no access log of its own."""
    _ack(
        bucket,
        "AwsSolutions-S1",
        "The values bucket holds content-addressed copies of step inputs and outputs, written and read "
        "only by the kit's own functions (their logs name each execution); a server access log bucket "
        "would double the buckets to secure. Turn on CloudTrail S3 data events to audit object access.",
    )


def accept_blob_grants(function: IConstruct, bucket: IConstruct, uploads: bool) -> None:
    """Grants on the values bucket: object actions on ``blobs/*`` (and ``uploads/*``: ``constructs/blobs.py``)."""
    for prefix in ("blobs", "uploads") if uploads else ("blobs",):
        _ack(function, f"AwsSolutions-IAM5[Resource::{_arn_token(function, bucket)}/{prefix}/*]", _BLOB_REASON)


_BLOB_REASON = (
    "Values are objects blobs/<sha256> of the kit's one bucket, named by their content at run time, and start "
    "inputs by reference are objects the caller names under uploads/: GetObject and PutObject are granted on "
    "blobs/ and GetObject on uploads/ (start only), nothing else."
)


def _arn_token(function: IConstruct, bucket: IConstruct) -> str:
    """How cdk-nag prints the bucket's ARN in ``function``'s policy: ``<LogicalId.Arn>`` in the bucket's
    stack, the parameter ``referenceto<unique id>Arn`` that CDK passes into a nested stack elsewhere."""
    from aws_cdk import CfnElement, Names, Stack

    resource = bucket.node.default_child
    assert isinstance(resource, CfnElement)
    if Stack.of(function) is Stack.of(bucket):
        return f"<{Stack.of(bucket).get_logical_id(resource)}.Arn>"
    return f"<referenceto{Names.unique_id(resource)}Arn>"


def accept_dead_letter_queue(queue: IConstruct) -> None:
    """A DLQ is the end of the line: it has no DLQ of its own."""
    _ack(
        queue,
        "AwsSolutions-SQS3",
        "This queue is itself a dead-letter queue; its messages are alarmed on and, for op "
        "queues, turned into failed attempts by the result router.",
    )


def _ack(scope: IConstruct, rule: str, reason: str) -> None:
    # A function's role is its sibling (we make the role), so acknowledge on both.
    role = getattr(scope, "role", None)
    for target in (scope, role) if role is not None else (scope,):
        Validations.of(target).acknowledge(Acknowledgment(id=rule, reason=reason))


def accept_items_buckets(function: IConstruct, patterns: list[str]) -> None:
    """GetObject on the buckets a map's items may be read from (``constructs/items_buckets.py``)."""
    for pattern in patterns:
        _ack(function, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{pattern}]", _ITEMS_REASON)


_ITEMS_REASON = (
    "A map step reads its items from an object the workflow names at run time (items_from); the deployment "
    "lists the buckets or key prefixes it may read, and only GetObject is granted on them."
)
