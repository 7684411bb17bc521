"""_clients.py -- lazily built default boto3 clients.

Callers inject clients (``client=None``); only when none is given do we build
one, on first use, from a fresh boto3 Session (the default session is not
thread-safe). The endpoint comes from boto3's own configuration
(``AWS_ENDPOINT_URL`` and friends), never from a runfox variable.
"""

from __future__ import annotations

from typing import Any


def default_client(service: str) -> Any:
    try:
        import boto3
    except ImportError as exc:  # pragma: no cover - boto3 ships with the aws extra
        raise ImportError("runfox_core.aws needs boto3: pip install boto3") from exc
    return boto3.session.Session().client(service)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None
