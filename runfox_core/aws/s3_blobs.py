"""s3_blobs.py -- S3BlobStore: the kit's bucket as the blob store of DynamoDB + SQS.

Every value the codec offloads (``payloads.py``) is one object
``s3://<bucket>/blobs/<sha256>``. A ``put`` is one PutObject (writing a key
again renews its age, so the bucket's lifecycle rule, which matches execution
retention, never expires a value a newer execution still names); a ``get``
is one GetObject. ``read`` (a map's ``items_from``, ``blobs.ObjectReader``)
is one GetObject of any ``s3://bucket/key``, with the same client: the
engine's role may read the buckets the stack lists in ``items_buckets``, and
an AccessDenied fails the attempt with that hint. Encryption at rest is the bucket's default (SSE), set by the
stack (``runfox_cdk``); TLS is enforced by its policy.

The client is injected (``client=None`` builds a default one on first use),
so boto3 stays out of ``runfox_core``'s import graph.

Known limits: one PutObject per value (S3 takes up to 5 GB in one PUT, far
beyond what a Lambda holds in memory); no multipart, no streaming.
"""

from __future__ import annotations

from typing import Any

from ..blobs import BlobMissingError, key_of, s3_parts
from ..errors import PayloadError
from ._clients import default_client, error_code

_MISSING_CODES = ("NoSuchKey", "404", "NotFound")
_DENIED_CODES = ("AccessDenied", "403", "Forbidden")


class S3BlobStore:
    """Blobs as objects of one bucket."""

    def __init__(self, bucket: str, client: Any = None):
        if not bucket:
            raise ValueError("S3BlobStore needs a bucket name")
        self.bucket = bucket
        self.location = f"s3://{bucket}/"
        self.schemes: tuple[str, ...] = ("s3",)  # ``read``: any bucket this client may read
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = default_client("s3")
        return self._client

    def put(self, key: str, data: bytes) -> str:
        uri = self.location + key
        self.client.put_object(Bucket=self.bucket, Key=key_of(self, uri), Body=data,
                               ContentType="application/json")
        return uri

    def get(self, uri: str) -> bytes:
        key = key_of(self, uri)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in _MISSING_CODES:
                raise BlobMissingError(f"{uri!r} is missing: no object {key!r} in bucket {self.bucket!r} "
                                       "(deleted, or expired by the bucket's lifecycle rule)") from None
            raise
        return bytes(response["Body"].read())

    def read(self, uri: str) -> bytes:
        """The object at ``s3://bucket/key``, in any bucket (``BlobMissingError`` when it is not there)."""
        bucket, key = s3_parts(uri)
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
        except Exception as exc:
            code = error_code(exc)
            if code in (*_MISSING_CODES, "NoSuchBucket"):
                raise BlobMissingError(f"{uri!r} is missing: no object {key!r} in bucket {bucket!r}"
                                       + (" (no such bucket)" if code == "NoSuchBucket" else "")) from None
            if code in _DENIED_CODES:
                raise PayloadError(f"{uri!r} cannot be read: access denied (list bucket {bucket!r} in the "
                                   "stack's items_buckets)") from None
            raise
        return bytes(response["Body"].read())

