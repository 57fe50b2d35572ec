"""ibs in /event answers: d_jsonv, d_nsid, the sync cookie and d_ptfm (dcs-protocol.md 4.1, 4.5)."""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

import boto3
import pytest

from chalicelib.store.catalog import CatalogRepository


@pytest.fixture
def partners(tables: dict[str, str]) -> Iterator[None]:
    repository = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
    repository.put("datasource", 9001, {
        "dataSourceId": 9001, "name": "Sync A", "idType": "COOKIE",
        "syncUrl": "https://sync.a.example/u?rt=${DD_UUID}", "syncTtl": 60})
    repository.put("datasource", 9002, {
        "dataSourceId": 9002, "name": "Sync B", "idType": "COOKIE", "syncNsid": 5,
        "syncUrl": "https://sync.b.example/u?rt=%DID%"})
    repository.bump_version()
    yield


def _ibs(client: Any, query: str, cookie: str = "") -> list[dict[str, Any]]:
    headers = {"Cookie": cookie} if cookie else {}
    response = client.http.get("/event?d_rtbd=json&" + query, headers=headers)
    assert response.status_code == 200
    return list(json.loads(response.body).get("ibs", []))


def test_syncs_offered_for_the_container_namespace(client: Any, partners: None) -> None:
    items = _ibs(client, "c_x=1")
    assert [i["id"] for i in items] == ["9001"]
    uuid = items[0]["url"][0].rsplit("=", 1)[1]
    assert len(uuid) == 38 and items[0]["ttl"] == 60 and items[0]["fireURLSync"] == 1
    assert [i["id"] for i in _ibs(client, "d_nsid=5")] == ["9002"]


def test_d_jsonv_0_and_apps_get_no_syncs(client: Any, partners: None) -> None:
    assert _ibs(client, "d_jsonv=0") == []
    assert _ibs(client, "d_ptfm=android") == []
    assert [i["id"] for i in _ibs(client, "d_jsonv=7")] == ["9001"]  # other values count as 1


def test_a_fresh_sync_cookie_entry_is_not_due(client: Any, partners: None) -> None:
    now_ms = int(time.time() * 1000)
    assert _ibs(client, "c_x=1", f"rtdcs_sync=9001-1-{now_ms}") == []
    stale = now_ms - 61 * 60 * 1000
    assert [i["id"] for i in _ibs(client, "c_x=1", f"rtdcs_sync=9001-1-{stale}")] == ["9001"]


def test_legacy_pair_is_one_declared_id(client: Any, tables: dict[str, str]) -> None:
    repository = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
    repository.put("datasource", 77, {"dataSourceId": 77, "name": "CRM", "idType": "CROSS_DEVICE"})
    repository.bump_version()
    first = json.loads(client.http.get("/event?d_rtbd=json&d_dpid=77&d_dpuuid=legacy").body)
    second = json.loads(client.http.get("/event?d_rtbd=json&dpid=77&dpuuid=legacy").body)
    assert "errors" not in first and second["uuid"] == first["uuid"]
