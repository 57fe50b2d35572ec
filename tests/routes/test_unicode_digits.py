"""Numbers from outside are ASCII digits only (issue 13, defect 3): '²'.isdigit() is true but
int('²') fails, which answered 500 on the admin API and error 0 (the whole event dropped) on
the DCS routes. Each input below gets a clear answer instead."""

from __future__ import annotations

import json
from typing import Any

import pytest

SUPERSCRIPT_TWO = "%C2%B2"  # '²'
ARABIC_THREE = "%D9%A3"  # '٣'


def _errors(response: Any) -> list[int]:
    raw = response.headers.get("X-Error", "")
    return [int(code) for code in raw.split(",") if code.strip()]


@pytest.mark.parametrize("digit", [SUPERSCRIPT_TWO, ARABIC_THREE])
@pytest.mark.parametrize("query", [
    "d_sid={d}", "d_sid=1001,{d}", "d_nsid={d}", "d_tdpid={d}", "d_cid={d}%01abc",
    "d_cid=1{d}%01abc",
])
def test_event_parameters(client: Any, query: str, digit: str) -> None:
    response = client.http.get("/event?d_rtbd=json&c_section=sports&" + query.format(d=digit))
    assert response.status_code == 200
    assert 0 not in _errors(response)
    assert "uuid" in json.loads(response.body)  # the event was processed, not dropped


@pytest.mark.parametrize("path", [
    "/ibs?dpid={d}&dpuuid=x", "/ibs?d_cid={d}%01x", "/demoptout?d_cid={d}%01x",
    "/demoptout?dpid={d}&dpuuid=x",
])
def test_privacy_routes(client: Any, path: str) -> None:
    response = client.http.get(path.format(d=SUPERSCRIPT_TWO), headers={"Accept": "image/*"})
    assert response.status_code in (200, 302)
    assert 0 not in _errors(response)


ADMIN = {"Authorization": "Bearer test-token"}


@pytest.fixture
def admin(client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("RTDCS_ADMIN_TOKEN", "test-token")
    return client


@pytest.mark.parametrize("path,status", [
    ("/v1/traits/?page={d}", 400), ("/v1/traits/?pageSize={d}", 400),
    ("/v1/traits/{d}", 404), ("/v1/destinations/{d}/mappings", 404),
    ("/v1/profiles/by-id?dpid={d}&dpuuid=x", 400),
])
def test_admin_api(admin: Any, path: str, status: int) -> None:
    response = admin.http.get(path.format(d=SUPERSCRIPT_TWO), headers=ADMIN)
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"] == "application/json"
    assert "error" in json.loads(response.body)
