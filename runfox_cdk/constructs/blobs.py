"""blobs.py -- the kit's bucket: where values too large to travel inline are kept, by content.

One bucket per deployment, written and read by the engine functions (start,
advance, result_router: they pack inputs and outputs and read inside
references; start also reads ``uploads/*``, inputs given by reference) and by each owned op's executor (it reads its inputs and writes
its large output); nothing else is granted. Objects are
``blobs/<sha256>`` (``runfox_core.payloads``), so the grants name that
prefix, and only Get and Put: nobody deletes a value, the lifecycle rule does.

Hardening: S3-managed encryption at rest, every request over TLS (a bucket
policy denies ``aws:SecureTransport=false``), all public access blocked,
ACLs disabled (bucket owner enforced). The lifecycle rule expires an object
``execution_retention_days + facts.BLOB_GRACE_DAYS`` after it was last
written: every reference is written when it is made (a PUT renews an object's
age), so a value outlives the records that name it unless an execution runs
longer than the grace.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from runfox_cdk import nag
from runfox_core.payloads import BLOB_PREFIX
from runfox_deploy import facts

OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject")  # what S3BlobStore calls: one read, one write per value
UPLOADS_PREFIX = "uploads/"  # where a caller puts start inputs given by reference (README: large payloads)


class BlobBucket(Construct):
    """``bucket``, and ``grant(function)`` for a function that packs or reads values."""

    def __init__(self, scope: Construct, id: str, *, execution_retention_days: int,
                 removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(
                id="ExpireWithExecutions",
                expiration=Duration.days(execution_retention_days + facts.BLOB_GRACE_DAYS),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )],
            removal_policy=removal_policy,
        )
        nag.accept_blob_bucket(self.bucket)

    def grant(self, function: lambda_.Function, *, uploads: bool = False) -> None:
        """GetObject and PutObject on ``blobs/*``, the two calls ``S3BlobStore`` makes (tests/infra/test_iam.py
        proves them against the recorded calls; CDK's grant_read/grant_put would add actions nobody calls);
        ``uploads``: GetObject on ``uploads/*`` too, where callers put start inputs given by reference."""
        function.add_to_role_policy(iam.PolicyStatement(
            actions=list(OBJECT_ACTIONS), resources=[self.bucket.arn_for_objects(BLOB_PREFIX + "*")]))
        if uploads:
            function.add_to_role_policy(iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(UPLOADS_PREFIX + "*")]))
        nag.accept_blob_grants(function, self.bucket, uploads)
