"""The AWS resources the relay expects, created in moto for tests and `make run`.

In AWS the same tables and queues come from CloudFormation (infra/); keep them in step.
"""

from __future__ import annotations

import json
from typing import Any


def create_state_table(dynamodb: Any, table_name: str) -> None:
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )


def create_orders_table(dynamodb: Any, table_name: str) -> None:
    """The alert ledger: key `key`; a journal index (newest first) and a sparse open-items index."""
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "key", "AttributeType": "S"},
            {"AttributeName": "journal", "AttributeType": "S"},
            {"AttributeName": "open", "AttributeType": "S"},
            {"AttributeName": "received_at", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index,
                "KeySchema": [{"AttributeName": partition, "KeyType": "HASH"},
                              {"AttributeName": "received_at", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, partition in (("journal", "journal"), ("open", "open"))
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )


def create_order_queue(sqs: Any, queue_name: str, *, visibility_seconds: int, max_receives: int) -> str:
    """The FIFO order queue and its FIFO dead-letter queue, as infra/build.py declares them (the
    visibility timeout is the caller's: `make run` keeps it short so a failed delivery comes back
    quickly). Returns the queue's URL (ORDER_QUEUE_URL)."""
    from infra.limits import QUEUE_RETENTION_SECONDS

    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    dead = sqs.create_queue(QueueName=queue_name.removesuffix(".fifo") + "-dead.fifo", Attributes=fifo)["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs.create_queue(QueueName=queue_name, Attributes={
        **fifo, "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId",
        "VisibilityTimeout": str(visibility_seconds), "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": max_receives}),
    })["QueueUrl"]
