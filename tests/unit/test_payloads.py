"""The codec: one encoder, one place that decides inline or by reference, and safe reads of references."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from runfox_core.blobs import MemoryBlobStore
from runfox_core.errors import PayloadError
from runfox_core.payloads import (
    INLINE_BYTES,
    MAX_PAYLOAD_BYTES,
    PREVIEW_CHARS,
    BadReferenceError,
    Codec,
    clear_cache,
    decode,
    encode,
    encode_json,
    is_ref,
    load,
    load_start_inputs,
    resolve,
)


@pytest.fixture
def blobs() -> MemoryBlobStore:
    return MemoryBlobStore()


@pytest.fixture
def codec(blobs: MemoryBlobStore) -> Codec:
    return Codec(blobs)


def test_a_small_object_stays_inline_as_a_detached_copy_with_its_size(codec: Codec) -> None:
    value = {"a": [1, 2], "b": {"c": "d"}}
    packed, size = codec.pack(value, "step 'x' output")
    assert packed == value and packed is not value and packed["a"] is not value["a"]
    assert size == len(json.dumps(value, separators=(",", ":")))


def test_the_largest_fields_go_by_reference_until_the_rest_fits_keeping_the_field_order(
        codec: Codec, blobs: MemoryBlobStore) -> None:
    value = {"small": "s", "big": "b" * 20_000, "medium": "m" * 6_000, "last": 1}
    packed, size = codec.pack(value, "step 'x' output")
    assert list(packed) == list(value)
    assert is_ref(packed["big"]) and packed["medium"] == "m" * 6_000 and packed["small"] == "s"
    assert size == len(json.dumps(packed, separators=(",", ":"))) <= INLINE_BYTES
    assert len(blobs) == 1


def test_a_reference_names_its_bucket_key_hash_size_and_a_preview_of_the_json(codec: Codec) -> None:
    packed, _ = codec.pack({"doc": {"title": "t", "body": "x" * 10_000}}, "output")
    ref = packed["doc"]
    data = json.dumps({"body": "x" * 10_000, "title": "t"}, separators=(",", ":")).encode()
    assert set(ref) == {"$ref", "sha256", "bytes", "preview"}
    assert ref["sha256"] == hashlib.sha256(data).hexdigest() and ref["bytes"] == len(data)
    assert ref["$ref"].endswith("blobs/" + ref["sha256"])
    assert ref["preview"] == data.decode()[:PREVIEW_CHARS]


def test_the_same_value_is_stored_once(codec: Codec, blobs: MemoryBlobStore) -> None:
    first, _ = codec.pack({"a": "v" * 9_000}, "one")
    second, _ = codec.pack({"b": "v" * 9_000}, "two")
    assert first["a"] == second["b"] and len(blobs) == 1


def test_references_resolve_to_the_values_at_any_depth(codec: Codec) -> None:
    inner, _ = codec.pack({"doc": "d" * 9_000}, "inner")
    outer, _ = codec.pack({"docs": [inner["doc"], inner["doc"]] * 10, "x": 1}, "outer")  # a list of references
    assert resolve(outer) == {"docs": ["d" * 9_000] * 20, "x": 1}


def test_without_a_blob_store_values_stay_inline_up_to_the_hard_cap_and_not_beyond() -> None:
    plain = Codec()
    packed, _ = plain.pack({"v": "x" * 100_000}, "step 'a' output")
    assert packed == {"v": "x" * 100_000}
    with pytest.raises(PayloadError, match=r"step 'a' output is 300,008 bytes of JSON; the limit is 196,608"):
        plain.pack({"v": "x" * 300_000}, "step 'a' output")


def test_an_object_of_many_small_fields_over_the_cap_is_an_error_naming_it(codec: Codec) -> None:
    value = {f"k{i}": "x" * 20 for i in range(10_000)}
    with pytest.raises(PayloadError, match=rf"workflow inputs is .* by reference; the limit is {MAX_PAYLOAD_BYTES:,}"):
        codec.pack(value, "workflow inputs")


@pytest.mark.parametrize("value, needle", [([1], "must be a JSON object"), ({"v": float("nan")}, "not JSON"),
                                           ({"v": object()}, "not JSON-serialisable")])
def test_what_is_not_a_json_object_is_an_error_naming_it(codec: Codec, value: Any, needle: str) -> None:
    with pytest.raises(PayloadError, match=f"step 'a' output .*{needle}|step 'a' output {needle}"):
        codec.pack(value, "step 'a' output")


def test_packing_without_writing_gives_the_same_references_and_writes_nothing(blobs: MemoryBlobStore) -> None:
    codec = Codec(blobs)
    dry, _ = codec.pack({"v": "z" * 9_000}, "inputs", write=False)
    assert len(blobs) == 0
    assert codec.pack({"v": "z" * 9_000}, "inputs")[0] == dry


def test_a_dict_with_a_dollar_ref_key_but_not_the_reference_shape_is_plain_data(codec: Codec) -> None:
    schema = {"$ref": "#/definitions/item"}
    assert not is_ref(schema)
    assert codec.pack({"schema": schema}, "inputs")[0] == {"schema": schema}
    assert resolve({"schema": schema}) == {"schema": schema}


def test_a_reference_outside_every_known_store_is_refused_when_packed_and_when_read(codec: Codec) -> None:
    foreign = {"$ref": "s3://someone-else/blobs/" + "0" * 64, "sha256": "0" * 64, "bytes": 2}
    with pytest.raises(BadReferenceError, match=r"step 'a' output: reference 's3://someone-else/.*outside"):
        codec.pack({"doc": foreign}, "step 'a' output")
    with pytest.raises(BadReferenceError, match="outside the kit's blob store"):
        load(foreign)


def test_a_missing_object_is_a_bad_reference_naming_it(codec: Codec, blobs: MemoryBlobStore) -> None:
    sha = hashlib.sha256(b'"gone"').hexdigest()
    ref = {"$ref": f"{blobs.location}blobs/{sha}", "sha256": sha, "bytes": 6}
    with pytest.raises(BadReferenceError, match=f"blobs/{sha}.*missing"):
        load(ref)


def test_an_object_whose_bytes_changed_is_a_bad_reference_on_its_size_or_hash(
        codec: Codec, blobs: MemoryBlobStore) -> None:
    ref = codec.put("w" * 9_000)
    clear_cache()  # as in another process: the read goes to the store
    blobs.put(ref["$ref"][len(blobs.location):], json.dumps("v" * 9_000).encode())
    with pytest.raises(BadReferenceError, match=f"SHA-256 is .*, not {ref['sha256']}"):
        load(ref)
    blobs.put(ref["$ref"][len(blobs.location):], b'"short"')
    with pytest.raises(BadReferenceError, match="names 9,002 bytes but the object holds 7"):
        load(ref)


def test_a_malformed_hash_is_a_bad_reference(codec: Codec, blobs: MemoryBlobStore) -> None:
    with pytest.raises(BadReferenceError, match="64 lowercase hex"):
        load({"$ref": blobs.location + "blobs/x", "sha256": "XYZ", "bytes": 1})


def test_start_inputs_by_a_bare_reference_are_read_whole(codec: Codec, blobs: MemoryBlobStore) -> None:
    uri = blobs.put("uploads/in.json", json.dumps({"name": "n" * 20_000}).encode())
    assert load_start_inputs({"$ref": uri}) == {"name": "n" * 20_000}
    with pytest.raises(BadReferenceError, match="missing"):
        load_start_inputs({"$ref": blobs.location + "uploads/none.json"})
    with pytest.raises(BadReferenceError, match="must be"):
        load_start_inputs({"$ref": uri, "extra": 1})


def test_the_inline_threshold_is_checked_when_the_codec_is_made() -> None:
    with pytest.raises(ValueError, match="inline_bytes must be an integer from 1 to 196,608"):
        Codec(inline_bytes=MAX_PAYLOAD_BYTES + 1)


def test_a_store_that_cannot_be_read_is_a_store_error_that_expressions_pass_through_for_a_retry(
        codec: Codec, blobs: MemoryBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from runfox_core import expressions
    from runfox_core.payloads import BlobStoreError

    packed, _ = codec.pack({"doc": {"title": "t", "body": "b" * 9_000}}, "output")
    clear_cache()

    def unreachable(uri: str) -> bytes:
        raise ConnectionError("endpoint unreachable")

    monkeypatch.setattr(blobs, "get", unreachable)
    context = {"steps": {"a": {"output": packed}}, "input": {}, "state": {}}
    with pytest.raises(BlobStoreError, match="endpoint unreachable"):
        expressions.resolve_fields({"t": {"var": "steps.a.output.doc.title"}}, context, "input")


def test_the_one_encoder_is_compact_ascii_in_key_order_and_its_length_is_the_size_in_bytes() -> None:
    value = {"b": [1, 2.5, None], "a": "é✓😀\ud800"}
    text = encode(value)
    assert text == '{"b":[1,2.5,null],"a":"\\u00e9\\u2713\\ud83d\\ude00\\ud800"}'
    assert len(text) == len(text.encode("utf-8")) and decode(text) == value
    assert encode_json(value) == '{"a":"\\u00e9\\u2713\\ud83d\\ude00\\ud800","b":[1,2.5,null]}'
    with pytest.raises(ValueError):
        encode({"x": float("nan")})


CORE = Path(__file__).resolve().parents[2] / "runfox_core"


@pytest.mark.parametrize("folder", ["backend", "aws"])
def test_no_store_or_runner_encodes_json_itself_but_through_the_one_encoder(folder: str) -> None:
    # A store, runner or sender with json.dumps of its own would have options of its own (the bug this
    # guards against: DynamoDB wrote UTF-8 and refused a lone surrogate that SQLite kept).
    found = [f"{path.name}:{n}" for path in sorted((CORE / folder).glob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "json.dumps(" in line]
    assert found == [], f"encode through runfox_core.payloads.encode (or encode_json): {found}"
