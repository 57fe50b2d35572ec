"""One test per row of dcs-protocol.md section 10 that the pipeline emits, through /event.

Storage failures are injected through botocore's event system on the real client (a
before-call handler raising the service error), never by patching code.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.runtime import services
from chalicelib.store.catalog import CatalogRepository
from tests.ddb_hooks import dynamodb_hook

CRM = 77


def _json(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.status_code
    return json.loads(response.body)


def _codes(response: Any) -> list[int]:
    return [e["code"] for e in _json(response).get("errors", [])]


@pytest.fixture
def crm(tables: dict[str, str]) -> None:
    repository = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
    repository.put("datasource", CRM, {"dataSourceId": CRM, "name": "CRM",
                                        "idType": "CROSS_DEVICE", "integrationCode": "crm"})
    repository.bump_version()


@pytest.fixture
def fail_when() -> Iterator[Callable[[str, str], None]]:
    """fail_when(operation, table_fragment): that call raises a 500 InternalServerError."""
    rules: list[tuple[str, str]] = []

    def _maybe_fail(model: Any, params: dict[str, Any], **_: Any) -> None:
        tables = json.dumps(params.get("TableName") or params.get("RequestItems") or
                            params.get("TransactItems") or "", default=str)
        for operation, fragment in rules:
            if model.name == operation and fragment in tables:
                raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"},
                                   "ResponseMetadata": {"HTTPStatusCode": 500}}, operation)

    # before-parameter-build sees the API parameters (TableName, RequestItems, ...).
    with dynamodb_hook("before-parameter-build.dynamodb", _maybe_fail):
        yield lambda operation, fragment: rules.append((operation, fragment))


def test_0_unexpected_exception_is_200_with_error_0(client: Any) -> None:
    live = services.get_services()

    class _Broken:
        def handle(self, event: Any) -> Any:
            raise RuntimeError("bug")

    broken = copy.copy(live)
    broken.pipeline = _Broken()  # type: ignore[assignment]
    services.install(broken)
    try:
        response = client.http.get("/event?d_rtbd=json&c_x=1")
    finally:
        services.install(None)
    assert _codes(response) == [0] and "Set-Cookie" not in response.headers


def test_101_invalid_mid(client: Any) -> None:
    assert _codes(client.http.get("/event?d_rtbd=json&d_mid=123")) == [101]
    assert _codes(client.http.get("/event?d_rtbd=json&d_mid=" + "1" * 38)) == []


def test_102_invalid_uuid(client: Any) -> None:
    assert _codes(client.http.get("/event?d_rtbd=json&d_uuid=" + "0" * 38)) == [102]


def test_199_embargo_on_derived_country(client: Any, profiles_table: Any) -> None:
    blocked = client.http.get("/event?d_rtbd=json", headers={"CloudFront-Viewer-Country": "kp"})
    assert _codes(blocked) == [199] and "uuid" not in _json(blocked)
    # A caller-supplied d_country is a signal, not the embargo input.
    allowed = client.http.get("/event?d_rtbd=json&d_country=KP")
    assert _codes(allowed) == []
    assert len(profiles_table.scan()["Items"]) == 1


def test_202_id_map_read_failure_uses_next_source(client: Any, crm: None,
                                                   fail_when: Callable[[str, str], None]) -> None:
    fail_when("BatchGetItem", "idmap")
    body = _json(client.http.get(f"/event?d_rtbd=json&d_cid={CRM}%01x"))
    assert [e["code"] for e in body["errors"]] == [202] and len(body["uuid"]) == 38


def test_203_id_map_write_failure(client: Any, crm: None,
                                  fail_when: Callable[[str, str], None]) -> None:
    fail_when("UpdateItem", "idmap")
    assert _codes(client.http.get(f"/event?d_rtbd=json&d_cid={CRM}%01x")) == [203]


def test_204_profile_read_failure_fails_closed(client: Any,
                                               fail_when: Callable[[str, str], None]) -> None:
    uuid = _json(client.http.get("/event?d_rtbd=json"))["uuid"]
    fail_when("GetItem", "profiles")
    response = client.http.get("/event?d_rtbd=json", headers={"Cookie": f"rtdcs_uuid={uuid}"})
    assert _codes(response) == [204] and "uuid" not in _json(response)


def test_201_profile_write_failure(client: Any, fail_when: Callable[[str, str], None],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RTDCS_SPOOL_QUEUE_URL", raising=False)  # 201 only when nothing spools
    fail_when("PutItem", "profiles")
    body = _json(client.http.get("/event?d_rtbd=json&d_cts=1&c_section=sports"))
    assert 201 in [e["code"] for e in body["errors"]] and 5001 in body["segments"]


def test_205_configuration_unavailable(client: Any, tables: dict[str, str]) -> None:
    boto3.client("dynamodb").delete_table(TableName=tables["catalog"])
    body = _json(client.http.get("/event?d_rtbd=json&d_cts=1&c_section=sports"))
    assert [e["code"] for e in body["errors"]] == [205]
    assert body["traits"] == [] and body["segments"] == [] and body["stuff"] == []


def test_429_when_the_container_rate_is_exceeded(client: Any, profiles_table: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTDCS_RATE_MAX_PER_SECOND", "2")
    statuses = [client.http.get("/event?d_rtbd=json").status_code for _ in range(6)]
    assert statuses[:2] == [200, 200] and 429 in statuses
    limited = statuses.count(429)
    assert len(profiles_table.scan()["Items"]) == 6 - limited  # nothing written when limited


def test_d_tdpid_limits_realization(client: Any, crm: None) -> None:
    only_site = _json(client.http.get("/event?d_rtbd=json&d_cts=1&c_section=sports&d_tdpid=1"))
    assert only_site["traits"] == [1001]  # no provider traits (data sources 900/901)
    by_code = _json(client.http.get("/event?d_rtbd=json&d_cts=1&c_section=sports&d_tdpid_ic=crm"))
    assert by_code["traits"] == []
    unknown = _json(client.http.get("/event?d_rtbd=json&d_cts=1&c_section=sports&d_tdpid=x"))
    assert unknown["traits"] == []


def test_d_sid_realizes_only_onboarded_traits(client: Any) -> None:
    body = _json(client.http.get("/event?d_rtbd=json&d_cts=1&d_sid=2002,1001,999&d_sid=3001"))
    assert {2002, 3001} <= set(body["traits"]) and 1001 not in body["traits"]


def test_d_ptfm_app_gets_no_stuff(client: Any) -> None:
    body = _json(client.http.get("/event?d_rtbd=json&d_ptfm=ios&c_section=sports"))
    assert body["stuff"] == []


def test_d_dst_adds_dests_and_d_cts_absent_hides_traits(client: Any) -> None:
    body = _json(client.http.get("/event?d_rtbd=json&d_dst=1"))
    assert body["dests"] == [] and "traits" not in body and "segments" not in body


def test_expose_traits_off(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTDCS_EXPOSE_TRAITS", "false")
    assert "traits" not in _json(client.http.get("/event?d_rtbd=json&d_cts=2"))
