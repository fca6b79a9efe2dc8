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


def test_the_local_fifo_queue_loses_no_message_sent_while_others_are_deleted(aws):
    """moto rebuilds a queue's message list on delete without the lock sends append under: with
    the order queue's webhook threads sending while its consumer deletes, messages vanished."""
    from local.moto_atomic import make_sqs_queues_thread_safe

    make_sqs_queues_thread_safe()
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="race.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sent, deleted = 300, set()

    def send(n):
        sqs.send_message(QueueUrl=url, MessageBody=str(n), MessageGroupId=f"g{n % 7}", MessageDeduplicationId=str(n))

    def consume():
        idle = 0
        while idle < 20:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            idle = 0 if messages else idle + 1
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                deleted.add(message["Body"])

    with ThreadPoolExecutor(12) as pool:
        consumers = [pool.submit(consume) for _ in range(2)]
        list(pool.map(send, range(sent)))
        for consumer in consumers:
            consumer.result()
    assert deleted == {str(n) for n in range(sent)}
