"""answers.py -- executors hand their results straight to the result router: one queue hop fewer.

Owns the one way results travel from a kit executor to the result-router
Lambda besides the results queue: the *answers event*,
``{"kind": "answers", "messages": [<result message>, ...]}``, which an
executor (``executor.sqs_executor``, with ``RUNFOX_ROUTER_FUNCTION`` set)
sends by an asynchronous ``Invoke`` (InvocationType ``Event``) of the router
instead of a SendMessageBatch to the results queue.

Why: a step crossed two SQS queues (its job's, then its result's), and each
hop costs three SQS requests (send, the event source's receive and its
delete): 6 of a chain step's requests, $2.40 of its price per million steps
(``bench/aws_calls.py``). Handing the result over by Invoke costs one Lambda
request, which the router's invocation cost already: the results hop's
three SQS requests ($1.20 per million steps) go. The router still takes an
executor's whole batch at once (up to 10 results, one commit per execution).

What still holds:

- *No result is lost.* Lambda queues an accepted asynchronous event and
  retries the invocation twice when it fails; the kit sets the router's
  on-failure destination to the results queue, so an event it could not
  apply (or that aged out of Lambda's queue) arrives there as a destination
  record, which the router's queue path unwraps (``unwrap``) and applies
  like any message. An Invoke that is refused (throttled, not allowed, the
  function missing) refuses its chunk: the executor sends those results to
  the results queue, as it did before; a job's record is reported done only
  once its result is accepted by one or the other.
- *Applied once.* Lambda may deliver an event more than once; every result
  is fenced by its (step, run_id), so a repeat is a duplicate, as for a
  redelivered message.
- *A failure fails only its own results.* The router applies an answers
  event body by body (``ResultRouter``); the bodies whose application
  failed go to the results queue (``requeue``), where the event source
  retries them; only if that send fails does the invocation fail, and
  Lambda retries the event.

Sizes: one answers event holds at most ``MAX_EVENT_BYTES`` (200 KiB) of
messages, so that its destination record (the event, Lambda's envelope and
the error it reports) still fits in one SQS message of 256 KiB; a batch
over it is handed over in several events, and a single message over it
goes to the results queue.

Known limits: an executor deployed outside the kit, or without the variable,
answers on the results queue (two hops, as before); so does every result
when the router cannot be invoked. Timers (deadline, wake) and dead-lettered
jobs reach the router through the results queue and the DLQs, as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..backend.base import Backend
from ..driver import ResultRouter
from ..errors import MessageError, RunfoxError
from ..payloads import encode_json
from . import _sqs
from ._clients import error_code

KIND = "answers"
MAX_EVENT_BYTES = 200 * 1024  # encoded messages per answers event (see "Sizes")
ACCEPTED = 202  # what Invoke returns for an event Lambda queued


def event(bodies: list[str]) -> dict[str, Any]:
    """The answers event carrying ``bodies`` (result messages, encoded)."""
    return {"kind": KIND, "messages": list(bodies)}


def bodies_of(event: Any) -> list[str] | None:
    """The messages of an answers event; None when ``event`` is not one (an SQS event, say)."""
    if not isinstance(event, dict) or event.get("kind") != KIND:
        return None
    found = event.get("messages")
    if not isinstance(found, list) or not all(isinstance(body, str) for body in found):
        raise MessageError("an answers event's 'messages' must be a list of strings")
    return found


def unwrap(body: str) -> list[str]:
    """The messages a results-queue body carries: the answers event inside a Lambda destination record
    (``requestPayload``, an event the router failed to apply), else the body itself."""
    if not body.startswith("{") or '"requestPayload"' not in body:
        return [body]
    try:
        record = json.loads(body)
        inner = bodies_of(record.get("requestPayload")) if isinstance(record, dict) else None
    except (ValueError, MessageError):
        return [body]  # not a destination record after all: decoding it names what is wrong
    return [body] if inner is None else inner


def _size(body: str) -> int:
    """Bytes ``body`` takes in an answers event: as a JSON string, and its comma."""
    return len(encode_json(body)) + 1


def _chunks(sizes: list[int]) -> Iterator[list[int]]:
    """Indices of bodies of ``sizes`` (``_size``) grouped into events of at most ``MAX_EVENT_BYTES``; a
    body over the limit alone is left out (it goes to the results queue)."""
    chunk: list[int] = []
    size = 0
    for i, length in enumerate(sizes):
        if length > MAX_EVENT_BYTES:
            continue
        if chunk and size + length > MAX_EVENT_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(i)
        size += length
    if chunk:
        yield chunk


def hand_over(client: Any, function: str, bodies: list[str]) -> dict[int, str]:
    """Invoke the router ``function`` asynchronously with ``bodies``, in events of at most
    ``MAX_EVENT_BYTES``; returns the indices of the bodies not handed over, with why (an Invoke that
    raises or is not accepted refuses its whole event; a body over the limit is never sent)."""
    sizes = [_size(body) for body in bodies]
    refused = {i: f"{size:,} bytes: over the {MAX_EVENT_BYTES:,}-byte answers event"
               for i, size in enumerate(sizes) if size > MAX_EVENT_BYTES}
    for chunk in _chunks(sizes):
        payload = encode_json(event([bodies[i] for i in chunk]))
        try:
            status = client.invoke(FunctionName=function, InvocationType="Event", Payload=payload.encode("utf-8"))
            reason = "" if status.get("StatusCode") == ACCEPTED else f"Invoke returned {status.get('StatusCode')}"
        except Exception as exc:  # noqa: BLE001 -- any refusal: those results take the results queue
            reason = error_code(exc) or type(exc).__name__
        if reason:
            refused.update({i: reason for i in chunk})
    return refused


def requeue(client: Any, queue_url: str, bodies: list[str]) -> None:
    """Send ``bodies`` to the results queue (one more try for refused entries); raises ``RunfoxError``
    naming why if any is still refused."""
    refused = _sqs.send_twice(client, queue_url, bodies)
    if refused:
        raise RunfoxError(f"{len(refused)} result message(s) could not be sent to the results queue: "
                          f"{', '.join(sorted(set(refused.values())))}")


class Routed:
    """What ``route`` did with an answers event: the router (its ``advanced`` and ``counts``), the
    messages dropped as malformed (with why), and how many went to the results queue."""

    def __init__(self, router: ResultRouter):
        self.router = router
        self.dropped: list[tuple[str, MessageError]] = []
        self.requeued = 0


def route(backend: Backend, bodies: list[str]) -> Routed:
    """Apply an answers event's messages as one batch (``ResultRouter``); a malformed one is dropped
    (it could never succeed), and those whose application failed are sent to the results queue,
    whose event source retries them. Raises only if that send fails: Lambda then retries the event
    (a repeat of what did apply is a duplicate, fenced by run_id)."""
    routed = Routed(ResultRouter(backend, bodies))
    failed: list[str] = []
    for body in bodies:
        try:
            routed.router.handle(body)
        except MessageError as exc:
            routed.dropped.append((body, exc))
        except Exception:  # noqa: BLE001 -- retried through the results queue
            failed.append(body)
    if failed:
        runner: Any = backend.runner  # SQSRunner: the results queue and its client
        requeue(runner.sqs, runner.results_queue_url, failed)
        routed.requeued = len(failed)
    return routed
