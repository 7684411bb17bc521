"""The values bucket: one per deployment, encrypted, TLS only, never public, expiring with retention,
and reachable only by the functions that pack or read values."""

from __future__ import annotations

from typing import Any

from infra_testkit import CfnView, render

from runfox_core.aws import config
from runfox_deploy import facts

PARENT = "Runfox.template.json"


def buckets(templates: dict[str, CfnView]) -> list[dict[str, Any]]:
    return [r["Properties"] for view in templates.values() for r in view.of_type("AWS::S3::Bucket").values()]


def test_there_is_one_bucket_encrypted_private_and_expiring_after_retention_plus_grace(
        templates: dict[str, CfnView]) -> None:
    # Given the synthesized app
    (bucket,) = buckets(templates)
    # Then it is encrypted at rest, blocks every kind of public access and disables ACLs
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    # And its objects expire the execution retention plus the grace after their last write
    (lifecycle,) = bucket["LifecycleConfiguration"]["Rules"]
    assert lifecycle["ExpirationInDays"] == config.DEFAULT_EXECUTION_RETENTION_DAYS + facts.BLOB_GRACE_DAYS
    assert lifecycle["Status"] == "Enabled"


def test_the_bucket_policy_refuses_every_request_without_tls(templates: dict[str, CfnView]) -> None:
    (policy,) = templates[PARENT].of_type("AWS::S3::BucketPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in statements)


def is_items_grant(statement: dict[str, Any]) -> bool:
    """A GetObject on the buckets map steps read items from (tests/infra/test_items_buckets.py)."""
    return any(render(r).startswith("arn:<AWS::Partition>:s3:::") for r in
               (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]))


def test_only_engine_functions_and_owned_executors_may_touch_values_and_only_get_and_put(
        templates: dict[str, CfnView]) -> None:
    # Given every statement that names S3
    granted: dict[str, set[str]] = {}
    for view in templates.values():
        for policy in view.of_type("AWS::IAM::Policy").values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if any(a.startswith("s3:") for a in actions) and not is_items_grant(statement):
                    suffix = statement["Resource"]["Fn::Join"][1][-1]
                    for role in policy["Properties"]["Roles"]:
                        granted.setdefault(role["Ref"], set()).update(f"{a} {suffix}" for a in actions)
    # Then each grant is GetObject/PutObject on blobs/*, plus GetObject on uploads/* for start alone
    assert all(a <= {"s3:GetObject /blobs/*", "s3:PutObject /blobs/*", "s3:GetObject /uploads/*"}
               for a in granted.values())
    assert sum(1 for a in granted.values() if "s3:GetObject /uploads/*" in a) == 1
    functions = [f for view in templates.values() for f in view.of_type("AWS::Lambda::Function").values()
                 if f["Properties"]["Handler"] != "index.handler"]  # CDK's own helpers hold no grant
    assert len(granted) == len(functions)
