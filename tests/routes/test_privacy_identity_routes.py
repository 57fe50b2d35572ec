"""Declared IDs, /ibs, opt-out and storage throttling (dcs-protocol.md 4.2, 4.3, 5, 6, 4.7)."""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.store.catalog import CatalogRepository
from devtools.provider_sim import ProviderSimulator
from tests.ddb_hooks import WRITES, dynamodb_calls, dynamodb_hook

UUID_RE = re.compile(r"^[0-9]{38}$")
CRM = 77  # a CROSS_DEVICE data source added by the fixture
PARTNER = 9001  # a sync partner (COOKIE)


@pytest.fixture
def extra_sources(tables: dict[str, str]) -> Iterator[None]:
    repository = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
    repository.put("datasource", CRM, {"dataSourceId": CRM, "name": "CRM", "idType": "CROSS_DEVICE",
                                        "integrationCode": "crm"})
    repository.put("datasource", PARTNER, {
        "dataSourceId": PARTNER, "name": "Partner", "idType": "COOKIE",
        "syncRedirectDomains": ["*.partner.example", "sync.example"]})
    repository.bump_version()
    yield


def _json(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.status_code
    return json.loads(response.body)


def _codes(body: dict[str, Any]) -> list[int]:
    return [e["code"] for e in body.get("errors", [])]


def _cookie(response: Any, name: str) -> str | None:
    header = response.headers.get("Set-Cookie", "")
    for part in header.split(", ") if isinstance(header, str) else header:
        match = re.match(rf"{name}=([^;]*)", part)
        if match:
            return match.group(1)
    return None


def _set_cookies(response: Any) -> str:
    return str(response.headers.get("Set-Cookie", ""))


# -- declared IDs ---------------------------------------------------------------------------

def test_declared_id_links_and_identifies_a_new_device(client: Any, extra_sources: None) -> None:
    first = _json(client.http.get(f"/event?d_rtbd=json&d_cid={CRM}%01user-1%011"))
    assert UUID_RE.match(first["uuid"]) and "errors" not in first
    # Another device (no cookie) declaring the same ID resolves to the same UUID.
    second = _json(client.http.get("/event?d_rtbd=json&d_cid_ic=crm%01user-1"))
    assert second["uuid"] == first["uuid"]


def test_cookie_wins_over_declared_id(client: Any, extra_sources: None) -> None:
    linked = _json(client.http.get(f"/event?d_rtbd=json&d_cid={CRM}%01u2"))["uuid"]
    other = "1" * 38
    body = _json(client.http.get(f"/event?d_rtbd=json&d_cid={CRM}%01u2",
                                 headers={"Cookie": f"rtdcs_uuid={other}"}))
    assert body["uuid"] == other != linked
    # ... and the ID is now linked to the cookie's UUID, the most recent link.
    assert _json(client.http.get(f"/event?d_rtbd=json&d_cid={CRM}%01u2"))["uuid"] == other


def test_declared_id_is_stored_on_the_profile(
    client: Any, extra_sources: None, profiles_table: Any
) -> None:
    body = _json(client.http.get(f"/event?d_rtbd=json&d_cid={CRM}%01u3"))
    item = profiles_table.get_item(Key={"uuid": body["uuid"]})["Item"]
    assert item[f"i{CRM}"] == "u3"


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        (f"d_cid={CRM}u3", [300, 104]),  # no separator
        ("d_cid=abc%01u3", [300, 104]),  # non-integer DPID
        ("d_cid=555%01u3", [300, 104]),  # unconfigured DPID
        (f"d_cid={CRM}%01null", [300, 104]),  # forbidden DPUUID
        (f"d_cid={CRM}%01a:b", [300, 104]),
        (f"d_cid={CRM}%01%24%7BUSER%7D", [300, 104]),  # unexpanded macro ${USER}
        ("d_cid=900%01u3", [302, 104]),  # COOKIE data source
        ("d_cid=20915%01abcdef01-0000-0000-0000-000000000000", [312, 104]),  # IDFA lower case
        ("d_dpid=77", [300]),  # half a legacy pair
        ("d_cid_ic=nope%01u3", [300, 104]),
    ],
)
def test_invalid_declared_ids(client: Any, extra_sources: None, query: str, codes: list[int]) -> None:
    body = _json(client.http.get(f"/event?d_rtbd=json&{query}"))
    assert _codes(body) == codes and UUID_RE.match(body["uuid"])


def test_declared_id_limits(client: Any, extra_sources: None) -> None:
    per_dpid = "&".join(f"d_cid={CRM}%01p{i}" for i in range(4))
    assert _codes(_json(client.http.get(f"/event?d_rtbd=json&{per_dpid}"))) == [310]
    gaid = [f"d_cid=20914%01{i:08x}-0000-4000-8000-000000000001" for i in range(1, 4)]
    idfa = [f"d_cid=20915%01{i:08X}-0000-4000-8000-000000000001" for i in range(1, 4)]
    crm = [f"d_cid={CRM}%01q{i}" for i in range(3)]
    rida = [f"d_cid=121963%01{i:08x}-0000-4000-8000-000000000002" for i in range(1, 4)]
    twelve = "&".join(gaid + idfa + crm + rida)
    assert _codes(_json(client.http.get(f"/event?d_rtbd=json&{twelve}"))) == [301, 309, 309]


def test_declared_ids_cost_one_read_and_one_write_on_the_id_map(
    client: Any, extra_sources: None
) -> None:
    client.http.get("/healthz")
    with dynamodb_calls() as calls:
        client.http.get(f"/event?d_rtbd=json&d_cid={CRM}%01c1&d_cid_ic=crm%01c2")
    assert calls == ["BatchGetItem", "TransactWriteItems", "PutItem"]


# -- opt-out ---------------------------------------------------------------------------------

def test_global_opt_out_sets_notarget_and_opts_out_the_cookie_uuid(
    client: Any, simulator: ProviderSimulator, profiles_table: Any
) -> None:
    uuid = _json(client.http.get("/event?d_rtbd=json&c_section=sports"))["uuid"]
    response = client.http.get("/demoptout.jpg", headers={"Cookie": f"rtdcs_uuid={uuid}",
                                                          "Accept": "image/*"})
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/gif"
    cookies = _set_cookies(response)
    assert "rtdcs_uuid=NOTARGET" in cookies and "rtdcs_sync=NOTARGET" in cookies
    assert "Max-Age=315360000" in cookies
    assert profiles_table.get_item(Key={"uuid": uuid})["Item"].keys() == {"uuid", "optout"}
    # The UUID itself is opted out too, even without the NOTARGET cookie (e.g. d_uuid).
    body = _json(client.http.get(f"/event?d_rtbd=json&d_uuid={uuid}"))
    assert _codes(body) == [171] and "uuid" not in body


def test_opted_out_visitor_100_events_no_write_no_provider_call(
    client: Any, simulator: ProviderSimulator
) -> None:
    uuid = _json(client.http.get("/event?d_rtbd=json"))["uuid"]
    client.http.get(f"/demoptout?d_uuid={uuid}")
    calls_before = sum(simulator.calls().values())
    with dynamodb_calls() as calls:
        for index in range(100):
            response = client.http.get(f"/event?d_rtbd=json&d_cts=1&c_section=s{index}",
                                       headers={"Cookie": f"rtdcs_uuid={uuid}"})
            body = _json(response)
            assert _codes(body) == [171] and "uuid" not in body and "segments" not in body
            assert "Set-Cookie" not in response.headers
    assert sum(c in WRITES for c in calls) == 0
    assert sum(simulator.calls().values()) == calls_before


def test_partner_opt_out_by_declared_id(client: Any, extra_sources: None) -> None:
    uuid = _json(client.http.get(f"/event?d_rtbd=json&d_cid={CRM}%01gone"))["uuid"]
    response = client.http.get(f"/demoptout?d_cid={CRM}%01gone")
    assert "Set-Cookie" not in response.headers  # partner-level: no cookie
    by_id = _json(client.http.get(f"/event?d_rtbd=json&d_cid={CRM}%01gone"))
    assert _codes(by_id) == [171]
    by_uuid = _json(client.http.get("/event?d_rtbd=json", headers={"Cookie": f"rtdcs_uuid={uuid}"}))
    assert _codes(by_uuid) == [171]


def test_invalid_d_uuid_on_opt_out_falls_through_to_global(client: Any) -> None:
    response = client.http.get("/demoptout?d_uuid=12")
    assert response.headers["X-Error"] == "102" and "NOTARGET" in _set_cookies(response)


# -- /ibs ------------------------------------------------------------------------------------

def test_ibs_links_sets_cookies_and_redirects_with_uuid(
    client: Any, extra_sources: None, profiles_table: Any
) -> None:
    response = client.http.get(
        f"/ibs?dpid={PARTNER}&dpuuid=px-1&redir=https%3A%2F%2Fa.partner.example%2Fs%3Fu%3D%24%7BDD_UUID%7D")
    assert response.status_code == 302
    uuid = _cookie(response, "rtdcs_uuid")
    assert uuid and UUID_RE.match(uuid)
    assert response.headers["Location"] == f"https://a.partner.example/s?u={uuid}"
    sync = _cookie(response, "rtdcs_sync")
    assert sync and re.match(rf"^{PARTNER}-1-[0-9]{{13}}$", sync)
    assert profiles_table.get_item(Key={"uuid": uuid})["Item"][f"i{PARTNER}"] == "px-1"


@pytest.mark.parametrize(
    "redir",
    ["javascript:alert(1)", "http://a.partner.example/x", "https://evil.example/x",
     "https://partner.example.evil.example/", "//a.partner.example/x", "https://u:p@sync.example/",
     # browsers read "\\" as "/": the host is evil.example, not *.partner.example
     "https://evil.example\\.partner.example/", "https://sync.example/\r\nSet-Cookie: a=b",
     # a macro in the authority: expanded, the browser goes to evil.example with the UUID
     "https://sync.partner.example:${GDPR_CONSENT_1/}@evil.example/c?u=${DD_UUID}",
     "https://a.partner.example:${DD_UUID}@evil.example/", "https://:@a.partner.example/",
     "https://a.partner.example:80x/", "https://a.partner.example%2eevil.example/"],
)
def test_ibs_never_redirects_outside_the_allow_list(
    client: Any, extra_sources: None, redir: str
) -> None:
    from urllib.parse import quote

    response = client.http.get(f"/ibs?dpid={PARTNER}&dpuuid=px&redir={quote(redir, safe='')}",
                               headers={"Accept": "image/*"})
    assert response.status_code == 200 and "Location" not in response.headers
    assert response.headers["X-Error"] == "903"


def test_ibs_bad_ids_store_nothing(client: Any, extra_sources: None, profiles_table: Any) -> None:
    for query in ("dpid=555&dpuuid=x", f"dpid={PARTNER}&dpuuid=undefined", f"dpid={PARTNER}", ""):
        response = client.http.get(f"/ibs?{query}&redir=https%3A%2F%2Fsync.example%2F")
        assert response.status_code == 200 and response.headers["X-Error"] == "300"
        assert "Set-Cookie" not in response.headers
    assert profiles_table.scan()["Items"] == []


def test_ibs_keeps_existing_membership(client: Any, extra_sources: None, profiles_table: Any) -> None:
    uuid = _json(client.http.get("/event?d_rtbd=json&c_section=sports"))["uuid"]
    segments = profiles_table.get_item(Key={"uuid": uuid})["Item"]["segs"]
    client.http.get(f"/ibs?dpid={PARTNER}&dpuuid=keep", headers={"Cookie": f"rtdcs_uuid={uuid}"})
    item = profiles_table.get_item(Key={"uuid": uuid})["Item"]
    assert item["segs"] == segments and item[f"i{PARTNER}"] == "keep"


# -- throttling ------------------------------------------------------------------------------

def test_throttled_first_read_answers_429_and_applies_nothing(
    client: Any, profiles_table: Any
) -> None:
    uuid = _json(client.http.get("/event?d_rtbd=json&c_section=sports"))["uuid"]
    before = profiles_table.get_item(Key={"uuid": uuid})["Item"]

    def _throttle(model: Any, **_: Any) -> None:
        if model.name == "GetItem":
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                         "Message": "slow down"}}, "GetItem")

    with dynamodb_hook("before-call.dynamodb", _throttle):
        response = client.http.get("/event?d_rtbd=json&c_section=news",
                                   headers={"Cookie": f"rtdcs_uuid={uuid}"})
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert "Set-Cookie" not in response.headers
    assert profiles_table.get_item(Key={"uuid": uuid})["Item"] == before


@pytest.mark.parametrize("coppa", ["1", "true", "TRUE", "%201"])
def test_coppa_without_identity_is_stateless(client: Any, profiles_table: Any,
                                            simulator: ProviderSimulator, coppa: str) -> None:
    # "true" is what Adobe's Visitor API sends: read as "1" on every route (decisions.md).
    response = client.http.get(f"/event?d_rtbd=json&d_cts=1&d_coppa={coppa}&c_section=sports")
    body = _json(response)
    assert "uuid" not in body and 5001 in body["segments"]
    assert "Set-Cookie" not in response.headers
    assert profiles_table.scan()["Items"] == [] and sum(simulator.calls().values()) == 0


def test_opted_out_d_uuid_stops_the_event_even_with_a_valid_cookie(
    client: Any, simulator: ProviderSimulator, profiles_table: Any
) -> None:
    # dcs-protocol.md 4.4 step 7: a valid d_uuid is ignored for identity when a valid cookie
    # is present, but its opt-out still stops the request.
    gone = _json(client.http.get("/event?d_rtbd=json"))["uuid"]
    client.http.get(f"/demoptout?d_uuid={gone}")
    cookie_uuid = _json(client.http.get("/event?d_rtbd=json&c_section=x"))["uuid"]
    before = profiles_table.get_item(Key={"uuid": cookie_uuid})["Item"]
    calls_before = sum(simulator.calls().values())
    with dynamodb_calls() as calls:
        response = client.http.get(f"/event?d_rtbd=json&d_uuid={gone}&c_section=y",
                                   headers={"Cookie": f"rtdcs_uuid={cookie_uuid}"})
    body = _json(response)
    assert _codes(body) == [171] and "uuid" not in body
    assert gone in body["errors"][0]["msg"]
    assert "Set-Cookie" not in response.headers
    assert sum(c in WRITES for c in calls) == 0
    assert sum(simulator.calls().values()) == calls_before
    assert profiles_table.get_item(Key={"uuid": cookie_uuid})["Item"] == before


def test_a_d_uuid_that_is_not_opted_out_changes_nothing_beside_a_cookie(client: Any) -> None:
    other = _json(client.http.get("/event?d_rtbd=json"))["uuid"]
    cookie_uuid = _json(client.http.get("/event?d_rtbd=json"))["uuid"]
    body = _json(client.http.get(f"/event?d_rtbd=json&d_uuid={other}",
                                 headers={"Cookie": f"rtdcs_uuid={cookie_uuid}"}))
    assert body["uuid"] == cookie_uuid and "errors" not in body


def test_unreadable_opt_out_of_a_d_uuid_fails_closed(client: Any, profiles_table: Any) -> None:
    other = _json(client.http.get("/event?d_rtbd=json"))["uuid"]
    cookie_uuid = _json(client.http.get("/event?d_rtbd=json"))["uuid"]
    before = profiles_table.get_item(Key={"uuid": cookie_uuid})["Item"]

    def _fail_marker_read(params: dict[str, Any], **_: Any) -> None:
        if params.get("ProjectionExpression") == "optout":  # the API call's own parameters
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}},
                              "GetItem")

    with dynamodb_hook("before-parameter-build.dynamodb.GetItem", _fail_marker_read):
        body = _json(client.http.get(f"/event?d_rtbd=json&d_uuid={other}",
                                     headers={"Cookie": f"rtdcs_uuid={cookie_uuid}"}))
    assert _codes(body) == [204] and "uuid" not in body
    assert profiles_table.get_item(Key={"uuid": cookie_uuid})["Item"] == before


def test_a_throttled_opt_out_read_of_a_d_uuid_is_429(client: Any, profiles_table: Any) -> None:
    other = _json(client.http.get("/event?d_rtbd=json"))["uuid"]
    cookie_uuid = _json(client.http.get("/event?d_rtbd=json"))["uuid"]
    before = profiles_table.get_item(Key={"uuid": cookie_uuid})["Item"]

    def _throttle_marker_read(params: dict[str, Any], **_: Any) -> None:
        if params.get("ProjectionExpression") == "optout":
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                         "Message": "slow down"}}, "GetItem")

    with dynamodb_hook("before-parameter-build.dynamodb.GetItem", _throttle_marker_read):
        response = client.http.get(f"/event?d_rtbd=json&d_uuid={other}",
                                   headers={"Cookie": f"rtdcs_uuid={cookie_uuid}"})
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert profiles_table.get_item(Key={"uuid": cookie_uuid})["Item"] == before


def test_ibs_honours_a_partner_level_opt_out(
    client: Any, extra_sources: None, profiles_table: Any
) -> None:
    client.http.get(f"/demoptout?d_cid={CRM}%01gone-1")  # that ID opts out (partner level)
    response = client.http.get(f"/ibs?dpid={CRM}&dpuuid=gone-1", headers={"Accept": "image/*"})
    assert response.headers["X-Error"] == "171"
    assert "Set-Cookie" not in response.headers  # no UUID, no sync cookie: nothing linked
    assert profiles_table.scan()["Items"] == []
