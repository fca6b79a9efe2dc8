"""The local AWS behaves like DynamoDB where exactly-once depends on it: one conditional winner."""

import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.exceptions import ClientError

from tests.conftest import STATE_TABLE


def _race(rounds: int, threads: int, write) -> list[int]:
    winners = []
    for round_no in range(rounds):
        start = threading.Barrier(threads)

        def attempt(_, round_no=round_no, start=start):
            start.wait()
            try:
                write(round_no)
                return 1
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
                return 0

        with ThreadPoolExecutor(threads) as pool:
            winners.append(sum(pool.map(attempt, range(threads))))
    return winners


def test_concurrent_conditional_puts_of_one_key_have_exactly_one_winner(dynamodb):
    client = boto3.client("dynamodb")

    def put(round_no):
        client.put_item(TableName=STATE_TABLE, Item={"pk": {"S": f"race#{round_no}"}},
                        ConditionExpression="attribute_not_exists(pk)")

    assert _race(rounds=30, threads=8, write=put) == [1] * 30


def test_concurrent_increments_lose_no_update(dynamodb):
    client = boto3.client("dynamodb")
    client.put_item(TableName=STATE_TABLE, Item={"pk": {"S": "counter"}, "n": {"N": "0"}})

    def bump(_):
        client.update_item(TableName=STATE_TABLE, Key={"pk": {"S": "counter"}}, UpdateExpression="SET n = n + :one",
                           ExpressionAttributeValues={":one": {"N": "1"}})

    _race(rounds=20, threads=8, write=bump)
    assert client.get_item(TableName=STATE_TABLE, Key={"pk": {"S": "counter"}})["Item"]["n"] == {"N": "160"}
