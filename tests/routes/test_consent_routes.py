"""TCF consent on /event and /ibs (dcs-protocol.md 7, provider-contract.md 6), with real TC
strings built by the test encoder."""

from __future__ import annotations

import json
from typing import Any, Iterator
from urllib.parse import quote

import boto3
import pytest

from chalicelib.store.catalog import CatalogRepository
from devtools.provider_sim import ProviderSimulator
from tests.tcf_encoder import encode_tc_string

RTDCS_VENDOR = 4242
FAST_VENDOR = 111  # FastData's iabVendorId in these tests; SlowData has none
PARTNER = 9001


@pytest.fixture
def consent_env(monkeypatch: pytest.MonkeyPatch, tables: dict[str, str]) -> Iterator[None]:
    monkeypatch.setenv("RTDCS_TCF_VENDOR_ID", str(RTDCS_VENDOR))
    repository = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
    fast = next(p for p in repository.list_kind("provider") if p["pid"] == 1)
    repository.put("provider", 1, {**fast, "iabVendorId": FAST_VENDOR})
    repository.put("datasource", PARTNER, {
        "dataSourceId": PARTNER, "name": "Partner", "idType": "COOKIE",
        "iabVendorId": FAST_VENDOR, "syncRedirectDomains": ["sync.example"]})
    repository.bump_version()
    yield


def _tc(vendors: tuple[int, ...] = (RTDCS_VENDOR, FAST_VENDOR),
        purposes: tuple[int, ...] = (1, 3, 4), **changes: Any) -> str:
    return encode_tc_string(vendor_consents=vendors, purposes_consent=purposes, **changes)


def _get(client: Any, query: str) -> tuple[Any, dict[str, Any]]:
    response = client.http.get("/event?d_rtbd=json&d_cts=1&" + query)
    assert response.status_code == 200
    return response, json.loads(response.body)


def _codes(body: dict[str, Any]) -> list[int]:
    return [e["code"] for e in body.get("errors", [])]


def test_consent_for_rtdcs_and_one_provider(
    client: Any, consent_env: None, simulator: ProviderSimulator, profiles_table: Any
) -> None:
    tc = _tc()
    response, body = _get(client, f"gdpr=1&gdpr_consent={tc}")
    assert _codes(body) == [] and len(body["uuid"]) == 38
    assert 5002 in body["segments"]  # FastData has consent
    assert 5004 not in body["segments"]  # SlowData has no iabVendorId: never called with gdpr=1
    assert 'desc="SlowData: skipped"' in response.headers["Server-Timing"]
    sent = simulator.state.requests["fast"][-1]["body"]
    assert sent["gdpr"] == 1 and sent["gdpr_consent"] == tc
    assert "slow" not in simulator.state.requests


def test_provider_without_vendor_consent_is_not_called(
    client: Any, consent_env: None, simulator: ProviderSimulator
) -> None:
    _, body = _get(client, f"gdpr=1&gdpr_consent={_tc(vendors=(RTDCS_VENDOR,))}")
    assert _codes(body) == [] and 5002 not in body["segments"]
    assert simulator.calls().get("fast", 0) == 0


@pytest.mark.parametrize(
    ("consent", "code"),
    [
        ("", 315),
        ("not-a-tc-string", 315),
        (_tc(vendors=(FAST_VENDOR,)), 315),  # no consent for rtdcs itself
        (_tc(purposes=(1,)), 315),  # neither purpose 3 nor 4
        (_tc(tcf_policy_version=3), 315),
    ],
)
def test_no_consent_stops_the_request(
    client: Any, consent_env: None, profiles_table: Any, simulator: ProviderSimulator,
    consent: str, code: int,
) -> None:
    response, body = _get(client, f"gdpr=1&gdpr_consent={quote(consent)}&c_section=sports")
    assert _codes(body) == [code] and "uuid" not in body and "segments" not in body
    assert "Set-Cookie" not in response.headers
    assert profiles_table.scan()["Items"] == [] and sum(simulator.calls().values()) == 0


def test_cmp_allow_list(client: Any, consent_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTDCS_TCF_CMP_ALLOWLIST", "10,-28")
    assert _codes(_get(client, f"gdpr=1&gdpr_consent={_tc(cmp_id=10)}")[1]) == []
    assert _codes(_get(client, f"gdpr=1&gdpr_consent={_tc(cmp_id=28)}")[1]) == [314]
    assert _codes(_get(client, f"gdpr=1&gdpr_consent={_tc(cmp_id=99)}")[1]) == [313]


def test_gdpr_zero_ignores_the_string(
    client: Any, consent_env: None, simulator: ProviderSimulator
) -> None:
    _, body = _get(client, "gdpr=0&gdpr_consent=garbage")
    assert _codes(body) == [] and 5004 in body["segments"]
    sent = simulator.state.requests["fast"][-1]["body"]
    assert sent["gdpr"] == 0 and "gdpr_consent" not in sent


def test_consent_change_invalidates_cached_answers(
    client: Any, consent_env: None, tables: dict[str, str], simulator: ProviderSimulator
) -> None:
    repository = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
    fast = next(p for p in repository.list_kind("provider") if p["pid"] == 1)
    repository.put("provider", 1, {**fast, "cacheTtlSeconds": 600})
    repository.bump_version()
    first_tc, second_tc = _tc(), _tc(purposes=(1, 3))
    uuid = _get(client, f"gdpr=1&gdpr_consent={first_tc}")[1]["uuid"]
    cookie = {"Cookie": f"rtdcs_uuid={uuid}"}
    client.http.get(f"/event?d_rtbd=json&gdpr=1&gdpr_consent={first_tc}", headers=cookie)
    assert simulator.calls()["fast"] == 1  # the repeat visitor was served from the cache
    client.http.get(f"/event?d_rtbd=json&gdpr=1&gdpr_consent={second_tc}", headers=cookie)
    assert simulator.calls()["fast"] == 2  # a new consent string: called again


def test_ibs_needs_the_partner_gate_and_fills_consent_macros(
    client: Any, consent_env: None
) -> None:
    tc = _tc()
    redir = quote("https://sync.example/r?u=${DD_UUID}&g=${GDPR}&c=${GDPR_CONSENT_111}", safe="")
    ok = client.http.get(f"/ibs?dpid={PARTNER}&dpuuid=p1&gdpr=1&gdpr_consent={tc}&redir={redir}")
    assert ok.status_code == 302
    assert ok.headers["Location"].endswith(f"&g=1&c={tc}")
    refused = client.http.get(
        f"/ibs?dpid={PARTNER}&dpuuid=p1&gdpr=1&gdpr_consent={_tc(vendors=(RTDCS_VENDOR,))}"
        f"&redir={redir}")
    assert refused.status_code == 200 and refused.headers["X-Error"] == "315"
    assert "Set-Cookie" not in refused.headers


def test_precise_geo_needs_special_feature_1(client: Any, consent_env: None,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    geo = {"CloudFront-Viewer-Latitude": "48.85", "CloudFront-Viewer-Country": "FR"}
    client.http.get(f"/event?d_rtbd=json&gdpr=1&gdpr_consent={_tc()}", headers=geo)
    without = capsys.readouterr().out  # the local stage logs every event's signals
    client.http.get(f"/event?d_rtbd=json&gdpr=1&gdpr_consent="
                    f"{_tc(special_feature_opt_ins=(1,))}", headers=geo)
    logged = capsys.readouterr().out
    assert "d_lat" not in without and "d_country" in without
    assert "d_lat" in logged and "48.85" in logged
