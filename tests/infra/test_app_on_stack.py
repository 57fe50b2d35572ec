"""The app pointed at the resources the data template created in moto: an event's profile
write, a write DynamoDB refuses (spooled, then applied by the queue handler, once), and one
neither DynamoDB nor SQS takes (201)."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from chalicelib.spool.queue import sqs_client
from chalicelib.store.dynamo import write_table
from chalicelib.store.profiles import profile_from_item
from tests.infra.spool_kit import FaultInjector, drain, receive

SECRET = "swordfish-p-value"


def _event(client: Any, query: str, uuid: str | None = None) -> dict[str, Any]:
    headers = {"Cookie": f"rtdcs_uuid={uuid}"} if uuid else {}
    response = client.http.get(f"/event?d_rtbd=json&d_cts=1&{query}", headers=headers)
    assert response.status_code == 200, response.body
    body: dict[str, Any] = json.loads(response.body)
    return body


def _codes(body: dict[str, Any]) -> list[int]:
    return [e["code"] for e in body.get("errors", [])]


def _count(table: Any, uuid: str, sid: int) -> int:
    item = table.get_item(Key={"uuid": uuid})["Item"]
    return profile_from_item(item, time.time()).traits[sid].count


def test_settings_point_at_the_stack_resources(tables: dict[str, str]) -> None:
    import os

    assert os.environ["RTDCS_PROFILES_TABLE"] == tables["profiles"] == "rtdcs-local-profiles"
    assert os.environ["RTDCS_SPOOL_QUEUE_URL"] == tables["spool_queue_url"]
    assert os.environ["RTDCS_S2S_QUEUE_URL"] == tables["s2s_queue_url"]
    sqs = boto3.client("sqs")
    for key in ("spool_queue_url", "s2s_queue_url", "spool_dlq_url", "s2s_dlq_url"):
        attributes = sqs.get_queue_attributes(QueueUrl=tables[key], AttributeNames=["QueueArn"])
        assert attributes["Attributes"]["QueueArn"].endswith(tables[key].rsplit("/", 1)[1])


def test_an_event_is_stored_with_its_counter_and_event_id(
    client: Any, profiles_table: Any
) -> None:
    first = _event(client, "c_section=sports")
    assert 1001 in first["traits"] and _codes(first) == []
    second = _event(client, "c_section=sports", first["uuid"])
    item = profiles_table.get_item(Key={"uuid": first["uuid"]})["Item"]
    profile = profile_from_item(item, time.time())
    assert profile.traits[1001].count == 2
    assert {e for _, e in profile.guard.entries} == {first["tid"], second["tid"]}


def test_refused_write_is_spooled_then_applied_once(
    client: Any, tables: dict[str, str], profiles_table: Any
) -> None:
    sqs = boto3.client("sqs")
    queue = tables["spool_queue_url"]
    first = _event(client, "c_section=sports")
    uuid = first["uuid"]
    writes = write_table(tables["profiles"]).meta.client
    with FaultInjector(writes, fail_rate=1.0) as faults:
        spooled = _event(client, f"c_section=sports&p_secret={SECRET}", uuid)
    assert faults.failed >= 2  # retried before spooling
    assert _codes(spooled) == []  # success: the write is spooled, not lost
    assert _count(profiles_table, uuid, 1001) == 1

    messages = receive(sqs, queue)
    assert len(messages) == 1
    body = messages[0]["Body"]
    assert '"p_' not in body and SECRET not in body  # changes only: ids, stamps, segments
    assert json.loads(body)["changes"]["event_id"] == spooled["tid"]

    def invoke(event: dict[str, Any]) -> Any:
        return client.lambda_.invoke("spool_replay", event)

    report = drain(sqs, queue, invoke)
    assert report.applied == 1, report.errors
    item = profiles_table.get_item(Key={"uuid": uuid})["Item"]
    assert _count(profiles_table, uuid, 1001) == 2
    assert spooled["tid"] in profile_from_item(item, time.time()).guard

    # SQS delivers at least once: the same message again changes nothing.
    from tests.infra.spool_kit import sqs_event

    again = invoke(sqs_event(messages))
    assert again.payload == {"applied": 1}
    assert profiles_table.get_item(Key={"uuid": uuid})["Item"] == item


def test_when_dynamodb_and_the_spool_both_fail_the_event_reports_201(
    client: Any, tables: dict[str, str], profiles_table: Any
) -> None:
    first = _event(client, "c_section=sports")
    writes = write_table(tables["profiles"]).meta.client
    with FaultInjector(writes, fail_rate=1.0), FaultInjector(
        sqs_client(), operation="SendMessage", fail_rate=1.0
    ) as sends:
        lost = _event(client, "c_section=sports", first["uuid"])
    assert sends.failed >= 1
    assert 201 in _codes(lost)
    assert receive(boto3.client("sqs"), tables["spool_queue_url"]) == []
