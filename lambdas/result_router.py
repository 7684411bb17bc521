"""result_router.py -- Lambda: apply results, timers and dead-lettered jobs, then advance.

Consumes the results queue and every op's dead-letter queue (a job that
arrives from a DLQ was never answered: ``driver.apply_message`` records it
as a failed attempt). One ``ResultRouter`` per invocation advances each
execution once, after its last record in the batch.

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
from runfox_core.aws.factory import get_backend
from runfox_core.driver import ResultRouter
from runfox_core.errors import MessageError

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    router = ResultRouter(get_backend(), [record["body"] for record in event["Records"]])

    def record_handler(record: SQSRecord) -> None:
        logger.set_correlation_id(api.execution_named(record.body))
        try:
            router.handle(record.body)
        except MessageError as exc:
            logger.error("malformed message dropped", extra={"message_id": record.message_id, "error": str(exc),
                                                              "source": record.event_source_arn})
            metrics.add_metric(name="MessagesDropped", unit=MetricUnit.Count, value=1)

    # a processor per invocation: it holds the batch's failures, and the local emulator's pollers call
    # this handler from several threads at once (Lambda never does), so a shared one mixed their responses
    processor = BatchProcessor(event_type=EventType.SQS)
    response = process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                        context=context)
    dispatched = sum(len(advanced.dispatched) for advanced in router.advanced)
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=len(response["batchItemFailures"]))
    metrics.add_metric(name="StepsDispatched", unit=MetricUnit.Count, value=dispatched)
    for name, value in sorted(router.counts.items()):  # StepsCompleted/Retried/Failed, Workflows*
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    for advanced in router.advanced:
        logger.info("execution advanced", extra={"execution": advanced.execution, "status": str(advanced.status),
                                                 "dispatched": len(advanced.dispatched)})
    return response
