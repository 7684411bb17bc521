"""items_buckets.py -- the buckets a map's ``items_from`` may read: GetObject for the engine functions.

A map step may read its items from an object (``runfox_core.engine.items_from``):
the function that claims the step (start, advance or result_router: all three
run the engine) reads it with ``S3BlobStore.read``, one GetObject. Nothing else
is granted: no List, no Put, and only on the buckets (or key prefixes) the
deployment lists, ``RunfoxEngine(items_buckets=["team-data", "lake/exports/"])``.
A bucket not listed answers AccessDenied, which fails the step's attempt
naming the bucket and this prop.

Known limits: the buckets are named, not created or imported: one owned by
another account must also allow the engine's roles in its own bucket policy,
and one encrypted with a customer KMS key needs ``kms:Decrypt`` on that key,
which is the owner's to grant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from runfox_cdk import nag
from runfox_core.aws.config import ConfigError

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # S3's bucket naming rules (the common part)
_PREFIX = re.compile(r"^[A-Za-z0-9!_.'()/=-]*$")  # a key prefix without wildcards


def object_patterns(entries: Sequence[str]) -> list[str]:
    """``bucket/prefix*`` for each entry (``bucket`` or ``bucket/prefix``); ``ConfigError`` naming a bad one."""
    if isinstance(entries, str):
        raise ConfigError(f"items_buckets must be a list of bucket names, got the string {entries!r}",
                          field="items_buckets")
    patterns = []
    for entry in entries:
        bucket, _, prefix = entry.partition("/") if isinstance(entry, str) else ("", "", "")
        if not _BUCKET.match(bucket) or ".." in bucket or not _PREFIX.match(prefix):
            raise ConfigError(f"items_buckets: {entry!r} is not a bucket name, optionally with a key prefix "
                              "(team-data, or team-data/exports/), without wildcards", field="items_buckets")
        patterns.append(f"{bucket}/{prefix}*")
    return patterns


def grant_items_buckets(functions: Sequence[lambda_.Function], entries: Sequence[str]) -> None:
    """GetObject on the objects ``entries`` name, for each engine function."""
    patterns = object_patterns(entries)
    if not patterns:
        return
    for function in functions:
        partition = Stack.of(function).partition
        function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[f"arn:{partition}:s3:::{p}" for p in patterns]))
        nag.accept_items_buckets(function, patterns)
