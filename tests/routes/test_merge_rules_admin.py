"""``/v1/mergerules`` (identity.md 3): validated, at most 10, one default, referenced by
segments (in-use delete 409), in the OpenAPI document, and served by /event once the catalog
version is checked (within 10 s, as for every catalog kind)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from chalicelib.admin.openapi import document
from chalicelib.config import Settings
from tests.routes import test_admin_support as support
from tests.routes.test_admin_support import Admin

admin = support.admin  # fixture


@pytest.fixture
def sources(admin: Admin) -> dict[str, int]:
    crm = admin.created("/v1/datasources", {"name": "CRM", "idType": "CROSS_DEVICE"})
    cookie = admin.created("/v1/datasources", {"name": "Cookies", "idType": "COOKIE"})
    return {"crm": crm["dataSourceId"], "cookie": cookie["dataSourceId"]}


def test_create_with_defaults_and_validation(admin: Admin, sources: dict[str, int]) -> None:
    rule = admin.created("/v1/mergerules", {"name": "Cross-device",
                                            "crossDeviceDataSources": [sources["crm"]]})
    assert rule["authenticatedProfile"] == "current" and rule["deviceProfile"] == "current"
    assert rule["default"] is False and isinstance(rule["mergeRuleId"], int)
    refused = [
        ({"name": "x", "crossDeviceDataSources": [999_999]}, 400, "invalid_reference"),
        ({"name": "x", "crossDeviceDataSources": [sources["cookie"]]}, 400, "invalid_reference"),
        ({"name": "x", "crossDeviceDataSources": []}, 400, "invalid_value"),
        ({"name": "x", "authenticatedProfile": "none", "deviceProfile": "none"}, 400,
         "invalid_value"),
        ({"name": "x", "authenticatedProfile": "sometimes",
          "crossDeviceDataSources": [sources["crm"]]}, 400, None),
        ({"name": "x", "crossDeviceDataSources": [sources["crm"]] * 2}, 400, "invalid_value"),
    ]
    for body, status, code in refused:
        answer = admin.post("/v1/mergerules", body)
        assert answer.status == status, (body, answer)
        if code:
            assert answer.error()["code"] == code, (body, answer)
    # device only needs no data source
    admin.created("/v1/mergerules", {"name": "Device", "authenticatedProfile": "none"})


def test_one_default_and_at_most_ten(admin: Admin, sources: dict[str, int]) -> None:
    body = {"name": "r", "crossDeviceDataSources": [sources["crm"]]}
    first = admin.created("/v1/mergerules", {**body, "default": True})
    second = admin.post("/v1/mergerules", {**body, "default": True})
    assert second.status == 409 and second.error()["code"] == "duplicate"
    # the default itself may be replaced, staying the default
    replaced = admin.put(f"/v1/mergerules/{first['mergeRuleId']}",
                         {**body, "name": "renamed", "default": True})
    assert replaced.status == 200, replaced
    stored = admin.get("/v1/mergerules").json["total"]
    assert stored >= 2  # the demo catalog's device-only rule and ``first``
    for _ in range(10 - stored):
        admin.created("/v1/mergerules", body)
    eleventh = admin.post("/v1/mergerules", body)
    assert eleventh.status == 409 and eleventh.error()["code"] == "limit_exceeded"


def test_segments_name_a_merge_rule_and_block_its_delete(
    admin: Admin, sources: dict[str, int]
) -> None:
    rule = admin.created("/v1/mergerules", {"name": "r",
                                            "crossDeviceDataSources": [sources["crm"]]})
    rule_id = rule["mergeRuleId"]
    unknown = admin.post("/v1/segments", {"name": "s", "segmentRule": "1001T",
                                          "mergeRuleId": 999_999})
    assert unknown.status == 400 and unknown.error()["code"] == "invalid_reference"
    segment = admin.created("/v1/segments", {"name": "s", "segmentRule": "1001T",
                                             "mergeRuleId": rule_id})
    assert segment["mergeRuleId"] == rule_id
    in_use = admin.delete(f"/v1/mergerules/{rule_id}")
    assert in_use.status == 409 and in_use.error()["code"] == "in_use"
    assert "segments" in in_use.error()["message"]
    ds_in_use = admin.delete(f"/v1/datasources/{sources['crm']}")
    assert ds_in_use.status == 409 and "merge rules" in ds_in_use.error()["message"]
    assert admin.delete(f"/v1/segments/{segment['sid']}").status == 204
    assert admin.delete(f"/v1/mergerules/{rule_id}").status == 204


def test_merge_rules_are_in_the_openapi_document(admin: Admin) -> None:
    doc = document()
    assert {"get", "post"} <= set(doc["paths"]["/v1/mergerules"])
    assert {"get", "put", "delete"} <= set(doc["paths"]["/v1/mergerules/{mergeRuleId}"])
    schemas = doc["components"]["schemas"]
    names = [name for name in schemas if name.startswith("MergeRule")]
    assert names, list(schemas)
    text = json.dumps(schemas)
    assert "deviceGraph" in text and "crossDeviceDataSources" in text and "mergeRuleId" in text
    served = admin.get("/v1/openapi.json").json
    assert "/v1/mergerules" in served["paths"]
    jsonschema.Draft202012Validator.check_schema(schemas[names[0]])


def _over(body: dict[str, Any], rule_id: int) -> list[str]:
    """What the segments of merge rule ``rule_id`` were evaluated over (the answer's
    ``profiles``)."""
    return next(p["over"] for p in body["profiles"] if p["mergeRuleId"] == rule_id)


def _event(client: Any, query: str, uuid: str | None = None) -> dict[str, Any]:
    headers = {"Cookie": f"rtdcs_uuid={uuid}"} if uuid else {}
    response = client.http.get(f"/event?d_rtbd=json&d_cts=1&{query}", headers=headers)
    return dict(json.loads(response.body))


def test_a_merge_rule_change_reaches_the_event_path(
    admin: Admin, client: Any, sources: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Propagation as for every catalog kind: the refresh interval (default 5 s, at most the
    spec's 10 s); here 0, so the next event checks the version."""
    assert Settings.from_env({}).catalog_refresh_seconds <= 10
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "0")
    crm = sources["crm"]
    trait = admin.created("/v1/traits", {"name": "T", "traitType": "RULE_BASED_TRAIT",
                                         "dataSourceId": 1, "traitRule": 'c_xd == "yes"'})
    segment = admin.created("/v1/segments", {"name": "s", "segmentRule": f"{trait['sid']}T"})
    device_a = _event(client, "c_other=1")["uuid"]
    device_b = _event(client, "c_other=1")["uuid"]
    _event(client, f"c_xd=yes&d_cid={crm}%01u-1%011", device_a)
    assert segment["sid"] not in _event(client, f"d_cid={crm}%01u-1%011", device_b)["segments"]
    rule = admin.created("/v1/mergerules", {"name": "r", "crossDeviceDataSources": [crm],
                                            "default": True})
    # the next authenticated event of A writes its profile; then B sees it under the default
    _event(client, f"c_xd=yes&d_cid={crm}%01u-1%011", device_a)
    served = _event(client, f"d_cid={crm}%01u-1%011", device_b)
    assert segment["sid"] in served["segments"]
    assert _over(served, rule["mergeRuleId"]) == ["device", "authenticated"]


def test_an_import_creates_merge_rules_before_the_segments_that_name_them(
    admin: Admin, sources: dict[str, int]
) -> None:
    rule = {"mergeRuleId": 40, "name": "imported", "crossDeviceDataSources": [sources["crm"]]}
    segment = {"sid": 7999, "name": "imported", "segmentRule": "1001T", "mergeRuleId": 40}
    lines = [json.dumps({"kind": "segment", "object": segment}),  # out of order on purpose
             json.dumps({"kind": "mergerule", "object": rule})]
    response = admin.client.http.post("/v1/catalog/import", body="\n".join(lines), headers={
        "Authorization": f"Bearer {support.TOKEN}", "Content-Type": "application/x-ndjson"})
    answer = json.loads(response.body)
    assert response.status_code == 200 and answer["written"] == 2, answer
    assert admin.get("/v1/segments/7999").json["mergeRuleId"] == 40
    exported = admin.client.http.get("/v1/catalog/export?kind=mergerule", headers={
        "Authorization": f"Bearer {support.TOKEN}"}).body.decode()
    assert '"kind":"mergerule"' in exported and '"mergeRuleId":40' in exported


def test_an_import_cannot_pass_the_ten_merge_rule_cap(
    admin: Admin, sources: dict[str, int]
) -> None:
    """The cap counts the rules this request creates too (identity.md 3: at most 10)."""
    stored = admin.client.http.get("/v1/mergerules", headers={
        "Authorization": f"Bearer {support.TOKEN}"})
    already = len(json.loads(stored.body)["items"])
    lines = [json.dumps({"kind": "mergerule", "object": {
        "mergeRuleId": 60 + n, "name": f"bulk {n}", "crossDeviceDataSources": [sources["crm"]]}})
        for n in range(11 - already)]
    response = admin.client.http.post("/v1/catalog/import", body="\n".join(lines), headers={
        "Authorization": f"Bearer {support.TOKEN}", "Content-Type": "application/x-ndjson"})
    answer = json.loads(response.body)
    assert response.status_code != 200 or answer["written"] < len(lines), answer
    listed = admin.client.http.get("/v1/mergerules", headers={
        "Authorization": f"Bearer {support.TOKEN}"})
    assert len(json.loads(listed.body)["items"]) <= 10, listed.body
