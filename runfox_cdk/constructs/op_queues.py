"""op_queues.py -- a work queue with its dead-letter queue and their two alarms.

One ``OpQueue`` per owned op (its jobs) and one for results. Both queues are
encrypted with SQS-managed keys, refuse non-TLS requests and follow the
deployment's removal policy. A ``name`` fixes the queue's name (op queues:
the engine derives their URLs from it) and the DLQ is ``<name>-dlq``. The
DLQ keeps messages for the SQS maximum (14 days) because redrive keeps the
original enqueue time: a DLQ shorter-lived than its source would drop
messages early. Alarms: the DLQ holds a message; the oldest message of the
queue is older than ``facts.QUEUE_AGE_ALARM_SECONDS``.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from runfox_cdk import nag
from runfox_cdk.constructs.alarms import PERIOD, alarm
from runfox_deploy import facts
from runfox_deploy.topology import dlq_name


class OpQueue(Construct):
    """``queue`` redrives to ``dlq`` after ``max_receive_count`` receives; ``dlq_alarm`` and ``age_alarm`` watch."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        max_receive_count: int,
        visibility_timeout_seconds: int,
        dlq_visibility_timeout_seconds: int,
        description: str,
        removal_policy: RemovalPolicy,
        topic: sns.ITopic,
        name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.dlq = sqs.Queue(
            self,
            "Dlq",
            queue_name=dlq_name(name) if name else None,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(facts.DLQ_RETENTION_DAYS),
            visibility_timeout=Duration.seconds(dlq_visibility_timeout_seconds),
            removal_policy=removal_policy,
        )
        nag.accept_dead_letter_queue(self.dlq)
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=name,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=max_receive_count),
            removal_policy=removal_policy,
        )
        self.dlq_alarm = alarm(
            self, "DlqNotEmpty", topic=topic, threshold=0,
            description=f"{description}: messages in the dead-letter queue",
            metric=self.dlq.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM),
        )
        self.age_alarm = alarm(
            self, "OldestMessageAge", topic=topic, threshold=facts.QUEUE_AGE_ALARM_SECONDS,
            description=f"{description}: oldest message older than {facts.QUEUE_AGE_ALARM_SECONDS} s",
            metric=self.queue.metric_approximate_age_of_oldest_message(
                period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM),
        )
