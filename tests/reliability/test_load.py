"""Load: 200 executions of a 10-step fan-out at once, results applied by concurrent routers.

``make reliability`` runs the full 200 and README.md quotes its figures;
``make test`` sets ``RUNFOX_LOAD_EXECUTIONS`` lower (40): the same claims
(every execution exact, nothing dead-lettered, routers racing on shared
queues and tables) in a fifth of the time.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from fault_kit import CONFIG

from local.async_invoke import AsyncInvocations
from local.cloud import LocalCloud
from local.deployment import Consumer, dlq_name, op_queue_name
from local.lambda_runtime import LambdaContext, invoke, load_handler
from runfox_core import operations
from runfox_core.aws import answers, config
from runfox_core.aws.factory import get_backend
from runfox_core.status import TERMINAL_WORKFLOW_STATUSES

SPEC = yaml.safe_load((Path(__file__).parent / "load_workflow.yaml").read_text())
EXECUTIONS = int(os.environ.get("RUNFOX_LOAD_EXECUTIONS", "200"))
POLLERS = 4  # concurrent "Lambda instances", each polling every queue
EVENTS_PER_POLL = 10  # answers events a poller takes from Lambda's queue at a time, leaving the rest to the others
VISIBILITY_SECONDS = 60  # long enough that no message is redelivered during the run
STALL_SECONDS = 150  # no message handled for this long fails the test, naming what is stuck (before pytest's timeout)


def expected_sum(n: int) -> int:
    seed = n + 1
    squares, doubles, increments = 3, 3, 2  # w0..w7 cycle square, double, increment
    return squares * seed**2 + doubles * seed * 2 + increments * (seed + 1)


def poll(consumers: list[Consumer], sqs: Any, invocations: AsyncInvocations, done: threading.Event,
         errors: list[BaseException], seen: list[tuple[str, str, bool]]) -> None:
    """One poller: receive a batch from each queue, run its handler, delete what succeeded; then run the
    router on a few of the executors' answers events (Lambda's asynchronous invocations), settling each;
    ``seen`` gets (queue or "answers", body, done) for every message handled (to say what a stalled
    execution was sent)."""
    handlers = {c.handler: load_handler(c.handler) for c in consumers}
    try:
        while not done.is_set():
            delivered = 0
            for consumer in consumers:
                messages = sqs.receive_message(QueueUrl=consumer.queue_url, VisibilityTimeout=VISIBILITY_SECONDS,
                                               MaxNumberOfMessages=min(consumer.batch_size, 10),
                                               MessageSystemAttributeNames=["All"]).get("Messages", [])
                if not messages:
                    continue
                delivered += len(messages)
                records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                            "attributes": m.get("Attributes", {}), "messageAttributes": {},
                            "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs",
                            "eventSourceARN": consumer.queue_arn, "awsRegion": "us-east-1"} for m in messages]
                response = handlers[consumer.handler]({"Records": records}, LambdaContext(consumer.name))
                failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
                entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                           for i, r in enumerate(records) if r["messageId"] not in failed]
                if entries:
                    sqs.delete_message_batch(QueueUrl=consumer.queue_url, Entries=entries)
                seen.extend((consumer.name, r["body"], r["messageId"] not in failed) for r in records)
            for event in invocations.take(most=EVENTS_PER_POLL):
                error: BaseException | None = None
                try:  # the handler itself, as for the queues: lambda_runtime.invoke redirects stdout, per process
                    handlers[event.function.handler](copy.deepcopy(event.payload), LambdaContext(event.function.name))
                except Exception as exc:  # a failed attempt: retried, then sent to the results queue
                    error = exc
                invocations.settle(event, error)
                delivered += 1
                seen.extend(("answers", body, error is None) for body in answers.bodies_of(event.payload) or [])
            if not delivered:
                time.sleep(0.02)
    except BaseException as exc:  # surfaced by the test
        errors.append(exc)


def stuck(backend: Any, cloud: LocalCloud, key: str, seen: list[tuple[str, str, bool]]) -> str:
    """What a stalled execution looks like: its header's schedules, each open step, every non-empty queue,
    the messages of it the pollers handled, its history."""
    header = backend.load_header(key)
    steps = {s: (r.status, r.run_id, r.attempt) for s, r in operations.describe(backend, key).steps.items()
             if r.status not in ("complete", "pending")}
    sqs = cloud.client("sqs")
    queues = {name: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        for name, url in cloud.queues.items()}
    events = cloud.invocations.in_flight() if cloud.invocations is not None else 0
    return (f"  {key}: {header.status} v{header.version}, ready {dict(header.ready)}, unsent {dict(header.unsent)}, "
            f"deadlines {dict(header.deadlines)}, joins {dict(header.joins)}; open steps {steps}; queues "
            f"{ {n: q for n, q in queues.items() if any(v != '0' for v in q.values())} }, answers events in flight "
            f"{events}; handled "
            f"{[(q, b[:300], deleted) for q, b, deleted in seen if key in b]}; history "
            f"{[(e['type'], e.get('step')) for e in operations.history(backend, key).events]}")


def test_two_hundred_executions_complete_exactly_under_concurrent_routers() -> None:
    with LocalCloud(CONFIG, quiet=True) as cloud:
        # Given 200 executions started at once
        keys = []
        for i in range(EXECUTIONS):
            response = invoke(config.START_HANDLER, {"spec": SPEC, "inputs": {"n": i}})
            assert "error" not in response, response
            keys.append(response["execution"])
        backend = get_backend()
        before = backend.conflict_retries
        started = time.monotonic()
        # When several pollers deliver jobs and results concurrently
        done, errors = threading.Event(), []
        # the queues this workflow uses: its ops' queues and the results queue (Lambda polls only mapped queues)
        tokens = {step["fn"] for step in SPEC["steps"]}
        wanted = {op_queue_name(t) for t in tokens}
        consumers = [c for c in cloud.consumers if c.name in wanted
                     or (c.handler == config.RESULT_ROUTER_HANDLER and not c.name.endswith(dlq_name("")))]
        seen: list[tuple[str, str, bool]] = []
        assert cloud.invocations is not None
        threads = [threading.Thread(target=poll, args=(consumers, cloud.client("sqs"), cloud.invocations, done,
                                                       errors, seen))
                   for _ in range(POLLERS)]
        for t in threads:
            t.start()
        try:
            # progress is a message handled: the watcher reads one execution at a time, which may be
            # the last to end, so executions ending elsewhere would not show
            pending, handled, progressed = list(keys), 0, time.monotonic()
            while pending and time.monotonic() < progressed + STALL_SECONDS and not errors:
                if len(seen) != handled:
                    handled, progressed = len(seen), time.monotonic()
                # one read at a time: the watcher must not crowd the pollers out of the emulator
                if backend.load_header(pending[-1]).status in TERMINAL_WORKFLOW_STATUSES:
                    pending.pop()
                else:
                    time.sleep(0.25)
        finally:
            done.set()
            for t in threads:
                t.join(timeout=60)
        seconds = time.monotonic() - started
        assert errors == []
        assert not pending, f"no message handled for {STALL_SECONDS} s; {len(pending)} still running:\n" + \
            "\n".join(stuck(backend, cloud, key, seen) for key in pending[-3:])
        # Then every execution completed with its exact outcome, and no message was dead-lettered
        outcomes = {k: (backend.load_header(k).status, backend.load_header(k).outcome) for k in keys}
        wrong = {k: v for k, v in outcomes.items() if v != ("complete", {"sum": expected_sum(keys.index(k))})}
        sqs = cloud.client("sqs")
        dead = {name: int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                          ["Attributes"]["ApproximateNumberOfMessages"])
                for name, url in cloud.queues.items() if name.endswith("-dlq")}
        retries = backend.conflict_retries - before
        steps = EXECUTIONS * len(SPEC["steps"])
        print(f"\nload: {EXECUTIONS} executions x {len(SPEC['steps'])} steps with {POLLERS} concurrent pollers: "
              f"{EXECUTIONS - len(wrong)}/{EXECUTIONS} complete and exact in {seconds:.1f} s; "
              f"{sum(dead.values())} dead-lettered; {retries} optimistic-concurrency retries "
              f"({retries / steps:.3f} per step)")
        assert wrong == {}
        assert sum(dead.values()) == 0, dead
