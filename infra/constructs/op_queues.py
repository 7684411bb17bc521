"""op_queues.py -- a work queue with its dead-letter queue and an alarm on that DLQ.

One ``OpQueue`` per op (its jobs) and one for results. Both queues are
encrypted with SQS-managed keys and refuse non-TLS requests. The DLQ keeps
messages for the SQS maximum (14 days) because redrive keeps the original
enqueue time: a DLQ shorter-lived than its source would drop messages early.
The alarm fires as soon as the DLQ holds one message; it has no action, so
callers attach one (``alarm.add_alarm_action``) where they route alerts.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import nag
from runfox_core.aws import config


class OpQueue(Construct):
    """``queue`` redrives to ``dlq`` after ``max_receive_count`` receives; ``dlq_alarm`` watches it."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        max_receive_count: int,
        visibility_timeout_seconds: int,
        dlq_visibility_timeout_seconds: int,
        description: str,
    ) -> None:
        super().__init__(scope, id)
        self.dlq = sqs.Queue(
            self,
            "Dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(config.DLQ_RETENTION_DAYS),
            visibility_timeout=Duration.seconds(dlq_visibility_timeout_seconds),
        )
        nag.accept_dead_letter_queue(self.dlq)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=max_receive_count),
        )
        self.dlq_alarm = cloudwatch.Alarm(
            self,
            "DlqNotEmpty",
            alarm_description=f"{description}: messages in the dead-letter queue",
            metric=self.dlq.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
