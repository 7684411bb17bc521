"""_sqs.py -- sending runfox messages through SQS, shared by the runner and the executor.

Owns batching (at most 10 entries and 256 KiB per SendMessageBatch), the
check that every entry was accepted (SendMessageBatch reports refusals in
``Failed`` instead of raising), and the rule that turns an executor's output
or exception into a result that can always be sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from .. import messages
from ..engine.records import bounded_error
from ..errors import PayloadError, RunfoxError
from ..payloads import check_payload
from ..results import StepResult

MAX_BATCH_ENTRIES = 10  # SendMessageBatch / DeleteMessageBatch entries per call
MAX_BATCH_BYTES = 256 * 1024  # SQS payload per message and per batch
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds ceiling (15 minutes)

def checked(result: StepResult) -> StepResult:
    """``result`` made sendable: an error's message bounded (``engine.records.bounded_error``), an output that is not a JSON
    object within the payload limit replaced by a PayloadError result (the same rule as
    ``runfox_core.executor.call_executor``)."""
    if result.error is not None:
        return StepResult(result.execution_key, result.step, result.run_id, error=bounded_error(result.error),
                          item=result.item)
    try:
        check_payload(result.output, f"step {result.step!r} output")
    except PayloadError as exc:
        error = {"type": "PayloadError", "message": str(exc)}
        return StepResult(result.execution_key, result.step, result.run_id, error=error, item=result.item)
    return result


def result_body(result: StepResult) -> str:
    return messages.encode(messages.result_message(checked(result)))


def send_one(client: Any, queue_url: str, body: str, delay: float = 0) -> None:
    """Send one message (SendMessage raises on refusal)."""
    kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": body}
    if delay > 0:
        kwargs["DelaySeconds"] = min(MAX_DELAY_SECONDS, math.ceil(delay))
    client.send_message(**kwargs)


def send(client: Any, queue_url: str, entries: Iterable[tuple[str, float]], what: str = "messages") -> int:
    """Send ``(body, delay_seconds)`` entries in as few SendMessageBatch calls as fit; return calls made.

    Raises ``RunfoxError`` naming the refused entries if SQS refuses any
    (the ones before it may have been sent: senders must be idempotent).
    """
    calls = 0
    for batch in _batches(enumerate(entries)):
        _send_batch(client, queue_url, batch, what)
        calls += 1
    return calls


def send_each(client: Any, queue_url: str, bodies: list[str]) -> dict[int, str]:
    """Send ``bodies`` in as few SendMessageBatch calls as fit; return the refused ones, by index, each
    with why (a call that raised refuses its whole batch). Never raises for a refusal: the caller
    decides what a refused message means (the executor harness fails that job's record)."""
    refused: dict[int, str] = {}
    for batch in _batches((i, (body, 0)) for i, body in enumerate(bodies)):
        try:
            resp = client.send_message_batch(QueueUrl=queue_url, Entries=batch)
        except Exception as exc:  # noqa: BLE001 -- reported per entry
            refused.update((int(entry["Id"]), f"{type(exc).__name__}: {exc}") for entry in batch)
            continue
        for f in resp.get("Failed") or []:
            refused[int(f["Id"])] = f"{f.get('Code')} {f.get('Message', '')}".strip()
    return refused


def send_twice(client: Any, queue_url: str, bodies: list[str]) -> dict[int, str]:
    """``send_each``, then once more for what it refused; returns what is still refused (by index into
    ``bodies``, with why)."""
    refused = send_each(client, queue_url, bodies)
    if not refused:
        return {}
    again = sorted(refused)
    return {again[i]: why for i, why in send_each(client, queue_url, [bodies[j] for j in again]).items()}


def _batches(entries: Iterable[tuple[int, tuple[str, float]]]) -> Iterator[list[dict[str, Any]]]:
    """SendMessageBatch entry lists (``Id`` = the entry's index) of at most 10 entries and 256 KiB each."""
    batch: list[dict[str, Any]] = []
    size = 0
    for index, (body, delay) in entries:
        length = len(body.encode("utf-8"))
        if batch and (len(batch) == MAX_BATCH_ENTRIES or size + length > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": body}
        if delay > 0:
            entry["DelaySeconds"] = min(MAX_DELAY_SECONDS, math.ceil(delay))
        batch.append(entry)
        size += length
    if batch:
        yield batch


def _send_batch(client: Any, queue_url: str, batch: list[dict[str, Any]], what: str) -> None:
    resp = client.send_message_batch(QueueUrl=queue_url, Entries=batch)
    failed = resp.get("Failed") or []
    if failed:
        detail = "; ".join(f"entry {f.get('Id')}: {f.get('Code')} {f.get('Message', '')}".strip() for f in failed)
        raise RunfoxError(f"SQS refused {len(failed)} of {len(batch)} {what} to {queue_url}: {detail}")
