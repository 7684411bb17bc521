"""async_invoke.py -- Lambda's asynchronous invocation (Invoke, InvocationType Event), played in this process.

The kit's executors hand their results to the result router by an
asynchronous Invoke (``runfox_core.aws.answers``). moto cannot run a
function, so the emulator answers that call itself, before it leaves
botocore: every client gets a ``before-call.lambda.Invoke`` hook
(``install``) that, while a ``LocalCloud`` is up, hands the request to the
cloud's ``AsyncInvocations`` and returns Lambda's response without a
request to moto. Answering in the client, not in the moto server, keeps the
queued events in this process, with the handlers and the event sources that
deliver them, and works the same with moto in process (``mock_aws``).

What is played, as Lambda does for a function with an asynchronous invoke
config (``AsyncFunction``; the kit's router: 2 retries, on-failure
destination the results queue):

- an accepted event gets 202 at once and waits in Lambda's queue
  (``take`` hands the pending ones to a deliverer: ``EventSourceDriver``);
- a delivery whose handler raises is tried again, up to
  ``retry_attempts`` more times (the next delivery round here; Lambda waits
  a minute, then two); after the last, the on-failure destination gets
  Lambda's record (``destination_record``: ``RetriesExhausted``, the
  event as ``requestPayload``, the error as ``responsePayload``);
- refused, in Lambda's error shapes: a function not served
  (``ResourceNotFoundException``), a payload that is not JSON
  (``InvalidRequestContentException``) or over 1 MB
  (``RequestTooLargeException``), and what the emulator does not play
  (``InvalidParameterValueException`` naming it: any InvocationType but
  ``Event``, a qualifier other than ``$LATEST``).

Known limits: only the functions a ``LocalCloud`` serves (the result
router) can be invoked; a retry comes on the next round, not after Lambda's
back-off, and the event's maximum age is not played (no event outlives a
test); a handler's return value is dropped, as Lambda drops it (no
on-success destination). An Invoke made while no ``LocalCloud`` is up goes
to moto, which refuses a function it does not have.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.lambda_runtime import ACCOUNT_ID, REGION, on_every_client

MAX_PAYLOAD_BYTES = 1024 * 1024  # Lambda's limit on an asynchronous invocation's payload
ACCEPTED = 202  # Invoke's status for an event Lambda queued
LATEST = "$LATEST"
EVENT = "Event"  # the one InvocationType played
_PARAMS = "runfox_invoke_params"  # where the parameter hook leaves the call's parameters for the call hook


@dataclass(frozen=True)
class AsyncFunction:
    """A function that may be invoked asynchronously, and its asynchronous invoke config."""

    name: str
    handler: str  # module.function under lambdas/
    on_failure_queue_url: str  # the on-failure destination (an SQS queue)
    retry_attempts: int  # Lambda's MaximumRetryAttempts
    memory_mb: int
    timeout_seconds: int

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.name}"


@dataclass
class AsyncEvent:
    """One accepted event in Lambda's queue: its payload and how often it was invoked."""

    function: AsyncFunction
    payload: Any  # the decoded JSON payload, what the handler receives
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    attempts: int = 0  # invocations so far


class InvokeRefused(Exception):
    """An Invoke Lambda refuses: its error code, HTTP status and message."""

    def __init__(self, code: str, status: int, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.status, self.message = code, status, message


class AsyncInvocations:
    """Lambda's queue of asynchronous events for the ``functions`` served; ``sqs`` sends destination records.

    Thread-safe: executors may invoke from several threads (the load test's pollers)
    while another thread takes and settles events.
    """

    def __init__(self, functions: list[AsyncFunction] | tuple[AsyncFunction, ...], sqs: Any):
        self.functions = {f.name: f for f in functions}
        self.sqs = sqs
        self._pending: deque[AsyncEvent] = deque()
        self._taken = 0  # events handed to a deliverer and not yet settled
        self._lock = threading.Lock()

    def accept(self, function_name: str, invocation_type: str, payload: bytes, qualifier: str | None = None
               ) -> AsyncEvent:
        """Queue an event for ``function_name`` (a name or ARN), or raise ``InvokeRefused`` as Lambda would."""
        function = self._function(function_name, qualifier)
        if invocation_type != EVENT:
            raise InvokeRefused("InvalidParameterValueException", 400,
                                f"InvocationType {invocation_type!r} of {function.name}: the local emulator plays "
                                f"only asynchronous invocation ({EVENT!r})")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise InvokeRefused("RequestTooLargeException", 413,
                                f"{len(payload):,} bytes: the asynchronous payload limit is {MAX_PAYLOAD_BYTES:,}")
        try:
            decoded = json.loads(payload or b"{}")  # Lambda invokes with {} when no payload is given
        except ValueError as exc:
            raise InvokeRefused("InvalidRequestContentException", 400,
                                f"Could not parse request body into json: {exc}") from None
        event = AsyncEvent(function, decoded)
        with self._lock:
            self._pending.append(event)
        return event

    def take(self, most: int | None = None) -> list[AsyncEvent]:
        """The pending events (the ``most`` oldest, if given), now in the caller's hands until it
        ``settle``s each one."""
        with self._lock:
            count = len(self._pending) if most is None else min(most, len(self._pending))
            events = [self._pending.popleft() for _ in range(count)]
            self._taken += len(events)
        return events

    def settle(self, event: AsyncEvent, error: BaseException | None) -> None:
        """Record how one invocation of a taken event went: done, back in the queue for a retry, or (its
        retries exhausted) sent to the function's on-failure destination."""
        event.attempts += 1
        retry = error is not None and event.attempts <= event.function.retry_attempts
        with self._lock:
            self._taken -= 1
            if retry:
                self._pending.append(event)
        if error is not None and not retry:
            self.sqs.send_message(QueueUrl=event.function.on_failure_queue_url,
                                  MessageBody=json.dumps(destination_record(event, error)))

    def in_flight(self) -> int:
        """Events pending or being delivered."""
        with self._lock:
            return len(self._pending) + self._taken

    def pending_payloads(self) -> list[Any]:
        """The payloads waiting in the queue, oldest first (for tests)."""
        with self._lock:
            return [event.payload for event in self._pending]

    def _function(self, name: str, qualifier: str | None) -> AsyncFunction:
        """The function ``name`` refers to: ``<name>``, ``<account>:function:<name>`` or its ARN, each
        optionally with ``:<qualifier>`` (or the ``qualifier`` given), which must be ``$LATEST``."""
        prefix, marker, rest = name.rpartition(":function:")
        if not marker:
            rest = name
        short, _, version = rest.partition(":")
        function = self.functions.get(short)
        if function is None or (marker and prefix not in (ACCOUNT_ID, function.arn.rsplit(":function:", 1)[0])):
            raise InvokeRefused("ResourceNotFoundException", 404, f"Function not found: {name}")
        for given in (version, qualifier):
            if given and given != LATEST:
                raise InvokeRefused("InvalidParameterValueException", 400,
                                    f"qualifier {given!r} of {short}: the local emulator serves only {LATEST}")
        return function


def destination_record(event: AsyncEvent, error: BaseException) -> dict[str, Any]:
    """The record Lambda sends to an on-failure destination once an event's retries are exhausted."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {"requestId": event.request_id, "functionArn": f"{event.function.arn}:{LATEST}",
                           "condition": "RetriesExhausted", "approximateInvokeCount": event.attempts},
        "requestPayload": event.payload,
        "responseContext": {"statusCode": 200, "executedVersion": LATEST, "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
    }


# ------------------------------------------------------------------ the botocore hooks

_active: AsyncInvocations | None = None
_installed = False


def active() -> AsyncInvocations | None:
    """The running ``LocalCloud``'s invocations, if one is up."""
    return _active


def serve(invocations: AsyncInvocations | None) -> Callable[[], None]:
    """Answer Invoke calls with ``invocations`` from now on (``install``ing the hooks); returns the undo."""
    global _active
    install()
    previous, _active = _active, invocations

    def undo() -> None:
        global _active
        _active = previous

    return undo


def install() -> None:
    """Hook every botocore client created from now on: its Invoke calls go to ``active()`` (idempotent)."""
    global _installed
    if _installed:
        return
    def register(client: Any) -> None:
        client.meta.events.register("before-parameter-build.lambda.Invoke", _keep_params)
        client.meta.events.register("before-call.lambda.Invoke", _answer)

    on_every_client(register)
    _installed = True


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS] = dict(params)


def _answer(context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
    """Lambda's (HTTP response, parsed response) to an Invoke; None (on to moto) when no cloud is up."""
    invocations = _active
    params = context.get(_PARAMS)
    if invocations is None or params is None:
        return None
    request_id = str(uuid.uuid4())
    try:
        event = invocations.accept(str(params["FunctionName"]), str(params.get("InvocationType", "RequestResponse")),
                                   _payload_bytes(params.get("Payload", b"")), params.get("Qualifier"))
    except InvokeRefused as refused:
        parsed = {"Error": {"Code": refused.code, "Message": refused.message}, "Message": refused.message,
                  "Type": "User"}
        return _response(refused.status, request_id, parsed)
    from botocore.response import StreamingBody

    return _response(ACCEPTED, event.request_id, {"StatusCode": ACCEPTED, "Payload": StreamingBody(io.BytesIO(b""), 0)})


def _payload_bytes(payload: Any) -> bytes:
    if hasattr(payload, "read"):
        payload = payload.read()
    return payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)


def _response(status: int, request_id: str, parsed: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    from botocore.awsrequest import AWSResponse

    headers = {"x-amzn-requestid": request_id, "date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())}
    parsed["ResponseMetadata"] = {"RequestId": request_id, "HTTPStatusCode": status, "HTTPHeaders": headers,
                                  "RetryAttempts": 0}
    return AWSResponse(f"https://lambda.{REGION}.amazonaws.com/", status, headers, _NoBody()), parsed


class _NoBody:
    """The raw body of an answered Invoke: empty."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        return iter(())
