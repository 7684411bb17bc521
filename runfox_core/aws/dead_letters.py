"""dead_letters.py -- the result router's dead-letter queue: list what is there, send it back into the run.

A message lands in the results queue's DLQ when the router failed on it
``maxReceiveCount`` times (the store was unreachable, a bug). Its execution
waits for it: a result never applied leaves its step in progress until its
deadline, a wake never handled leaves a retry waiting. ``list_dead_letters``
shows them (kind, execution, step, run); ``redrive_dead_letters`` sends them
back to the results queue and deletes them from the DLQ, so the router
applies them as if they had just arrived.

The DLQ is found from the results queue's ``RedrivePolicy``, so a caller needs
only the results queue URL (``ResultsQueueUrl`` of the stack, or the local
emulator's). Peeking receives with a visibility timeout of 0: the messages
stay in the DLQ, immediately visible again.

Known limits: delivery is at least once. A process that dies between the
send and the delete leaves the message in both queues; the second copy is a
duplicate the router ignores (results and timers are fenced by run_id). SQS
returns a sample per receive, so a listing of a large DLQ may repeat receives
until ``limit`` distinct messages are seen or a receive brings none new.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_PER_RECEIVE = 10  # SQS's limit per ReceiveMessage and SendMessageBatch
_EMPTY_RECEIVES = 3  # receives bringing nothing new before a listing stops


class DeadLetterError(Exception):
    """Raised when the results queue has no dead-letter queue (no ``RedrivePolicy``)."""


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    kind: str | None  # result, deadline, wake, job
    execution: str | None
    step: str | None
    run_id: int | None
    receive_count: int
    body: str

    def to_dict(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "kind": self.kind, "execution": self.execution, "step": self.step,
                "run_id": self.run_id, "receive_count": self.receive_count}


def dead_letter_queue(sqs: Any, queue_url: str) -> str:
    """The URL of ``queue_url``'s dead-letter queue."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    policy = attributes.get("RedrivePolicy")
    if not policy:
        raise DeadLetterError(f"queue {queue_url} has no dead-letter queue (no RedrivePolicy)")
    name = json.loads(policy)["deadLetterTargetArn"].rsplit(":", 1)[-1]
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


def _letter(message: dict[str, Any]) -> DeadLetter:
    body = message["Body"]
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    fields = parsed if isinstance(parsed, dict) else {}
    run_id = fields.get("run_id")
    return DeadLetter(
        message_id=message["MessageId"], kind=_text(fields.get("kind")), execution=_text(fields.get("execution")),
        step=_text(fields.get("step")), run_id=run_id if isinstance(run_id, int) else None,
        receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0)), body=body)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def list_dead_letters(sqs: Any, dlq_url: str, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` distinct messages of the DLQ, left in it."""
    seen: dict[str, DeadLetter] = {}
    empty = 0
    while len(seen) < limit and empty < _EMPTY_RECEIVES:
        got = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=MAX_PER_RECEIVE, VisibilityTimeout=0,
                                  AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
        new = [m for m in got if m["MessageId"] not in seen]
        empty = 0 if new else empty + 1
        for message in new[: limit - len(seen)]:
            seen[message["MessageId"]] = _letter(message)
    return list(seen.values())


def redrive_dead_letters(sqs: Any, dlq_url: str, target_url: str, limit: int = 100,
                         visibility_seconds: int = 60) -> list[DeadLetter]:
    """Move up to ``limit`` messages from the DLQ to ``target_url`` (send, then delete); return them."""
    moved: list[DeadLetter] = []
    while len(moved) < limit:
        got = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=min(MAX_PER_RECEIVE, limit - len(moved)),
                                  VisibilityTimeout=visibility_seconds,
                                  AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
        if not got:
            return moved
        sent = sqs.send_message_batch(QueueUrl=target_url, Entries=[
            {"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(got)])
        ok = {int(entry["Id"]) for entry in sent.get("Successful", [])}
        done = [m for i, m in enumerate(got) if i in ok]  # a failed send stays in the DLQ, visible again later
        if done:
            sqs.delete_message_batch(QueueUrl=dlq_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        moved += [_letter(m) for m in done]
        if len(done) < len(got):
            return moved
    return moved
