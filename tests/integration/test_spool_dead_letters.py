"""What the spool handler cannot apply ends in the dead-letter queue, the reason logged.

The spool queue from the data template (moto) has a redrive policy of MAX_RECEIVE_COUNT
receives; messages are delivered to the handler the way Lambda's poller does (a batch that
raises is not deleted and comes back)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import boto3
import pytest

from chalicelib.routes import spool as spool_routes
from chalicelib.spool.codec import encode
from chalicelib.spool.replay import MAX_RECEIVE_COUNT
from chalicelib.store.dynamo import write_table
from chalicelib.store.profiles import ProfileChanges, new_stamp, profile_from_item
from tests.infra.spool_kit import FaultInjector, receive, sqs_event
from tests.routes.conftest import client, profiles_table, simulator, tables  # noqa: F401

pytestmark = pytest.mark.integration

GOOD = "11111111111111111111111111111111111111"
BAD = "22222222222222222222222222222222222222"


@pytest.fixture(autouse=True)
def _fresh_runtime() -> Any:
    spool_routes.install(None)
    yield
    spool_routes.install(None)


def _deliver_until_empty(client: Any, sqs: Any, queue: str, rounds: int = 20) -> int:
    """Poll like Lambda; returns how many batches raised."""
    failed = 0
    for _ in range(rounds):
        messages = receive(sqs, queue)
        if not messages:
            return failed
        try:
            client.lambda_.invoke("spool_replay", sqs_event(messages))
        except Exception:  # noqa: BLE001 - the batch failed: SQS will deliver it again
            failed += 1
            continue
        sqs.delete_message_batch(QueueUrl=queue, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    raise AssertionError("queue not empty")


def _changes(now: float, event_id: str) -> ProfileChanges:
    return ProfileChanges(now=now, event_id=event_id, add_stamps={1001: new_stamp(now)},
                          segments=frozenset({5001}))


def _failures(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records
            if r.name == "rtdcs.spool" and "spool_failure" in r.getMessage()]


def test_undecodable_and_unwritable_messages_end_in_the_dlq_with_their_reason(
    client: Any, tables: dict[str, str], profiles_table: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rtdcs.spool")
    sqs = boto3.client("sqs")
    queue, dlq = tables["spool_queue_url"], tables["spool_dlq_url"]
    now = 1_800_000_000.0
    sqs.send_message(QueueUrl=queue, MessageBody="{not json")
    sqs.send_message(QueueUrl=queue, MessageBody=encode(BAD, _changes(now, "bad-event"), "t", now))
    sqs.send_message(QueueUrl=queue, MessageBody=encode(GOOD, _changes(now, "good-event"), "t",
                                                        now))

    def refuse_bad(params: dict[str, Any]) -> bool:
        body = params.get("body") or b""
        return BAD.encode() in (body if isinstance(body, bytes) else body.encode())

    writes = write_table(tables["profiles"]).meta.client
    with FaultInjector(writes, fail_rate=1.0, predicate=refuse_bad):
        failed_batches = _deliver_until_empty(client, sqs, queue)

    assert failed_batches >= MAX_RECEIVE_COUNT
    # The good message was applied (and deleted) although its batch-mates kept failing.
    item = profiles_table.get_item(Key={"uuid": GOOD})["Item"]
    assert profile_from_item(item, time.time()).traits[1001].count == 1
    assert item["segs"] == {5001}
    assert "Item" not in profiles_table.get_item(Key={"uuid": BAD})

    dead = receive(sqs, dlq)
    assert sorted(m["Body"][:9] for m in dead) == ['{"v":1,"u', "{not json"]
    failures = _failures(caplog)
    reasons = {f["reason"] for f in failures}
    assert "undecodable spool message: JSONDecodeError" in reasons
    assert "ProvisionedThroughputExceededException (400)" in reasons
    last = [f for f in failures if f["to_dead_letter_queue"]]
    assert {f["event_id"] for f in last} == {"", "bad-event"}
    assert all(f["receive_count"] == MAX_RECEIVE_COUNT for f in last)
