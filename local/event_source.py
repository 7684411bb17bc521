"""event_source.py -- EventSourceDriver: Lambda's SQS event source mappings and async events, in one thread.

For each consumer (a queue with a handler): ReceiveMessage a batch, build
the event Lambda would (``Records`` with messageId, receiptHandle, body,
attributes incl. ApproximateReceiveCount, eventSourceARN...), invoke the
handler, delete the records it did not report in ``batchItemFailures``.
Failed records stay in the queue and reappear after the visibility timeout;
moto moves a message to the DLQ on the receive after ``maxReceiveCount``
(as SQS does), and DelaySeconds timers become visible when due.

As in Lambda: a handler that raises, or reports an id not in its batch,
fails the whole batch; an empty or null response means every record
succeeded.

Asynchronous events too (an executor's Invoke of the result router, queued
by ``local.async_invoke``): each round invokes the handler once per pending
event; one whose handler raises is settled as a failed attempt (retried on a
later round, then sent to the on-failure destination). Pending events count
as in flight. ``on_event`` sees each delivery, as ``on_delivery`` sees each
batch.

Delivery modes, for tests:

- default: deterministic round-robin, executors first, the result router last
  (its queues, then its asynchronous events);
- ``shuffle``: each round visits queues and the asynchronous events in random
  order, takes random batch sizes and shuffles records and events (seeded);
- ``duplicate``: every batch and every event is delivered a second time at
  the end of its round (at-least-once delivery; the second delivery cannot
  delete anything, and its failure is not a failed attempt).

Known limits: one ReceiveMessage per queue per round, so a batch holds at
most 10 records (Lambda would gather more with a batching window); no
concurrency between consumers; ``visibility_timeout_seconds`` overrides
every queue's own (tests use 0: a failed record is back on the next round).
"""

from __future__ import annotations

import copy
import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local import async_invoke
from local.async_invoke import AsyncEvent, AsyncInvocations
from local.deployment import Consumer
from local.lambda_runtime import REGION, invoke

log = logging.getLogger("local.event_source")

SQS_MAX_BATCH = 10  # messages per ReceiveMessage
Record = dict[str, Any]
#: on_delivery(consumer, records, failed message ids, duplicate?)
DeliveryHook = Callable[[Consumer, list[Record], set[str], bool], None]
#: on_event(event, the handler's exception or None, duplicate?), before the attempt is settled: ``event.attempts``
#: counts the attempts before this one
EventHook = Callable[[AsyncEvent, BaseException | None, bool], None]
EVENTS = "asynchronous events"  # their place in a round's order of visits


@dataclass
class DriveStats:
    rounds: int = 0
    invocations: int = 0
    records: int = 0
    failed_records: int = 0
    events: int = 0  # asynchronous events delivered (each attempt; not the duplicates)
    failed_events: int = 0
    seconds: float = 0.0
    stopped: str = ""  # "until" | "idle"


class EventSourceDriver:
    def __init__(self, consumers: tuple[Consumer, ...] | list[Consumer], sqs: Any, *, shuffle: bool = False,
                 duplicate: bool = False, seed: int = 0, visibility_timeout_seconds: int | None = None,
                 idle_sleep_seconds: float = 0.05, on_delivery: DeliveryHook | None = None,
                 invocations: AsyncInvocations | None = None, on_event: EventHook | None = None):
        """``invocations``: the asynchronous events to deliver (default: the running ``LocalCloud``'s)."""
        routers_last = sorted(consumers, key=lambda c: c.handler.startswith("result_router"))
        self.consumers = list(routers_last)
        self.sqs = sqs
        self.shuffle = shuffle
        self.duplicate = duplicate
        self.visibility_timeout_seconds = visibility_timeout_seconds
        self.idle_sleep_seconds = idle_sleep_seconds
        self.on_delivery = on_delivery
        self.invocations = async_invoke.active() if invocations is None else invocations
        self.on_event = on_event
        self.stats = DriveStats()
        self._rng = random.Random(seed)

    def run(self, until: Callable[[], bool] | None = None, *, timeout: float = 60.0,
            max_rounds: int = 100_000) -> DriveStats:
        """Deliver until ``until()`` holds or nothing is in flight; raise TimeoutError past ``timeout`` s."""
        started = time.monotonic()
        try:
            for _ in range(max_rounds):
                delivered = self.round()
                if until is not None and until():
                    self.stats.stopped = "until"
                    return self.stats
                if not delivered and self.in_flight() == 0:
                    self.stats.stopped = "idle"
                    return self.stats
                if time.monotonic() - started > timeout:
                    raise TimeoutError(f"event sources still busy after {timeout:g}s ({self.in_flight()} in flight)")
                if not delivered:
                    time.sleep(self.idle_sleep_seconds)  # only delayed or invisible messages left
            raise RuntimeError(f"event sources still busy after {max_rounds} rounds")
        finally:
            self.stats.seconds += time.monotonic() - started

    def round(self) -> int:
        """Visit every consumer and the pending asynchronous events once; return how many records and
        events were delivered (first deliveries and retries, not duplicates)."""
        self.stats.rounds += 1
        order: list[Consumer | str] = [*self.consumers, *([EVENTS] if self.invocations is not None else [])]
        if self.shuffle:
            self._rng.shuffle(order)
        replays: list[Callable[[], object]] = []
        delivered = 0
        for source in order:
            if not isinstance(source, Consumer):
                delivered += self._deliver_events(replays)
                continue
            records = self._receive(source)
            if not records:
                continue
            delivered += len(records)
            failed = self._invoke(source, records, duplicate=False)
            self._delete(source, [r for r in records if r["messageId"] not in failed])
            if self.duplicate:
                replays.append(functools.partial(self._invoke, source, records, duplicate=True))
        if self.shuffle:
            self._rng.shuffle(replays)
        for replay in replays:
            replay()
        return delivered

    def in_flight(self) -> int:
        """Messages in consumed queues (visible, being retried (invisible) or delayed) and asynchronous
        events pending."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]
        total = 0 if self.invocations is None else self.invocations.in_flight()
        for consumer in self.consumers:
            attributes = self.sqs.get_queue_attributes(QueueUrl=consumer.queue_url, AttributeNames=names)
            total += sum(int(attributes["Attributes"].get(n, 0)) for n in names)
        return total

    # ------------------------------------------------------------- internals

    def _receive(self, consumer: Consumer) -> list[Record]:
        most = min(consumer.batch_size, SQS_MAX_BATCH)
        if self.shuffle:
            most = self._rng.randint(1, most)
        visibility = self.visibility_timeout_seconds
        response = self.sqs.receive_message(
            QueueUrl=consumer.queue_url, MaxNumberOfMessages=most, WaitTimeSeconds=0,
            VisibilityTimeout=consumer.visibility_timeout_seconds if visibility is None else visibility,
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
        )
        records = [_record(consumer, m) for m in response.get("Messages", [])]
        if self.shuffle:
            self._rng.shuffle(records)
        return records

    def _invoke(self, consumer: Consumer, records: list[Record], *, duplicate: bool) -> set[str]:
        """Run the handler on ``records``; return the ids Lambda would treat as failed."""
        ids = {r["messageId"] for r in records}
        self.stats.invocations += 1
        try:
            response = invoke(consumer.handler, {"Records": records}, memory_mb=consumer.memory_mb,
                              timeout_seconds=consumer.timeout_seconds)
            failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
            if not failed <= ids:  # Lambda fails the whole batch on an unknown identifier
                failed = ids
        except Exception as exc:  # Lambda's verdict too: the whole batch failed; SQS redelivers it
            log.warning("%s failed its whole batch of %d: %s: %s", consumer.handler, len(records),
                        type(exc).__name__, exc)
            log.debug("%s traceback", consumer.handler, exc_info=True)
            failed = ids
        if not duplicate:
            self.stats.records += len(records)
            self.stats.failed_records += len(failed)
        if self.on_delivery is not None:
            self.on_delivery(consumer, records, failed, duplicate)
        return failed

    def _deliver_events(self, replays: list[Callable[[], object]]) -> int:
        """Invoke the handler once per pending event and settle each; return how many were delivered."""
        assert self.invocations is not None
        events = self.invocations.take()
        if self.shuffle:
            self._rng.shuffle(events)
        for event in events:
            self.invocations.settle(event, self._invoke_event(event, duplicate=False))
            if self.duplicate:
                replays.append(functools.partial(self._invoke_event, event, duplicate=True))
        return len(events)

    def _invoke_event(self, event: AsyncEvent, *, duplicate: bool) -> BaseException | None:
        """Run the event's handler on a fresh copy of its payload (as Lambda decodes it anew); return
        what it raised."""
        self.stats.invocations += 1
        error: BaseException | None = None
        try:
            invoke(event.function.handler, copy.deepcopy(event.payload), memory_mb=event.function.memory_mb,
                   timeout_seconds=event.function.timeout_seconds)
        except Exception as exc:  # Lambda's verdict: a failed attempt, retried or sent to the destination
            log.warning("%s failed asynchronous event %s (attempt %d): %s: %s", event.function.handler,
                        event.request_id, event.attempts + 1, type(exc).__name__, exc)
            log.debug("%s traceback", event.function.handler, exc_info=True)
            error = exc
        if not duplicate:
            self.stats.events += 1
            self.stats.failed_events += error is not None
        if self.on_event is not None:
            self.on_event(event, error, duplicate)
        return error

    def _delete(self, consumer: Consumer, records: list[Record]) -> None:
        for start in range(0, len(records), SQS_MAX_BATCH):
            chunk = records[start:start + SQS_MAX_BATCH]
            self.sqs.delete_message_batch(QueueUrl=consumer.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)])


def _record(consumer: Consumer, message: dict[str, Any]) -> Record:
    """One SQS message as Lambda's event source mapping presents it."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                   "stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": consumer.queue_arn,
        "awsRegion": REGION,
    }
