"""The BlobStore contract, written once and run on every store: memory, a folder, S3 (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runfox_core.blobs import (
    BlobMissingError,
    BlobStore,
    FolderBlobStore,
    MemoryBlobStore,
    ObjectReader,
    beside,
    read_object,
)
from runfox_core.errors import PayloadError


@pytest.fixture(params=["memory", "folder", pytest.param("s3", marks=pytest.mark.aws)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "memory":
        yield MemoryBlobStore()
    elif request.param == "folder":
        yield FolderBlobStore(tmp_path / "blobs")
    else:
        import boto3
        from moto import mock_aws

        from runfox_core.aws.s3_blobs import S3BlobStore

        with mock_aws():
            client = boto3.client("s3", region_name="us-east-1")
            client.create_bucket(Bucket="values")
            yield S3BlobStore("values", client=client)


def test_what_is_put_is_got_back_by_the_uri_it_answers(store: BlobStore) -> None:
    uri = store.put("blobs/abc", b'{"x":1}')
    assert uri == store.location + "blobs/abc"
    assert store.get(uri) == b'{"x":1}'


def test_putting_a_key_again_replaces_its_bytes(store: BlobStore) -> None:
    store.put("blobs/k", b"one")
    assert store.get(store.put("blobs/k", b"two")) == b"two"


def test_a_key_never_written_is_missing_naming_the_uri(store: BlobStore) -> None:
    with pytest.raises(BlobMissingError, match="blobs/nothing"):
        store.get(store.location + "blobs/nothing")


@pytest.mark.parametrize("uri", ["s3://elsewhere/blobs/x", "file:///etc/passwd", "memory://other/blobs/x"])
def test_a_uri_outside_the_store_is_refused_without_a_read(store: BlobStore, uri: str) -> None:
    with pytest.raises(PayloadError, match="outside the blob store"):
        store.get(uri)


@pytest.mark.parametrize("key", ["../escape", "blobs/../../x", "", "blobs//x", "/abs"])
def test_a_key_that_is_not_a_plain_path_is_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(PayloadError, match="plain key"):
        store.get(store.location + key)


def test_a_folder_beside_a_sqlite_file_is_named_after_it(tmp_path: Path) -> None:
    assert beside(tmp_path / "runfox.db").folder == (tmp_path / "runfox.db.blobs").resolve()


# ---------------------------------------------------------------- ObjectReader: objects the kit did not write


def an_object(store: BlobStore, tmp_path: Path) -> str:
    """An object of the store's own scheme written by someone else: a file, or a key of another bucket."""
    if "s3" in store.schemes:  # type: ignore[attr-defined]
        store.client.create_bucket(Bucket="team-data")  # type: ignore[attr-defined]
        store.client.put_object(Bucket="team-data", Key="in/items.jsonl", Body=b"1\n2\n")  # type: ignore[attr-defined]
        return "s3://team-data/in/items.jsonl"
    path = tmp_path / "in dir" / "items.jsonl"  # a space: the URI quotes it
    path.parent.mkdir()
    path.write_bytes(b"1\n2\n")
    return path.as_uri()


def test_every_store_reads_an_object_of_its_scheme_anywhere_it_may_reach(store: BlobStore, tmp_path: Path) -> None:
    # Given an object the kit did not write, outside the store's own location
    uri = an_object(store, tmp_path)
    assert isinstance(store, ObjectReader) and not uri.startswith(store.location)
    # Then read_object reads it, and a sibling never written is missing, naming its URI
    assert read_object(store, uri) == b"1\n2\n"
    with pytest.raises(BlobMissingError, match="is missing"):
        read_object(store, uri.replace("items.jsonl", "never.jsonl"))


@pytest.mark.parametrize("uri", ["s3://team-data/x", "file:///tmp/x", "ftp://host/x", "x"])
def test_a_scheme_the_store_does_not_read_is_refused_naming_those_it_does(store: BlobStore, uri: str) -> None:
    if uri.split("://")[0] in store.schemes:  # type: ignore[attr-defined]
        pytest.skip("this store reads that scheme")
    with pytest.raises(PayloadError, match=f"this backend reads only .*://.* URIs; it cannot read '{uri}'"):
        read_object(store, uri)
