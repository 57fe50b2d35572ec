"""Real-time S2S from /event: a message is queued when membership changes, not otherwise,
and an opt-out sends one final all-Status-0 message (destinations.md, S2S)."""

from __future__ import annotations

import json
import os
from typing import Any, Iterator

import boto3
import pytest

from chalicelib.store.catalog import CatalogRepository
from devtools.provider_sim import ProviderSimulator

PARTNER_DS = 9100
DESTINATION = 60


@pytest.fixture
def s2s_destination(tables: dict[str, str]) -> Iterator[None]:
    repository = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
    repository.put("datasource", PARTNER_DS, {"dataSourceId": PARTNER_DS, "name": "Partner",
                                               "idType": "CROSS_DEVICE"})
    repository.put("destination", DESTINATION, {
        "destinationId": DESTINATION, "name": "Partner S2S", "destinationType": "S2S",
        "url": "https://partner.example/rt", "dataSourceId": PARTNER_DS})
    for mapping_id, sid in ((60, 5001), (61, 5004)):
        repository.put("mapping", mapping_id, {"mappingId": mapping_id,
                                               "destinationId": DESTINATION, "sid": sid})
    repository.bump_version()
    yield


def _drain() -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = os.environ["RTDCS_S2S_QUEUE_URL"]
    messages: list[dict[str, Any]] = []
    while True:
        # The queue long-polls (20 s): ask for what is there now, the events were synchronous.
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                    WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return messages
        for message in batch:
            messages.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _statuses(message: dict[str, Any]) -> dict[int, int]:
    """Segment id -> Status of one queued message (the handler turns it into AAM's format)."""
    return {int(s["id"]): int(s["status"]) for s in message["segments"]}


def test_membership_changes_queue_messages(
    client: Any, s2s_destination: None, simulator: ProviderSimulator, profiles_table: Any
) -> None:
    first = client.http.get(f"/event?d_rtbd=json&c_section=sports&d_cid={PARTNER_DS}%01pu-1")
    uuid = json.loads(first.body)["uuid"]
    sent = _drain()
    assert len(sent) == 1 and _statuses(sent[0]) == {5001: 1, 5004: 1}
    assert f"s2s{DESTINATION}" in profiles_table.get_item(Key={"uuid": uuid})["Item"]
    cookie = {"Cookie": f"rtdcs_uuid={uuid}"}
    client.http.get("/event?d_rtbd=json&c_section=news", headers=cookie)
    assert _drain() == []  # nothing changed: nothing sent
    simulator.configure("slow", {"latency_ms": 0, "segments": [], "removed": ["luxury"]})
    client.http.get("/event?d_rtbd=json", headers=cookie)
    changed = _drain()
    assert len(changed) == 1 and _statuses(changed[0]) == {5001: 1, 5004: 0}


def test_visitors_without_a_partner_id_are_not_sent(client: Any, s2s_destination: None) -> None:
    client.http.get("/event?d_rtbd=json&c_section=sports")
    assert _drain() == []


def test_opt_out_sends_one_final_message(client: Any, s2s_destination: None) -> None:
    first = client.http.get(f"/event?d_rtbd=json&c_section=sports&d_cid={PARTNER_DS}%01pu-2")
    uuid = json.loads(first.body)["uuid"]
    _drain()
    client.http.get(f"/demoptout?d_uuid={uuid}")
    final = _drain()
    assert len(final) == 1 and set(_statuses(final[0]).values()) == {0}
    client.http.get(f"/event?d_rtbd=json&d_uuid={uuid}")
    assert _drain() == []
