"""``/id``, the ID service's direct call (identity.md 1), and ``d_mid`` in ``/event``'s identity
precedence (cookie -> d_uuid -> d_mid -> declared -> new)."""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import boto3
import pytest

from chalicelib.identity.blob import sign_blob
from chalicelib.store.catalog import CatalogRepository
from tests.ddb_hooks import WRITES, dynamodb_calls

ORG = "0123456789ABCDEF01234567@AdobeOrg"
SECRET = "id-route-test-secret"
CRM = 77  # a CROSS_DEVICE data source (integration code "crm")
SYNC_DS = 9001
UUID_RE = re.compile(r"^[0-9]{38}$")
VISITOR_QUERY = f"/id?d_visid_ver=5.5.0&d_fieldgroup=MC&d_rtbd=json&d_ver=2&d_orgid={ORG}&d_nsid=0"


@pytest.fixture
def identity_env(tables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RTDCS_IDENTITY_BLOB_SECRET", SECRET)
    repository = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
    repository.put("datasource", CRM, {"dataSourceId": CRM, "name": "CRM",
                                       "idType": "CROSS_DEVICE", "integrationCode": "crm"})
    repository.put("datasource", SYNC_DS, {
        "dataSourceId": SYNC_DS, "name": "Sync A", "idType": "COOKIE",
        "syncUrl": "https://sync.a.example/u?rt=${DD_UUID}"})
    repository.bump_version()
    yield


def _json(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, (response.status_code, response.body)
    body = json.loads(response.body)
    assert isinstance(body, dict)
    return body


def _codes(body: dict[str, Any]) -> list[int]:
    return [e["code"] for e in body.get("errors", [])]


def _cookie(response: Any) -> str | None:
    raw = response.headers.get("Set-Cookie")
    if not raw:
        return None
    match = re.search(r"rtdcs_uuid=([^;]+)", raw)
    return match.group(1) if match else None


def test_a_new_visitor_gets_a_mid_with_every_answer_field(client: Any, identity_env: None) -> None:
    response = client.http.get(VISITOR_QUERY)
    body = _json(response)
    mid = body["d_mid"]
    assert UUID_RE.match(mid) and mid.strip("0")
    assert body["id_sync_ttl"] == 604800 and body["d_ottl"] == 7200
    assert body["d_blob"] == sign_blob(SECRET, mid) and len(body["d_blob"]) <= 64
    assert body["dcs_region"] == 7 and body["tid"] and body["subdomain"] == ""
    assert "d_optout" not in body and _codes(body) == []
    assert _cookie(response) == mid  # the UUID cookie, as on /event
    assert response.headers["Content-Type"].startswith("application/json")
    # due syncs come as on /event
    assert [item["id"] for item in body["ibs"]] == [str(SYNC_DS)]
    assert body["ibs"][0]["url"] == [f"https://sync.a.example/u?rt={mid}"]


def test_the_mid_is_the_cookie_then_the_sent_d_mid(client: Any, identity_env: None) -> None:
    first = _json(client.http.get(VISITOR_QUERY))["d_mid"]
    again = client.http.get(VISITOR_QUERY, headers={"Cookie": f"rtdcs_uuid={first}"})
    assert _json(again)["d_mid"] == first and _cookie(again) == first
    sent = "1" * 38
    assert _json(client.http.get(f"{VISITOR_QUERY}&d_mid={sent}"))["d_mid"] == sent
    beaten = _json(client.http.get(f"{VISITOR_QUERY}&d_mid={sent}",
                                   headers={"Cookie": f"rtdcs_uuid={first}"}))
    assert beaten["d_mid"] == first
    bad = _json(client.http.get(f"{VISITOR_QUERY}&d_mid=12345"))
    assert _codes(bad) == [101] and bad["d_mid"] not in (first, sent, "12345")


def test_a_new_visitor_without_declared_ids_costs_no_dynamodb_call(
    client: Any, identity_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "3600")
    client.http.get(VISITOR_QUERY)  # warms the catalog
    with dynamodb_calls() as calls:
        client.http.get(VISITOR_QUERY)
        new_visitor = list(calls)
        calls.clear()
        client.http.get(f"{VISITOR_QUERY}&d_mid={'2' * 38}")
        known = list(calls)
    assert new_visitor == []
    assert known == ["GetItem"]  # the opt-out marker of a MID the client holds


def test_org_id_is_required(client: Any, identity_env: None) -> None:
    for query in ("/id?d_visid_ver=5.5.0&d_fieldgroup=MC&d_rtbd=json&d_ver=2", "/id"):
        response = client.http.get(query)
        body = _json(response)
        assert _codes(body) == [907] and "d_mid" not in body
        assert _cookie(response) is None and response.headers["X-Error"] == "907"


def test_opted_out_visitors_get_d_optout_and_nothing_else(
    client: Any, identity_env: None
) -> None:
    with dynamodb_calls() as calls:
        response = client.http.get(VISITOR_QUERY, headers={"Cookie": "rtdcs_uuid=NOTARGET"})
    body = _json(response)
    assert body["d_optout"] == ["global"] and body["d_ottl"] == 7200  # VisitorAPI.js's shape
    assert "d_mid" not in body and "d_blob" not in body and _codes(body) == [171]
    assert _cookie(response) is None and calls == []
    # a partner-level opt-out of the MID (by d_uuid) and of a declared ID
    mid = _json(client.http.get(VISITOR_QUERY))["d_mid"]
    client.http.get(f"/demoptout?d_uuid={mid}")
    with dynamodb_calls() as calls:
        response = client.http.get(VISITOR_QUERY, headers={"Cookie": f"rtdcs_uuid={mid}"})
    body = _json(response)
    assert body["d_optout"] == ["global"] and "d_mid" not in body
    assert _cookie(response) is None and not any(c in WRITES for c in calls)
    client.http.get(f"/demoptout?d_cid={CRM}%01gone")
    body = _json(client.http.get(f"{VISITOR_QUERY}&d_cid_ic=crm%01gone%011"))
    assert body["d_optout"] == ["global"] and "d_mid" not in body


def test_no_consent_no_mid_no_cookie(client: Any, identity_env: None) -> None:
    response = client.http.get(f"{VISITOR_QUERY}&gdpr=1&gdpr_consent=notastring")
    body = _json(response)
    assert 315 in _codes(body) and "d_mid" not in body and "d_optout" not in body
    assert _cookie(response) is None


def test_coppa_gives_a_mid_but_no_cookie_and_no_syncs(client: Any, identity_env: None) -> None:
    response = client.http.get(f"{VISITOR_QUERY}&d_coppa=true")
    body = _json(response)
    assert UUID_RE.match(body["d_mid"]) and "ibs" not in body and _cookie(response) is None


def test_cors_with_credentials_jsonp_and_post(client: Any, identity_env: None) -> None:
    origin = {"Origin": "https://pub.example",
              "Content-Type": "application/x-www-form-urlencoded"}  # as VisitorAPI.js sends
    response = client.http.get(VISITOR_QUERY, headers=origin)
    assert response.headers["Access-Control-Allow-Origin"] == "https://pub.example"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "d_mid" in _json(response)
    other = client.http.get(VISITOR_QUERY, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    callback = "s_c_il%5B0%5D._setMarketingCloudFields"  # VisitorAPI.js's JSONP callback
    jsonp = client.http.get(f"{VISITOR_QUERY}&d_cb={callback}")
    text = jsonp.body.decode()
    assert text.startswith("/**/s_c_il[0]._setMarketingCloudFields({") and text.endswith(");")
    assert jsonp.headers["Content-Type"].startswith("application/javascript")
    assert "d_mid" in json.loads(text[len("/**/s_c_il[0]._setMarketingCloudFields("):-2])
    bad = client.http.get(f"{VISITOR_QUERY}&d_cb=alert(1)")
    assert _codes(_json(bad)) == [901] and "d_mid" in _json(bad)
    posted = client.http.post("/id", body=VISITOR_QUERY.split("?", 1)[1],
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert UUID_RE.match(_json(posted)["d_mid"])
    refused = client.http.post("/id", body="{}", headers={"Content-Type": "application/json"})
    assert refused.status_code == 415
    assert client.http.options("/id", headers={"Origin": "https://pub.example"}).status_code == 204


def test_declared_ids_are_linked_with_their_auth_state(
    client: Any, identity_env: None, tables: dict[str, str]
) -> None:
    body = _json(client.http.get(f"{VISITOR_QUERY}&d_cid_ic=crm%01user-1%011"))
    mid = body["d_mid"]
    item = boto3.resource("dynamodb").Table(tables["idmap"]).get_item(
        Key={"pk": f"d#{CRM}#user-1"})["Item"]
    assert int(item[f"a{mid}"]) == 1 and int(item[f"u{mid}"]) > 0
    # /event on another device with the same declared ID resolves to the same MID
    event = _json(client.http.get(f"/event?d_rtbd=json&d_cid={CRM}%01user-1"))
    assert event["uuid"] == mid


def test_event_identity_precedence_with_d_mid(client: Any, identity_env: None) -> None:
    mid = _json(client.http.get(VISITOR_QUERY))["d_mid"]
    other = "3" * 38
    # d_mid alone: the event's uuid is the MID (DIL sends it on every event)
    assert _json(client.http.get(f"/event?d_rtbd=json&d_mid={mid}"))["uuid"] == mid
    # the cookie and d_uuid come first
    assert _json(client.http.get(f"/event?d_rtbd=json&d_mid={mid}",
                                 headers={"Cookie": f"rtdcs_uuid={other}"}))["uuid"] == other
    assert _json(client.http.get(f"/event?d_rtbd=json&d_mid={mid}&d_uuid={other}"))[
        "uuid"] == other
    # d_mid beats a declared ID's link
    linked = _json(client.http.get(f"/event?d_rtbd=json&d_cid={CRM}%01user-9"))["uuid"]
    assert linked != mid
    assert _json(client.http.get(f"/event?d_rtbd=json&d_mid={mid}&d_cid={CRM}%01user-9"))[
        "uuid"] == mid
    # an invalid d_mid is ignored (a new UUID); not 38 digits: 101
    zeros = _json(client.http.get("/event?d_rtbd=json&d_mid=" + "0" * 38))
    assert zeros["uuid"] != "0" * 38 and UUID_RE.match(zeros["uuid"])
    short = _json(client.http.get("/event?d_rtbd=json&d_mid=123"))
    assert _codes(short) == [101] and short["uuid"] not in (mid, "123")
