"""Property test (issue #3): thousands of generated /event and /ibs requests through the app.

Random keys, values, encodings (valid and broken), sizes, methods, content types and cookies.
Whatever arrives: no 5xx, no unhandled exception, a well-formed answer, and nothing stored
for a request that was rejected (311/902).
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ddb_hooks import WRITES, dynamodb_hook

EVENT_EXAMPLES = 3000
IBS_EXAMPLES = 2000
UUID_RE = re.compile(r"^[0-9]{38}$")
JSONP_RE = re.compile(r"^/\*\*/[A-Za-z_$][A-Za-z0-9_$.]{0,63}\((.*)\);$", re.S)

KEYS = st.sampled_from([
    "c_section", "c_x", "d_rtbd", "d_cb", "d_cts", "d_dst", "d_uuid", "d_cid", "d_cid_ic",
    "d_sid", "d_tdpid", "d_coppa", "d_mid", "d_ptfm", "gdpr", "p_secret", "h_referer", "dpid",
    "dpuuid", "redir", "d_dpid", "d_dpuuid", "k", "2024", "bad$key", "", "x" * 120,
])
RAW_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40
)
BROKEN = st.sampled_from(["%", "%z", "%zz", "%C3%28", "%00", "%FF", "%2", "%e9", "%%", "+%0"])
VALUES = st.one_of(
    RAW_TEXT.map(lambda v: quote(v, safe="")),  # properly encoded
    RAW_TEXT.map(lambda v: quote(v, safe=",\"'")),  # raw commas and quotes
    st.builds(lambda a, b: a + b, RAW_TEXT.map(lambda v: quote(v, safe="")), BROKEN),
    st.sampled_from(["json", "1", "2", "0", "rtdcs.cb", "1bad", "77%01u1", "20915%01x",
                     "1" * 38, "NOTARGET", "https%3A%2F%2Fsync.example%2F", "javascript:x"]),
    st.integers(min_value=0, max_value=9000).map(lambda n: "a" * n),  # sizes around limits
)
PAIRS = st.lists(st.tuples(KEYS, VALUES), max_size=12)
COOKIES = st.one_of(
    st.none(), st.just("rtdcs_uuid=NOTARGET"), st.just("rtdcs_uuid=" + "4" * 38),
    RAW_TEXT.map(lambda v: "rtdcs_uuid=" + quote(v, safe="")), st.just("garbage;;=;"),
)


@pytest.fixture(autouse=True)
def _no_real_time_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Provider calls are covered by their own tests; here they would only add latency."""
    monkeypatch.setenv("RTDCS_RT_BUDGET_MS", "0")


def _query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='$')}={v}" for k, v in pairs)


@pytest.fixture
def writes() -> Iterator[list[str]]:
    """DynamoDB write calls made while the test runs (cleared per example by the test)."""
    calls: list[str] = []

    def _record(model: Any, **_: Any) -> None:
        if model.name in WRITES:
            calls.append(model.name)

    with dynamodb_hook("before-call.dynamodb", _record):
        yield calls


def _check_response(response: Any, rtbd_json: bool) -> list[int]:
    assert response.status_code in (200, 302, 415, 429), response.status_code
    codes = [int(c) for c in response.headers.get("X-Error", "").split(",") if c]
    if response.status_code == 200 and rtbd_json:
        text = response.body.decode("utf-8")
        match = JSONP_RE.match(text)
        body = json.loads(match.group(1) if match else text)
        assert isinstance(body["dcs_region"], int) and len(body["tid"]) == 12
        assert isinstance(body["stuff"], list)
        assert "uuid" not in body or UUID_RE.match(body["uuid"])
        assert [e["code"] for e in body.get("errors", [])] == codes
    return codes


def _is_json(pairs: list[tuple[str, str]]) -> bool:
    for key, value in pairs:
        if key == "d_rtbd":
            return value == "json"
    return False


@settings(max_examples=EVENT_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(pairs=PAIRS, cookie=COOKIES, post=st.booleans(),
       content_type=st.sampled_from(["application/x-www-form-urlencoded", "text/plain",
                                     "application/json"]))
def test_generated_event_requests(
    client: Any, writes: list[str], pairs: list[tuple[str, str]], cookie: str | None,
    post: bool, content_type: str,
) -> None:
    headers = {"Accept": "image/*"}
    if cookie:
        headers["Cookie"] = cookie
    writes.clear()
    if post:
        headers["Content-Type"] = content_type
        response = client.http.post("/event", headers=headers, body=_query(pairs).encode())
    else:
        response = client.http.get("/event?" + _query(pairs), headers=headers)
    codes = _check_response(response, _is_json(pairs) and not (post and content_type ==
                                                                "application/json"))
    if {311, 902} & set(codes) or response.status_code in (415, 429):
        assert writes == []
        assert "Set-Cookie" not in response.headers
    callback = dict(pairs).get("d_cb")
    if callback and 901 in codes:
        assert callback.encode() not in response.body or callback in ("json",)


@settings(max_examples=IBS_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(pairs=PAIRS, cookie=COOKIES)
def test_generated_ibs_requests(
    client: Any, writes: list[str], pairs: list[tuple[str, str]], cookie: str | None
) -> None:
    headers = {"Accept": "image/*"}
    if cookie:
        headers["Cookie"] = cookie
    writes.clear()
    response = client.http.get("/ibs?" + _query(pairs), headers=headers)
    codes = _check_response(response, rtbd_json=False)
    if response.status_code == 302:
        location = response.headers["Location"]
        assert location.startswith("https://")  # never javascript:, data:, http: ...
    if codes and set(codes) & {300, 311, 312, 171, 902, 315, 205}:
        assert writes == []
        assert "Set-Cookie" not in response.headers
