"""Crash anywhere in a run whose values travel by reference: every crash ends like the clean run, and
a crash between an object's PUT and the commit naming it leaves at most an orphan object, never a
reference to nothing."""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

import pytest
from fault_kit import CallTap, Ending, crash_points, only_ops_of, operations, run_once, tapped

import local.event_source
from local import blobs
from local.cloud import LocalCloud
from local.deployment import WORKFLOWS_TABLE
from runfox_core import payloads
from runfox_core.aws import config

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
REFERENCE = re.compile(rf'"\$ref":\s*"s3://{blobs.BLOB_BUCKET}/(blobs/[0-9a-f]{{64}})"')


@pytest.fixture(autouse=True)
def no_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ENV_UNSENT_GRACE_SECONDS, "0")  # as in test_crash_anywhere


def named_objects(cloud: LocalCloud) -> set[str]:
    """The keys every reference stored in the workflows table names (compressed items included)."""
    texts = []
    for page in cloud.client("dynamodb").get_paginator("scan").paginate(TableName=WORKFLOWS_TABLE):
        for item in page["Items"]:
            for value in item.values():
                if "S" in value:
                    texts.append(value["S"])
                elif "B" in value:
                    texts.append(zlib.decompress(value["B"]).decode())
    return {key for text in texts for key in REFERENCE.findall(text)}


def run(tap: CallTap, name: str) -> tuple[Ending, set[str]]:
    with (pytest.MonkeyPatch.context() as monkeypatch,
          LocalCloud(EXECUTORS, quiet=True, in_process=True) as cloud, tapped(tap, monkeypatch)):
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
    total = len(clean_tap.calls)
    assert operations(clean_tap)["s3.PutObject"] >= 2 and operations(clean_tap)["s3.GetObject"] >= 2
    broken: list[tuple[int, str, Any]] = []
    # When each call in turn fails, the S3 writes and reads among them
    crashes = crash_points(total)
    for k in crashes:
        tap = CallTap(fail_at=k)
        ending, dangling = run(tap, f"offloaded-crash-{k}")
        assert tap.fired is not None, f"call {k} was never made"
        # Then it ends like the clean run, and every stored reference names an object that exists
        if ending != clean or dangling:
            broken.append((k, clean_tap.calls[k - 1], (ending.status, sorted(dangling))))
    print(f"\ncrash-anywhere, offloaded run: {total} AWS calls "
          f"({', '.join(f'{op} {n}' for op, n in operations(clean_tap).most_common())}); "
          f"{len(crashes) - len(broken)}/{len(crashes)} crash runs ended exactly like the clean run with no dangling reference")
    assert broken == []
