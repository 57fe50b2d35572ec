"""GPP, us_privacy and Global Privacy Control on /event and /ibs (privacy-signals.md 3, issue 14).

With a US opt-out signal: the loopback providers get 0 calls, the answer has no ``ibs`` and no
``dests``, no S2S message is queued, and first-party rule-based segments still come back (5001:
``c_section=sports``); the same request without the signal calls the providers. The GPP strings
are IAB reference-decoder vectors (tests/fixtures/gpp/reference_decodes.json).
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterator
from urllib.parse import quote

import boto3
import pytest

from chalicelib.store.catalog import CatalogRepository
from devtools.provider_sim import ProviderSimulator, SimulatorClient
from tests.gpp_vectors import BY_ID

VECTORS = BY_ID
SALE_OPT_OUT = VECTORS["probe-usnat-sale-optout"]["gpp"]  # usnat SaleOptOut = 1
NO_OPT_OUT = VECTORS["probe-usnat-all-notices-no-optout"]["gpp"]  # every notice, no opt-out
SENSITIVE = VECTORS["probe-usnat-sensitive-cat6-consented"]["gpp"]  # transmitUfpd denied only
MALFORMED = next(r["gpp"] for r in VECTORS.values()
                 if not r["valid"] and r["gpp"] and r.get("error_stage") == "structure")
PARTNER_DS = 9100
SYNC_DS = 9001
DESTINATION = 60


@pytest.fixture
def destinations(tables: dict[str, str]) -> Iterator[None]:
    """A sync partner (ibs), a URL destination (dests) and an S2S destination on 5001."""
    repository = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
    repository.put("datasource", SYNC_DS, {
        "dataSourceId": SYNC_DS, "name": "Sync A", "idType": "COOKIE",
        "syncUrl": "https://sync.a.example/u?rt=${DD_UUID}&gpp=${GPP_STRING_9001}"
                   "&sid=${GPP_SID}"})
    repository.put("datasource", PARTNER_DS, {"dataSourceId": PARTNER_DS, "name": "Partner",
                                               "idType": "CROSS_DEVICE"})
    repository.put("destination", DESTINATION, {
        "destinationId": DESTINATION, "name": "Partner S2S", "destinationType": "S2S",
        "url": "https://partner.example/rt", "dataSourceId": PARTNER_DS})
    repository.put("mapping", 60, {"mappingId": 60, "destinationId": DESTINATION, "sid": 5001})
    repository.put("destination", 61, {
        "destinationId": 61, "name": "Pixel", "destinationType": "PUSH",
        "serializationEnabled": True, "delimiter": ",",
        "urlFormatString": "http://px.example/s?segs=%ALIAS%",
        "secureUrlFormatString": "https://px.example/s?segs=%ALIAS%"})
    repository.put("mapping", 62, {"mappingId": 62, "destinationId": 61, "sid": 5001,
                                   "traitAlias": "sports"})
    repository.bump_version()
    yield


def _drain_s2s() -> int:
    sqs = boto3.client("sqs")
    url = os.environ["RTDCS_S2S_QUEUE_URL"]
    count = 0
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=0).get("Messages", []):
        for message in batch:
            count += 1
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return count


def _event(client: Any, extra: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    query = (f"/event?d_rtbd=json&d_cts=1&d_dst=1&c_section=sports"
             f"&d_cid={PARTNER_DS}%01pu-1{extra}")
    response = client.http.get(query, headers=headers or {})
    assert response.status_code == 200
    return dict(json.loads(response.body))


def _codes(body: dict[str, Any]) -> list[int]:
    return [e["code"] for e in body.get("errors", [])]


OPT_OUTS = [
    pytest.param(f"&gpp={quote(SALE_OPT_OUT)}&gpp_sid=7", {}, 905, id="usnat-sale-opt-out"),
    pytest.param("", {"Sec-GPC": "1"}, 905, id="sec-gpc"),
    pytest.param("&us_privacy=1YYN", {}, 905, id="us_privacy-1YYN"),
    pytest.param(f"&gpp={quote(MALFORMED, safe='')}&gpp_sid=7", {}, 906, id="malformed-gpp"),
    pytest.param(f"&gpp={quote(NO_OPT_OUT)}&gpp_sid=7,8", {}, 906, id="listed-section-missing"),
    pytest.param("&us_privacy=1Y", {}, 906, id="malformed-us_privacy"),
]


@pytest.mark.parametrize(("extra", "headers", "code"), OPT_OUTS)
def test_an_opt_out_signal_keeps_only_first_party_work(
    client: Any, simulator: ProviderSimulator, destinations: None, extra: str,
    headers: dict[str, str], code: int,
) -> None:
    _drain_s2s()
    calls_before = sum(simulator.calls().values())
    body = _event(client, extra, headers)
    assert sum(simulator.calls().values()) == calls_before  # no provider called
    assert code in _codes(body)
    assert "ibs" not in body and body.get("dests", []) == []  # d_dst=1 keeps an empty list
    assert _drain_s2s() == 0
    assert 5001 in body["segments"] and body["uuid"]  # first party goes on
    assert 5002 not in body["segments"]  # FastData's onboarded trait was not realized


@pytest.mark.parametrize("extra", [f"&gpp={quote(NO_OPT_OUT)}&gpp_sid=7", "&us_privacy=1YNN",
                                   "&us_privacy=1---", ""])
def test_the_same_request_without_an_opt_out_calls_the_providers(
    client: Any, simulator: ProviderSimulator, destinations: None, extra: str
) -> None:
    _drain_s2s()
    calls_before = simulator.calls()
    body = _event(client, extra)
    calls = simulator.calls()
    assert calls["fast"] > calls_before.get("fast", 0)
    assert not {905, 906} & set(_codes(body))
    assert [i["id"] for i in body["ibs"]] == [str(SYNC_DS)] and body["dests"]
    assert _drain_s2s() == 1


def test_gpp_is_forwarded_to_providers_and_sync_macros(
    client: Any, simulator: ProviderSimulator, destinations: None
) -> None:
    body = _event(client, f"&gpp={quote(NO_OPT_OUT)}&gpp_sid=7")
    sent = SimulatorClient(simulator.url).requests()["fast"][-1]["body"]
    assert sent["GPP"] == NO_OPT_OUT and sent["GPP_SID"] == "7"
    url = body["ibs"][0]["url"][0]
    assert url.endswith(f"&gpp={quote(NO_OPT_OUT, safe='')}&sid=7")
    plain = _event(client, "")
    assert "GPP" not in SimulatorClient(simulator.url).requests()["fast"][-1]["body"]
    assert plain["ibs"][0]["url"][0].endswith("&gpp=&sid=")  # macros empty without gpp


def test_sensitive_data_denies_sharing_but_not_syncs(
    client: Any, simulator: ProviderSimulator, destinations: None
) -> None:
    """Prebid's transmitUfpd is denied and syncUser allowed for this vector: providers and S2S
    follow the first, ibs and dests the second."""
    _drain_s2s()
    calls_before = sum(simulator.calls().values())
    body = _event(client, f"&gpp={quote(SENSITIVE)}&gpp_sid=7")
    assert sum(simulator.calls().values()) == calls_before and _drain_s2s() == 0
    assert 905 in _codes(body) and body["ibs"] and body["dests"]


def test_gpc_can_be_ignored_by_configuration(
    client: Any, simulator: ProviderSimulator, destinations: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RTDCS_PRIVACY_GPC", "ignore")
    calls_before = sum(simulator.calls().values())
    body = _event(client, "", {"Sec-GPC": "1"})
    assert sum(simulator.calls().values()) > calls_before and 905 not in _codes(body)


def test_an_opt_out_signal_is_not_remembered(
    client: Any, simulator: ProviderSimulator, destinations: None
) -> None:
    first = _event(client, "&us_privacy=1YYN")
    calls_before = sum(simulator.calls().values())
    later = client.http.get("/event?d_rtbd=json&d_cts=1&c_section=sports",
                            headers={"Cookie": f"rtdcs_uuid={first['uuid']}"})
    assert later.status_code == 200 and sum(simulator.calls().values()) > calls_before


def test_ibs_with_an_opt_out_signal_neither_links_nor_redirects(
    client: Any, destinations: None, profiles_table: Any
) -> None:
    redir = quote("https://sync.a.example/back?u=${DD_UUID}", safe="")
    for signal, headers in ((f"&gpp={quote(SALE_OPT_OUT)}&gpp_sid=7", {}),
                            ("", {"Sec-GPC": "1"}), ("&us_privacy=1YYN", {})):
        response = client.http.get(f"/ibs?dpid={SYNC_DS}&dpuuid=sx-1&redir={redir}{signal}",
                                   headers=headers)
        assert response.status_code == 200, signal  # the GIF, no 302
        assert "Location" not in response.headers
        assert response.headers["X-Error"] == "905"
        assert "rtdcs_uuid" not in str(response.headers.get("Set-Cookie", ""))
    assert profiles_table.scan()["Count"] == 0  # nothing linked, nothing stored


def test_privacy_stats_count_outcomes_and_signals(
    client: Any, destinations: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RTDCS_ADMIN_TOKEN", "t" * 32)
    auth = {"Authorization": "Bearer " + "t" * 32}
    before = json.loads(client.http.get("/v1/stats/privacy", headers=auth).body)
    _event(client, "&us_privacy=1YYN")
    _event(client, "", {"Sec-GPC": "1"})
    _event(client, f"&gpp={quote(MALFORMED, safe='')}&gpp_sid=7")
    _event(client, "")
    after = json.loads(client.http.get("/v1/stats/privacy", headers=auth).body)

    def grew(section: str, key: str) -> int:
        return int(after[section].get(key, 0)) - int(before[section].get(key, 0))

    assert after["events"] - before["events"] == 4
    assert (grew("outcomes", "us_optout"), grew("outcomes", "invalid"),
            grew("outcomes", "pass")) == (2, 1, 1)
    assert (grew("signals", "us_privacy"), grew("signals", "gpc"), grew("signals", "gpp")) == (
        1, 1, 1)
    assert grew("suppressed", "share") == 3
