"""The BlobStore contract, written once and run on every store: memory, a folder, S3 (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runfox_core.blobs import BlobMissingError, BlobStore, FolderBlobStore, MemoryBlobStore, beside
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
