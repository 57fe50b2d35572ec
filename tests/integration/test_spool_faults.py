"""Nothing lost, nothing doubled: 1,000 events while 30% of profile writes fail.

Faults are injected through botocore's event system on the profile-write client: for 30% of
the events every write attempt is refused (throttling), so they must be spooled; on top, 30%
of all PutItem calls fail once at random (throttling or 5xx: retried inside the budget),
and 5% of the calls that do reach DynamoDB lose their answer (the write happened, the caller
saw a 500: a retry must not count it twice). While the spool is drained DynamoDB has
"recovered" from the per-event refusals, but the random faults and lost answers go on.
Afterwards every event's realization is in its visitor's profile exactly once.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib.runtime import observability
from chalicelib.routes import spool as spool_routes
from chalicelib.store.dynamo import write_table
from chalicelib.store.profiles import profile_from_item
from tests.infra.spool_kit import FaultInjector, drain, receive
from tests.routes.conftest import client, profiles_table, simulator, tables  # noqa: F401

pytestmark = pytest.mark.integration

VISITORS = 100
EVENTS_PER_VISITOR = 10  # 1,000 events; below the 100-stamp cap so every stamp stays
TRAIT = 1001  # demo catalog: c_section == "sports"


@pytest.fixture(autouse=True)
def _no_providers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RTDCS_RT_BUDGET_MS", "0")  # rules only: this test is about storage
    spool_routes.install(None)
    observability.install(None)
    yield
    spool_routes.install(None)


def test_thousand_events_with_thirty_percent_write_failures(
    client: Any, tables: dict[str, str], profiles_table: Any
) -> None:
    uuids: list[str | None] = [None] * VISITORS
    sent: Counter[str] = Counter()
    codes: Counter[int] = Counter()
    writes = write_table(tables["profiles"]).meta.client
    with FaultInjector(writes, fail_rate=0.3, lost_answer_rate=0.05, sticky_rate=0.3,
                       seed=11) as faults:
        for i in range(VISITORS * EVENTS_PER_VISITOR):
            visitor = i % VISITORS  # interleaved: spooled events are older than later ones
            headers = {"Cookie": f"rtdcs_uuid={uuids[visitor]}"} if uuids[visitor] else {}
            response = client.http.get("/event?d_rtbd=json&d_cts=1&c_section=sports",
                                       headers=headers)
            body = json.loads(response.body)
            assert TRAIT in body["traits"]
            codes.update(e["code"] for e in body.get("errors", []))
            uuids[visitor] = body["uuid"]
            sent[body["uuid"]] += 1

    sqs = boto3.client("sqs")
    queue = tables["spool_queue_url"]
    spooled = int(sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"])
    with FaultInjector(writes, fail_rate=0.3, lost_answer_rate=0.05, seed=12) as replay_faults:
        report = drain(sqs, queue, lambda e: client.lambda_.invoke("spool_replay", e))

    print(json.dumps({"fault_test": {"write_calls": faults.calls, "failed": faults.failed,
                                     "lost_answers": faults.lost_answers, "spooled": spooled,
                                     "replay_failed_calls": replay_faults.failed,
                                     "replay_lost_answers": replay_faults.lost_answers,
                                     "drain_batches": report.batches,
                                     "failed_batches": report.failed_batches}}))
    assert codes == Counter(), codes  # every event succeeded: written or spooled, never 201
    assert faults.failed > 250 and faults.lost_answers > 20  # the faults really happened
    assert 250 < spooled < 400  # ~30% of the events
    assert receive(sqs, queue) == []  # drained
    assert replay_faults.failed > 0 and replay_faults.lost_answers > 0
    assert receive(sqs, tables["spool_dlq_url"]) == []

    lost, doubled = [], []
    for uuid, count in sent.items():
        item = profiles_table.get_item(Key={"uuid": uuid}, ConsistentRead=True)["Item"]
        profile = profile_from_item(item, time.time())
        realizations = profile.traits.get(TRAIT)
        counted = realizations.count if realizations else 0
        applied = sum(1 for _, event_id in profile.guard.entries)
        if counted < count:
            lost.append((uuid, count, counted, applied))
        if counted > count or applied > count:
            doubled.append((uuid, count, counted, applied))
    assert len(sent) == VISITORS
    assert lost == [] and doubled == []
