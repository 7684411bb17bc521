"""Payloads of any size on the local emulator: large values travel through moto's S3 by reference.

The sizes here keep the tier fast (hundreds of KB, over both the inline
threshold and an SQS message); ``bench/large_payloads.py`` runs the issue's
100 MB chain and 500 x 1 MB steps and prints the same figures.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from e2e_kit import run_local

from local import blobs
from local.cloud import LocalCloud
from local.deployment import WORKFLOWS_TABLE
from local.lambda_runtime import invoke
from runfox_core.aws import config

BODY_BYTES = 300_000  # characters of the document's body: more than one SQS message holds
CHAIN = {
    "steps": [
        {"op": "document", "input": {"title": "report", "bytes": {"var": "input.bytes"}}},
        {"op": "relay", "depends_on": ["document"], "input": {"doc": {"var": "steps.document.output.doc"}}},
        {"op": "measure", "depends_on": ["relay"], "input": {"doc": {"var": "steps.relay.output.doc"}}},
    ],
    "outputs": {"title": {"var": "steps.relay.output.doc.title"}, "length": {"var": "steps.measure.output.length"},
                "hops": {"var": "steps.measure.output.hops"}},
}
MAX_ITEM_BYTES = 16 * 1024  # the bound on any DynamoDB item of an offloaded run


def start(payload: dict[str, Any]) -> dict[str, Any]:
    return invoke(config.START_HANDLER, payload)


def test_a_chain_passes_a_300_kb_document_by_reference_and_every_item_stays_under_16_kb(cloud: LocalCloud) -> None:
    # Given a 3-step chain whose first step writes a 300 KB document
    payload = {"spec": CHAIN, "inputs": {"bytes": BODY_BYTES}}
    # When it runs through the deployed flow
    (end,) = run_local(cloud, [payload]).endings
    # Then every step read the whole document, the outputs read inside the reference (its title),
    assert (end.status, end.outcome) == ("complete", {"title": "report", "length": BODY_BYTES, "hops": 1})
    # the documents went to the values bucket, and no DynamoDB item holds them
    objects = cloud.client("s3").list_objects_v2(Bucket=blobs.BLOB_BUCKET, Prefix="blobs/")["Contents"]
    assert len(objects) >= 2 and all(o["Size"] > BODY_BYTES for o in objects)
    size, where = blobs.largest_item(cloud.client("dynamodb"), WORKFLOWS_TABLE)
    assert size < MAX_ITEM_BYTES, (size, where)


def test_inputs_given_by_reference_start_an_execution_larger_than_the_start_payload(cloud: LocalCloud) -> None:
    # Given 2 MB of inputs uploaded to the kit's bucket (over the 1 MiB start payload)
    document = {"doc": {"title": "upload", "body": "y" * 2_000_000}}
    cloud.client("s3").put_object(Bucket=blobs.BLOB_BUCKET, Key="uploads/inputs.json", Body=json.dumps(document))
    spec = {"steps": [{"op": "measure", "input": {"doc": {"var": "input.doc"}}}],
            "outputs": {"length": {"var": "steps.measure.output.length"}}}
    # When the start payload names them by reference
    payload = {"spec": spec, "inputs": {"$ref": f"s3://{blobs.BLOB_BUCKET}/uploads/inputs.json"}}
    (end,) = run_local(cloud, [payload]).endings
    # Then the execution reads them as if they had been sent inline
    assert (end.status, end.outcome) == ("complete", {"length": 2_000_000})


def test_inputs_referring_outside_the_kit_bucket_are_refused_at_start_naming_the_uri(cloud: LocalCloud) -> None:
    # Given inputs whose value refers to another bucket
    ref = {"$ref": "s3://someone-elses-bucket/blobs/" + "0" * 64, "sha256": "0" * 64, "bytes": 10}
    # When the execution is started
    error = start({"spec": CHAIN, "inputs": {"bytes": 1, "doc": ref}})["error"]
    # Then it is refused, naming the field and the reference, and nothing is written
    assert (error["type"], error["field"]) == ("BadReferenceError", "inputs")
    assert "s3://someone-elses-bucket/" in error["message"] and "outside the kit's blob store" in error["message"]


def _one_step_reading(doc_ref: dict[str, Any]) -> dict[str, Any]:
    spec = {"steps": [{"op": "measure", "max_attempts": 2, "input": {"doc": {"var": "input.doc"}}}]}
    return {"spec": spec, "inputs": {"doc": doc_ref}}


def test_a_reference_to_a_missing_object_fails_the_attempt_that_reads_it(cloud: LocalCloud) -> None:
    # Given a well-formed reference into the kit's bucket, to an object that was never written
    sha = hashlib.sha256(b"never written").hexdigest()
    ref = {"$ref": f"s3://{blobs.BLOB_BUCKET}/blobs/{sha}", "sha256": sha, "bytes": 13}
    # When a step's executor is given it
    (end,) = run_local(cloud, [_one_step_reading(ref)]).endings
    # Then each attempt fails with a BadReferenceError naming the object, and the execution fails on that step
    assert end.status == "failed" and end.error is not None
    step, kind, message = end.error
    assert (step, kind) == ("measure", "BadReferenceError")
    assert f"blobs/{sha}" in message and "missing" in message


def test_an_object_changed_after_it_was_written_fails_the_attempt_on_its_hash(cloud: LocalCloud) -> None:
    # Given a reference whose object in the bucket no longer holds what was hashed
    written = json.dumps({"title": "t", "body": "original"}).encode()
    sha = hashlib.sha256(written).hexdigest()
    tampered = json.dumps({"title": "t", "body": "tampered"}).encode()  # same length, other bytes
    cloud.client("s3").put_object(Bucket=blobs.BLOB_BUCKET, Key=f"blobs/{sha}", Body=tampered)
    ref = {"$ref": f"s3://{blobs.BLOB_BUCKET}/blobs/{sha}", "sha256": sha, "bytes": len(written)}
    # When a step's executor is given it
    (end,) = run_local(cloud, [_one_step_reading(ref)]).endings
    # Then the attempt fails on the hash, naming both digests
    assert end.status == "failed" and end.error is not None
    assert end.error[1] == "BadReferenceError" and sha in end.error[2] and "SHA-256" in end.error[2]
