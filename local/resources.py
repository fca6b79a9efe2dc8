"""The AWS resources the relay expects, created in moto for tests and `make run`.

In AWS the same tables come from CloudFormation (infra/); keep the key schemas in step.
"""

from __future__ import annotations

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
