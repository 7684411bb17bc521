"""Crash anywhere in a run whose values travel by reference: every crash ends like the clean run, and
a crash between an object's PUT and the commit naming it leaves at most an orphan object, never a
reference to nothing."""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

import pytest
from fault_kit import CallTap, Ending, calls_made, crash_each_call, only_ops_of, operations, run_once, tapped_cloud

import local.event_source
from local import blobs
from local.cloud import LocalCloud
from local.deployment import WORKFLOWS_TABLE
from runfox_core import payloads
from runfox_core.aws._ddb_history import EVENTS_ZDICT  # (the history events are packed against it)

BODY = 20_000  # characters: over the inline threshold, so every document goes by reference
SPEC = {
    "steps": [
        {"id": "write", "fn": "document", "input": {"title": "t", "bytes": BODY}},
        {"id": "pass", "fn": "relay", "depends_on": ["write"], "input": {"doc": {"var": "steps.write.output.doc"}}},
        {"id": "read", "fn": "measure", "depends_on": ["pass"], "input": {"doc": {"var": "steps.pass.output.doc"}}},
    ],
    "outputs": {"length": {"var": "steps.read.output.length"}, "title": {"var": "steps.pass.output.doc.title"},
                "doc": {"var": "steps.pass.output.doc"}},
}
EXECUTORS = only_ops_of(SPEC)
pytestmark = pytest.mark.usefixtures("no_grace")
REFERENCE = re.compile(rf'"\$ref":\s*"s3://{blobs.BLOB_BUCKET}/(blobs/[0-9a-f]{{64}})"')


def named_objects(cloud: LocalCloud) -> set[str]:
    """The keys every reference stored in the workflows table names (compressed items included)."""
    texts = []
    for page in cloud.client("dynamodb").get_paginator("scan").paginate(TableName=WORKFLOWS_TABLE):
        for item in page["Items"]:
            for value in item.values():
                if "S" in value:
                    texts.append(value["S"])
                elif "B" in value:
                    texts.append(zlib.decompressobj(zdict=EVENTS_ZDICT).decompress(value["B"]).decode())
    return {key for text in texts for key in REFERENCE.findall(text)}


def run(tap: CallTap, name: str) -> tuple[Ending, set[str]]:
    with tapped_cloud(EXECUTORS, tap) as (cloud, monkeypatch):
        invoke = local.event_source.invoke

        def cold(*args: Any, **kwargs: Any) -> Any:  # each Lambda its own process: no value cached across them
            payloads.clear_cache()
            return invoke(*args, **kwargs)

        monkeypatch.setattr(local.event_source, "invoke", cold)
        ending = run_once(cloud, tap, name, spec=SPEC)
        stored = {o["Key"] for o in cloud.client("s3").list_objects_v2(
            Bucket=blobs.BLOB_BUCKET, Prefix="blobs/").get("Contents", [])}
        dangling = named_objects(cloud) - stored
    return ending, dangling


def test_a_crash_at_any_aws_call_of_an_offloaded_run_ends_like_the_clean_run_with_no_dangling_reference() -> None:
    # Given the clean run of a chain passing a 20 KB document by reference, and its numbered AWS calls
    clean_tap = CallTap()
    clean, dangling = run(clean_tap, "offloaded-clean")
    assert clean.status == "complete" and dangling == set()
    assert (clean.outcome["length"], clean.outcome["title"]) == (BODY, "t")
    assert json.dumps(clean.outcome["doc"]).startswith('{"$ref"')
    assert operations(clean_tap)["s3.PutObject"] >= 2 and operations(clean_tap)["s3.GetObject"] >= 2
    # When each call in turn fails, the S3 writes and reads among them
    sweep = crash_each_call(run, "offloaded-crash", len(clean_tap.calls),
                            lambda result: result == (clean, set()))
    # Then it ends like the clean run, and every stored reference names an object that exists
    print(f"\ncrash-anywhere, offloaded run: {calls_made(clean_tap)}; {sweep.survived} crash runs ended exactly "
          f"like the clean run with no dangling reference")
    assert sweep.broken == []
