"""Fuzz every numeric input of the public and admin routes (issue 13): 5,000 requests whose
numeric fields hold ASCII and non-ASCII digits, letters, whitespace and extremes. Not one may
answer 5xx, and no DCS answer may carry error 0 (an unexpected exception that drops the event).
Seeded, so a failure repeats."""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import quote

import pytest

REQUESTS = 5_000
SEED = 20261205

VALUES = [
    "1", "0", "007", "1001", "900", "4294967296", "9" * 40, "-1", "+1", "1.5", "1e3", "0x10",
    "²", "٣", "５", "߁", "१२", "Ⅻ", "½", "x", "abc", "", " ", "\t", "\u3000", " 1", "1 ",
    "1\n", "%", "NaN", "∞", "1,2", "１００１",
    # privacy strings (issue 14): GPP headers and sections, us_privacy, cut and mangled
    "DBABLA~CVVqAAAAAABA.QA", "DBABLA~CVVaAAAAAABA.QA", "DBABLA~", "DBAB", "D", "~~", "1YYN",
    "1YN", "1yNN", "DBABrw~CVVqAAAAAABA.QA~BUYAAABA.QA", "DBABMA~CPSG_8AP.%%", "7,8,7", "-1",
]
DCS_PATHS = [
    "/event?d_rtbd=json&d_sid={v}", "/event?d_rtbd=json&d_sid=1001,{v}", "/event?d_nsid={v}",
    "/event?d_rtbd=json&d_tdpid={v}", "/event?d_rtbd=json&d_cid={v}%01abc",
    "/event?d_rtbd=json&d_cts={v}", "/event?d_rtbd=json&d_dst={v}", "/event?d_jsonv={v}",
    "/event?d_rtbd=json&gdpr={v}", "/event?d_rtbd=json&d_coppa={v}",
    "/event?d_rtbd=json&c_n={v}&d_sid={v}", "/event?d_event=imp&d_src={v}",
    "/ibs?dpid={v}&dpuuid=x", "/ibs?d_cid={v}%01x", "/ibs?dpid=900&dpuuid={v}",
    "/demoptout?d_cid={v}%01x", "/demoptout?dpid={v}&dpuuid=x",
    "/event?d_rtbd=json&gpp={v}&gpp_sid={v}", "/event?d_rtbd=json&gpp={v}&gpp_sid=7",
    "/event?d_rtbd=json&us_privacy={v}", "/ibs?dpid=900&dpuuid=x&gpp={v}&gpp_sid={v}",
    "/demoptout?gpp={v}&gpp_sid={v}&us_privacy={v}",
]
ADMIN_PATHS = [
    "/v1/traits/?page={v}", "/v1/traits/?pageSize={v}", "/v1/traits/{v}",
    "/v1/segments/{v}", "/v1/destinations/{v}/mappings", "/v1/destinations/52/mappings/{v}",
    "/v1/profiles/by-id?dpid={v}&dpuuid=x", "/v1/profiles/{v}", "/v1/datasources/{v}",
]


def _is_json(body: bytes) -> bool:
    """An error a client can read (ours, or API Gateway's own for a path with no route)."""
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RTDCS_ADMIN_TOKEN", "fuzz-token")
    return "fuzz-token"


def test_numeric_fields_never_give_5xx_or_error_0(client: Any, token: str) -> None:
    rng = random.Random(SEED)
    failures: list[tuple[str, int, str]] = []
    for _ in range(REQUESTS):
        value = quote(rng.choice(VALUES), safe="")
        if rng.random() < 0.7:
            path = rng.choice(DCS_PATHS).format(v=value)
            response = client.http.get(path, headers={"Accept": "image/*"})
            errors = response.headers.get("X-Error", "").split(",")
            if response.status_code >= 500 or "0" in errors:
                failures.append((path, response.status_code, response.headers.get("X-Error")))
        else:
            path = rng.choice(ADMIN_PATHS).format(v=value)
            response = client.http.get(path, headers={"Authorization": f"Bearer {token}"})
            if response.status_code >= 500 or not _is_json(response.body):
                failures.append((path, response.status_code, response.body[:80]))
    assert failures == [], failures[:10]
