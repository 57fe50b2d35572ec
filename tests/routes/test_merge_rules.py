"""The cross-device scenarios of identity.md 4, through /event: device A logs in and realizes
trait T; device B logs in with the same ID (``current`` qualifies); B logs out (``current`` no
longer, ``last`` still); a device that never logged in but shares the ID link qualifies under
``deviceGraph``. With the DynamoDB request counter: one extra BatchGetItem only where a rule
needs another profile, none otherwise."""

from __future__ import annotations

import json
from typing import Any, Iterator

import boto3
import pytest

from chalicelib.store.catalog import CatalogRepository
from tests.ddb_hooks import dynamodb_calls

CRM = 77
TRAIT = 7001
CURRENT, LAST, GRAPH = 31, 32, 33  # merge rules
SEG_CURRENT, SEG_LAST, SEG_GRAPH, SEG_DEVICE = 7101, 7102, 7103, 7104
ALL = {SEG_CURRENT, SEG_LAST, SEG_GRAPH, SEG_DEVICE}


def _put_catalog(tables: dict[str, str], merge_rules: bool = True) -> CatalogRepository:
    repository = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
    repository.put("datasource", CRM, {"dataSourceId": CRM, "name": "CRM",
                                       "idType": "CROSS_DEVICE", "integrationCode": "crm"})
    repository.put("trait", TRAIT, {"sid": TRAIT, "name": "T", "traitType": "RULE_BASED_TRAIT",
                                    "dataSourceId": 1, "traitRule": 'c_xd == "yes"', "ttl": 30})
    rules = {CURRENT: ("current", "current"), LAST: ("last", "current"),
             GRAPH: ("none", "deviceGraph")}
    if merge_rules:
        for rule_id, (auth, device) in rules.items():
            repository.put("mergerule", rule_id, {
                "mergeRuleId": rule_id, "name": f"rule {rule_id}", "authenticatedProfile": auth,
                "deviceProfile": device, "crossDeviceDataSources": [CRM], "default": False})
    for sid, rule_id in ((SEG_CURRENT, CURRENT), (SEG_LAST, LAST), (SEG_GRAPH, GRAPH),
                         (SEG_DEVICE, None)):
        body: dict[str, Any] = {"sid": sid, "name": f"s{sid}", "segmentRule": f"{TRAIT}T",
                                "status": "active"}
        if rule_id is not None and merge_rules:
            body["mergeRuleId"] = rule_id
        repository.put("segment", sid, body)
    repository.bump_version()
    return repository


@pytest.fixture
def cross_device(tables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "3600")
    _put_catalog(tables)
    yield


def _over(body: dict[str, Any], rule_id: int) -> list[str]:
    """What the segments of merge rule ``rule_id`` were evaluated over (the answer's
    ``profiles``)."""
    return next(p["over"] for p in body["profiles"] if p["mergeRuleId"] == rule_id)


def _event(client: Any, query: str, uuid: str | None = None) -> dict[str, Any]:
    headers = {"Cookie": f"rtdcs_uuid={uuid}"} if uuid else {}
    response = client.http.get(f"/event?d_rtbd=json&d_cts=1&{query}", headers=headers)
    assert response.status_code == 200, response.body
    return dict(json.loads(response.body))


def _ours(body: dict[str, Any]) -> set[int]:
    return set(body["segments"]) & ALL


def _new_device(client: Any) -> str:
    return str(_event(client, "c_other=1")["uuid"])


def test_cross_device_scenario(client: Any, cross_device: None) -> None:
    device_a, device_b, device_c = (_new_device(client) for _ in range(3))
    # A logs in (state 1) and realizes T: every segment qualifies on A.
    a = _event(client, f"c_xd=yes&d_cid={CRM}%01user-1%011", device_a)
    assert _ours(a) == ALL
    assert _over(a, CURRENT) == ["device", "authenticated"]
    # B logs in with the same ID: T lives in the authenticated profile (current, last) and in
    # A's device profile (deviceGraph); not in B's own device profile.
    b = _event(client, f"d_cid={CRM}%01user-1%011", device_b)
    assert b["uuid"] == device_b
    assert _ours(b) == {SEG_CURRENT, SEG_LAST, SEG_GRAPH}
    assert _over(b, GRAPH) == ["device", "device-graph:1"]
    # B logs out (state 2): current stops at once, last still uses the authenticated profile.
    out = _event(client, f"d_cid={CRM}%01user-1%012", device_b)
    assert _ours(out) == {SEG_LAST, SEG_GRAPH}
    assert _over(out, CURRENT) == ["device"]
    # ... also on B's later events that declare nothing.
    assert _ours(_event(client, "c_other=2", device_b)) == {SEG_LAST, SEG_GRAPH}
    # C never logged in but shares the ID link (state 0): deviceGraph only.
    c = _event(client, f"d_cid={CRM}%01user-1%010", device_c)
    assert _ours(c) == {SEG_GRAPH}
    assert _over(c, GRAPH) == ["device", "device-graph:2"]
    assert _ours(_event(client, "c_other=3", device_c)) == {SEG_GRAPH}  # the kept graph
    # Another ID's visitor sees nothing of user-1.
    d = _event(client, f"d_cid={CRM}%01user-2%011", _new_device(client))
    assert _ours(d) == set()


def test_authenticated_profile_is_keyed_apart_and_bounded(
    client: Any, cross_device: None, tables: dict[str, str]
) -> None:
    device = _new_device(client)
    _event(client, f"c_xd=yes&d_cid={CRM}%01user-9%011", device)
    table = boto3.resource("dynamodb").Table(tables["profiles"])
    item = table.get_item(Key={"uuid": f"a#{CRM}#user-9"})["Item"]
    assert "t" in item and "expires_at" in item  # realizations, with the profile lifetime
    device_item = table.get_item(Key={"uuid": device})["Item"]
    assert device_item["au"] == {str(CRM): "user-9"}


def _counted(client: Any, query: str, uuid: str) -> list[str]:
    with dynamodb_calls() as calls:
        _event(client, query, uuid)
    return list(calls)


def test_extra_reads_only_where_a_rule_needs_them(
    client: Any, tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "3600")
    repository = _put_catalog(tables, merge_rules=False)
    device = _new_device(client)
    # Without merge rules: the event's own requests.
    plain = _counted(client, "c_xd=yes", device)
    declared = _counted(client, f"d_cid={CRM}%01user-5%012", device)
    for rule_id, (auth, kind) in {CURRENT: ("current", "current"), LAST: ("last", "current"),
                                  GRAPH: ("none", "deviceGraph")}.items():
        repository.put("mergerule", rule_id, {
            "mergeRuleId": rule_id, "name": f"r{rule_id}", "authenticatedProfile": auth,
            "deviceProfile": kind, "crossDeviceDataSources": [CRM], "default": False})
    repository.put("segment", SEG_LAST, {"sid": SEG_LAST, "name": "l", "segmentRule": f"{TRAIT}T",
                                         "status": "active", "mergeRuleId": LAST})
    repository.bump_version()
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "3599")  # new services: a fresh load
    _event(client, "c_other=warm", _new_device(client))
    # Not authenticated, nothing for last/deviceGraph to use: unchanged.
    fresh = _new_device(client)
    assert _counted(client, "c_xd=yes", fresh) == plain == ["GetItem", "PutItem"]
    # A declared ID, not authenticated (state 2), and nothing for ``last`` to use yet: the same
    # requests as without merge rules.
    assert _counted(client, f"d_cid={CRM}%01user-5%012", device) == declared
    assert declared == ["BatchGetItem", "GetItem", "UpdateItem", "PutItem"]
    # Authenticated: one extra BatchGetItem (the authenticated profile) and its write.
    logged_in = _counted(client, f"d_cid={CRM}%01user-5%011", device)
    assert logged_in.count("BatchGetItem") == 2
    assert sorted(logged_in) == sorted([*declared, "BatchGetItem", "PutItem"])
    # Later events of this device: rule ``last`` needs the authenticated profile: one
    # BatchGetItem more than the same event without merge rules (``plain``).
    assert _counted(client, "c_xd=yes", device) == ["GetItem", "BatchGetItem", "PutItem"]


def test_an_opted_out_id_is_no_longer_merged(client: Any, cross_device: None) -> None:
    device_a, device_d, device_b = (_new_device(client) for _ in range(3))
    _event(client, f"c_xd=yes&d_cid={CRM}%01user-7%011", device_a)
    _event(client, f"d_cid={CRM}%01user-7%011", device_d)
    _event(client, f"d_cid={CRM}%01user-7%011", device_b)  # the most recent link
    assert _ours(_event(client, "c_other=1", device_d)) == {SEG_LAST, SEG_GRAPH}
    # The ID opts out (with its most recent device, B): its authenticated profile is no longer
    # used under ``last``; A's own device profile still is, through D's device graph.
    client.http.get(f"/demoptout?d_cid={CRM}%01user-7")
    assert _ours(_event(client, "c_other=2", device_d)) == {SEG_GRAPH}
    stopped = _event(client, f"d_cid={CRM}%01user-7%011", _new_device(client))
    assert [e["code"] for e in stopped["errors"]] == [171]
