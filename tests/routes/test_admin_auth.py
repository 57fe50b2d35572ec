"""Admin API auth (admin-api.md, Auth): every /v1 route but the OpenAPI document needs the
bearer token; a refused call changes nothing; no token configured refuses everything."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import boto3
import pytest

from app import app
from chalicelib.admin.auth import AdminTokenSource, TokenUnavailable
from tests.routes import test_admin_support as support
from tests.routes.test_admin_support import (
    ADS_DESTINATION,
    DATASOURCE,
    MAPPING,
    PROVIDER,
    RULE_TRAIT,
    SEGMENT,
    TOKEN,
    Admin,
)

admin = support.admin  # fixture
repo = support.repo  # fixture

OPEN_PATHS = {"/v1/openapi.json"}
# A valid body per collection, so a refusal cannot be blamed on the body.
BODIES: dict[str, dict[str, Any]] = {
    "datasources": DATASOURCE,
    "traits": RULE_TRAIT,
    "segments": SEGMENT,
    "providers": PROVIDER,
    "destinations": ADS_DESTINATION,
    "mappings": MAPPING,
}


VISITOR = "0" * 37 + "1"  # a profile the read-route test creates (synced to data source 900)


REPORT_QUERIES = {"populations": "?kind=trait&ids=1001", "trend": "?kind=segment&id=5001",
                  "overlap": "?a=segment:5001&b=trait:1001", "datasources": ""}


def _concrete(path: str) -> str:
    """A route path with the demo catalog's ids (and the test visitor) filled in."""
    sid = "5001" if "/segments/" in path else "1001"
    if path.endswith("/profiles/by-id") or path.endswith("/profiles/authenticated"):
        return path + "?dpid=900&dpuuid=auth-test"
    if path.startswith("/v1/reports/"):  # docs/insight.md: each report's required query
        return path + REPORT_QUERIES[path.rsplit("/", 1)[1]]
    return (path.replace("{dataSourceId}", "1").replace("{pid}", "1")
            .replace("{destinationId}", "52").replace("{mappingId}", "1")
            .replace("{sid}", sid).replace("{uuid}", VISITOR).replace("{mergeRuleId}", "1"))


def _body_for(path: str) -> dict[str, Any]:
    parts = [p for p in path.split("/") if p and not p.startswith("{")]
    return BODIES.get(parts[-1], {})


def admin_routes() -> list[tuple[str, str]]:
    return sorted(
        (path, method)
        for path, methods in app.routes.items()
        if path.startswith("/v1/") and path not in OPEN_PATHS
        for method in methods
    )


def _table_items(tables: dict[str, str]) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(tables["catalog"])
    return sorted(table.scan()["Items"], key=lambda i: (i["pk"], i["sk"]))


def test_admin_routes_exist() -> None:
    paths = {p for p, _ in admin_routes()}
    for collection in ("datasources", "providers", "traits", "segments", "destinations"):
        assert f"/v1/{collection}" in paths
    assert "/v1/destinations/{destinationId}/mappings/{mappingId}" in paths
    assert {"/v1/catalog/version", "/v1/settings"} <= paths


WRONG_AUTHORIZATIONS = [
    None, "", "Bearer", "Bearer ", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}",
    "Bearer wrong", f"Token {TOKEN}", f"Bearer  {TOKEN} extra", f"Bearer {TOKEN.upper()}",
]


def test_every_admin_route_refuses_without_the_token_and_changes_nothing(
    admin: Admin, tables: dict[str, str]
) -> None:
    before = _table_items(tables)
    for authorization in WRONG_AUTHORIZATIONS:
        for path, method in admin_routes():
            headers = {} if authorization is None else {"Authorization": authorization}
            body = _body_for(path) if method in ("POST", "PUT") else None
            answer = admin.call(method, _concrete(path), body, headers=headers, auth=False)
            assert answer.status == 401, (authorization, method, path, answer)
            assert answer.error()["code"] == "unauthorized"
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert _table_items(tables) == before


def test_the_right_token_opens_every_read_route(admin: Admin, tables: dict[str, str]) -> None:
    import time
    from decimal import Decimal

    import boto3

    from chalicelib.store.profiles import auth_profile_key

    admin.client.http.get("/ibs?dpid=900&dpuuid=auth-test",
                          headers={"Cookie": f"rtdcs_uuid={VISITOR}"})
    boto3.resource("dynamodb").Table(tables["profiles"]).put_item(Item={  # a logged-in visitor
        "uuid": auth_profile_key(900, "auth-test"), "v": 1, "seen": Decimal(int(time.time()))})
    for path, method in admin_routes():
        if method == "GET":
            answer = admin.get(_concrete(path))
            assert answer.status == 200, (path, answer)


def test_scheme_is_case_insensitive(admin: Admin) -> None:
    answer = admin.get("/v1/traits", headers={"Authorization": f"bearer {TOKEN}"}, auth=False)
    assert answer.status == 200


@pytest.mark.parametrize("configured", [None, ""])
def test_no_token_configured_refuses_everything(
    admin: Admin, tables: dict[str, str], monkeypatch: pytest.MonkeyPatch, configured: str | None
) -> None:
    if configured is None:
        monkeypatch.delenv("RTDCS_ADMIN_TOKEN")
    else:
        monkeypatch.setenv("RTDCS_ADMIN_TOKEN", configured)
    before = _table_items(tables)
    for authorization in (f"Bearer {TOKEN}", "Bearer ", "Bearer x"):
        answer = admin.post("/v1/traits", RULE_TRAIT, headers={"Authorization": authorization},
                            auth=False)
        assert answer.status == 401, answer
        assert admin.get("/v1/settings").status == 401
    assert _table_items(tables) == before


def test_openapi_document_needs_no_token(admin: Admin) -> None:
    answer = admin.get("/v1/openapi.json", auth=False)
    assert answer.status == 200 and answer.json["openapi"].startswith("3.")


def test_a_bad_body_without_token_is_401_not_400(admin: Admin) -> None:
    answer = admin.post("/v1/traits", raw="{not json", auth=False)
    assert answer.status == 401


# ---- SSM parameter ----------------------------------------------------------------------


def _ssm_parameter(value: str) -> str:
    name = f"/rtdcs/test/admin-token-{uuid.uuid4().hex}"  # the token cache is per container
    boto3.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString")
    return name


def test_token_from_ssm_parameter_wins_over_env(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _ssm_parameter("from-ssm-token")
    monkeypatch.setenv("RTDCS_ADMIN_TOKEN_PARAMETER", name)
    bearer = {"Authorization": "Bearer from-ssm-token"}
    assert admin.get("/v1/settings", headers=bearer, auth=False).status == 200
    assert admin.get("/v1/settings").status == 401  # the env token no longer opens


def test_a_rotated_token_works_and_the_old_one_stops_within_the_refresh_interval(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/admin-api.md: rotation is why the check runs in the handler, so it must work."""
    name = _ssm_parameter("old-token")
    monkeypatch.setenv("RTDCS_ADMIN_TOKEN_PARAMETER", name)
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "0")  # no caching: the next call
    old = {"Authorization": "Bearer old-token"}
    new = {"Authorization": "Bearer new-token"}
    assert admin.get("/v1/settings", headers=old, auth=False).status == 200
    boto3.client("ssm").put_parameter(Name=name, Value="new-token", Type="SecureString",
                                      Overwrite=True)
    assert admin.get("/v1/settings", headers=new, auth=False).status == 200
    assert admin.get("/v1/settings", headers=old, auth=False).status == 401


def test_the_parameter_is_read_once_per_refresh_interval() -> None:
    ssm = _CountingSsm("one")
    now = [100.0]
    source = AdminTokenSource(lambda: ssm, env={"RTDCS_ADMIN_TOKEN_PARAMETER": "/p",
                                                "RTDCS_CATALOG_REFRESH_SECONDS": "5"},
                              clock=lambda: now[0])
    assert [source.token() for _ in range(10)] == ["one"] * 10 and ssm.calls == 1
    ssm.value = "two"
    now[0] += 4.9
    assert source.token() == "one"  # still inside the interval
    now[0] += 0.2
    assert source.token() == "two" and ssm.calls == 2


def test_unreadable_ssm_parameter_refuses_with_503_and_is_retried(
    admin: Admin, monkeypatch: pytest.MonkeyPatch, tables: dict[str, str]
) -> None:
    name = f"/rtdcs/test/missing-{uuid.uuid4().hex}"
    monkeypatch.setenv("RTDCS_ADMIN_TOKEN_PARAMETER", name)
    before = _table_items(tables)
    answer = admin.post("/v1/traits", RULE_TRAIT)
    assert answer.status == 503 and answer.error()["code"] == "auth_unavailable"
    assert _table_items(tables) == before
    boto3.client("ssm").put_parameter(Name=name, Value="late-token", Type="SecureString")
    bearer = {"Authorization": "Bearer late-token"}
    assert admin.get("/v1/settings", headers=bearer, auth=False).status == 200


class _CountingSsm:
    def __init__(self, value: str | None) -> None:
        self.value = value
        self.calls = 0
        self.lock = threading.Lock()

    def get_parameter(self, Name: str, WithDecryption: bool) -> dict[str, Any]:  # noqa: N803
        with self.lock:
            self.calls += 1
        assert WithDecryption is True
        if self.value is None:
            raise RuntimeError("AccessDenied")
        return {"Parameter": {"Name": Name, "Value": self.value}}


def test_token_source_reads_the_parameter_once_across_threads() -> None:
    ssm = _CountingSsm("s3cret")
    source = AdminTokenSource(lambda: ssm, env={"RTDCS_ADMIN_TOKEN_PARAMETER": "/p",
                                                "RTDCS_ADMIN_TOKEN": "env"})
    results: list[str | None] = []
    threads = [threading.Thread(target=lambda: results.append(source.token())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["s3cret"] * 8 and ssm.calls == 1


def test_token_source_env_only_and_failures() -> None:
    assert AdminTokenSource(lambda: None, env={"RTDCS_ADMIN_TOKEN": "t"}).token() == "t"
    assert AdminTokenSource(lambda: None, env={}).token() is None
    failing = _CountingSsm(None)
    source = AdminTokenSource(lambda: failing, env={"RTDCS_ADMIN_TOKEN_PARAMETER": "/p"})
    for _ in range(2):
        with pytest.raises(TokenUnavailable) as info:
            source.token()
        assert "s3cret" not in str(info.value)
    assert failing.calls == 2  # a failure is not cached
