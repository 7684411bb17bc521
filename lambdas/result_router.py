"""result_router.py -- Lambda: apply results, timers and dead-lettered jobs, then advance.

Consumes the results queue and every op's dead-letter queue (a job that
arrives from a DLQ was never answered: ``driver.apply_message`` records it
as a failed attempt), and is invoked directly by the kit's executors with
their results (an answers event, ``runfox_core.aws.answers``: one queue hop
fewer; what fails of it goes to the results queue). A results-queue record
may be Lambda's on-failure destination record of an answers event: its
messages are applied like any. One ``ResultRouter`` per invocation advances
each execution once, after its last record in the batch.

Per record (Powertools partial batch response): a malformed message is
logged and dropped, and so is one for an unknown execution (the router
returns normally; retrying could not help); a stale or duplicate result is
ignored by run_id fencing. Any other exception (DynamoDB, SQS) fails just
that record, which SQS redelivers.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from runfox_core import api
from runfox_core.aws import answers
from runfox_core.aws.factory import get_backend
from runfox_core.driver import ResultRouter
from runfox_core.errors import MessageError

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse | dict[str, int]:
    try:
        bodies = answers.bodies_of(event)
    except MessageError as exc:  # it could never be applied: dropped, not retried
        logger.error("malformed answers event dropped", extra={"error": str(exc)})
        metrics.add_metric(name="MessagesDropped", unit=MetricUnit.Count, value=1)
        return {"applied": 0, "requeued": 0}
    if bodies is not None:  # an executor's results, handed over by Invoke
        routed = answers.route(get_backend(), bodies)
        for body, why in routed.dropped:
            logger.error("malformed message dropped", extra={"execution": api.execution_named(body), "error": str(why),
                                                              "source": "answers"})
        metrics.add_metric(name="MessagesDropped", unit=MetricUnit.Count, value=len(routed.dropped))
        metrics.add_metric(name="AnswersRequeued", unit=MetricUnit.Count, value=routed.requeued)
        _report(routed.router)
        return {"applied": len(bodies) - len(routed.dropped) - routed.requeued, "requeued": routed.requeued}
    carried = {record["messageId"]: answers.unwrap(record["body"]) for record in event["Records"]}
    router = ResultRouter(get_backend(), [body for bodies in carried.values() for body in bodies])

    def record_handler(record: SQSRecord) -> None:
        failure: Exception | None = None
        for body in carried[record.message_id]:  # one message, or those of a destination record
            logger.set_correlation_id(api.execution_named(body))
            try:
                router.handle(body)
            except MessageError as exc:
                logger.error("malformed message dropped", extra={"message_id": record.message_id, "error": str(exc),
                                                                  "source": record.event_source_arn})
                metrics.add_metric(name="MessagesDropped", unit=MetricUnit.Count, value=1)
            except Exception as exc:  # noqa: BLE001 -- the record fails once all its messages were tried
                failure = failure or exc
        if failure is not None:
            raise failure

    # a processor per invocation: it holds the batch's failures, and the local emulator's pollers call
    # this handler from several threads at once (Lambda never does), so a shared one mixed their responses
    processor = BatchProcessor(event_type=EventType.SQS)
    response = process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                        context=context)
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=len(response["batchItemFailures"]))
    _report(router)
    return response


def _report(router: ResultRouter) -> None:
    """The batch's metrics and one log line per execution it advanced."""
    dispatched = sum(len(advanced.dispatched) for advanced in router.advanced)
    metrics.add_metric(name="StepsDispatched", unit=MetricUnit.Count, value=dispatched)
    for name, value in sorted(router.counts.items()):  # StepsCompleted/Retried/Failed, Workflows*
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    for advanced in router.advanced:
        logger.info("execution advanced", extra={"execution": advanced.execution, "status": str(advanced.status),
                                                 "dispatched": len(advanced.dispatched)})
