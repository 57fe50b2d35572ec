"""The function URL / HTTP API front door (chalicelib/runtime/front_door.py) in front of the
real app: format 2.0 and ``$default``-route format 1.0 events reach the same views as the
REST API's, and answers carry cookies and binary bodies the way each format wants them."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from app import app, front_door
from chalicelib.runtime.front_door import RouteTable, v2_answer
from tests.routes.test_admin_support import TOKEN


def _v2(method: str, path: str, query: str = "", headers: dict[str, str] | None = None,
        cookies: list[str] | None = None, body: str | None = None,
        base64_body: bool = False) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"host": "abc.lambda-url.us-east-1.on.aws", "x-forwarded-proto": "https",
                    "user-agent": "pytest", **(headers or {})},
        "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.9", "userAgent": "pytest"},
                           "requestId": "r-1", "stage": "$default", "timeEpoch": 1},
        "isBase64Encoded": base64_body,
    }
    if cookies:
        event["cookies"] = cookies
    if body is not None:
        event["body"] = body
    return event


def _json(answer: dict[str, Any]) -> Any:
    return json.loads(answer["body"])


def _uuid_cookie(answer: dict[str, Any]) -> str:
    found = [c for c in answer.get("cookies", []) if c.startswith("rtdcs_uuid=")]
    assert len(found) == 1, answer
    return found[0].split(";")[0].split("=", 1)[1]


def test_a_function_url_event_is_served_with_its_cookies(tables: dict[str, str]) -> None:
    first = front_door(_v2("GET", "/event", "d_rtbd=json&d_cts=1&c_section=sports"), None)
    assert first["statusCode"] == 200, first
    assert "multiValueHeaders" not in first, "format 2.0 has no multi-value headers"
    body = _json(first)
    assert 5001 in body["segments"]
    uuid = _uuid_cookie(first)
    assert uuid == body["uuid"]
    assert not any(k.lower() == "set-cookie" for k in first["headers"]), first["headers"]

    # The cookie comes back in format 2.0's ``cookies``: the same visitor.
    again = front_door(_v2("GET", "/event", "d_rtbd=json&c_x=1",
                           cookies=[f"rtdcs_uuid={uuid}", "other=1"]), None)
    assert _json(again)["uuid"] == uuid


def test_repeated_query_keys_keep_every_value(tables: dict[str, str]) -> None:
    """rawQueryString is read, not format 2.0's comma-joined queryStringParameters: the
    first of a repeated control key wins (dcs-protocol.md), so ``d_rtbd`` stays ``json``."""
    answer = front_door(_v2("GET", "/event", "d_rtbd=json&d_rtbd=other&d_cts=1"
                                             "&c_section=sports"), None)
    assert answer["headers"]["Content-Type"].startswith("application/json"), answer
    assert 5001 in _json(answer)["segments"]


def test_a_base64_form_post_and_a_binary_gif_answer(tables: dict[str, str]) -> None:
    form = base64.b64encode(b"d_rtbd=json&d_cts=1&c_section=sports").decode()
    posted = front_door(_v2("POST", "/event", headers={
        "content-type": "application/x-www-form-urlencoded"}, body=form, base64_body=True), None)
    assert posted["statusCode"] == 200 and 5001 in _json(posted)["segments"], posted

    gif = front_door(_v2("GET", "/event", "c_section=sports",
                         headers={"accept": "image/*"}), None)
    assert gif["statusCode"] == 200 and gif["isBase64Encoded"] is True, gif
    assert base64.b64decode(gif["body"]).startswith(b"GIF89a")


def test_a_path_parameter_route_and_an_unknown_path(
    tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RTDCS_ADMIN_TOKEN", TOKEN)
    auth = {"authorization": f"Bearer {TOKEN}"}
    trait = front_door(_v2("GET", "/v1/traits/1001", headers=auth), None)
    assert trait["statusCode"] == 200 and _json(trait)["sid"] == 1001, trait
    export = front_door(_v2("GET", "/v1/catalog/version", headers=auth), None)
    assert export["statusCode"] == 200 and "version" in _json(export), export
    missing = front_door(_v2("GET", "/no/such/route"), None)
    assert missing["statusCode"] == 404 and "no route" in _json(missing)["Message"]
    wrong_method = front_door(_v2("DELETE", "/event"), None)
    assert wrong_method["statusCode"] == 405, wrong_method


def _http_api_v1(path: str, query: dict[str, list[str]]) -> dict[str, Any]:
    """HTTP API, payload format 1.0, one ``$default`` route: resource is ``$default``."""
    return {
        "version": "1.0", "resource": "$default", "path": path, "httpMethod": "GET",
        "headers": {"Host": "id.execute-api.us-east-1.amazonaws.com"},
        "multiValueHeaders": {"Host": ["id.execute-api.us-east-1.amazonaws.com"]},
        "queryStringParameters": {k: v[-1] for k, v in query.items()},
        "multiValueQueryStringParameters": query,
        "requestContext": {"resourcePath": "$default", "httpMethod": "GET", "path": path,
                           "stage": "$default", "identity": {"sourceIp": "203.0.113.9"}},
        "pathParameters": None, "stageVariables": None, "body": None, "isBase64Encoded": False,
    }


def test_an_http_api_default_route_event_finds_its_view(tables: dict[str, str]) -> None:
    answer = front_door(_http_api_v1("/event", {"d_rtbd": ["json"], "d_cts": ["1"],
                                                "c_section": ["sports"]}), None)
    assert answer["statusCode"] == 200 and 5001 in _json(answer)["segments"], answer
    assert "multiValueHeaders" in answer, "format 1.0 answers keep Chalice's shape"


def test_a_rest_event_passes_through_unchanged(tables: dict[str, str]) -> None:
    event = _http_api_v1("/event", {"d_rtbd": ["json"]})
    event["requestContext"]["resourcePath"] = event["resource"] = "/event"
    assert front_door(dict(event), None)["statusCode"] == app(event, None)["statusCode"] == 200


def test_literal_segments_win_over_parameters() -> None:
    table = RouteTable(["/v1/{collection}/{id}", "/v1/catalog/export", "/v1/{collection}"])
    assert table.match("/v1/catalog/export") == ("/v1/catalog/export", {})
    assert table.match("/v1/traits/7") == ("/v1/{collection}/{id}",
                                           {"collection": "traits", "id": "7"})
    assert table.match("/v1/traits%20x") == ("/v1/{collection}", {"collection": "traits x"})
    assert table.match("/v1//7") is None
    assert table.match("/v2/traits") is None


def test_v2_answers_move_set_cookie_into_cookies() -> None:
    answer = v2_answer({"statusCode": 200, "headers": {"Content-Type": "text/plain"},
                        "multiValueHeaders": {"Set-Cookie": ["a=1; Path=/", "b=2"],
                                              "Vary": ["Origin", "Cookie"]},
                        "body": "x"})
    assert answer == {"statusCode": 200, "body": "x", "isBase64Encoded": False,
                      "headers": {"Content-Type": "text/plain", "Vary": "Origin, Cookie"},
                      "cookies": ["a=1; Path=/", "b=2"]}
