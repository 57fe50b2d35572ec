"""The API's side of remote reports: a function that cannot be called or fails is a clear
503/502, never a 500 or a silent empty report."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.admin.errors import ApiError
from chalicelib.insight.remote import RemoteReports, answer

FUNCTION = "rtdcs-test-insight_reports"


def _client() -> tuple[object, Stubber]:
    client = boto3.client("lambda", region_name="us-east-1")
    return client, Stubber(client)


def test_an_unreachable_function_is_503() -> None:
    client, stub = _client()
    stub.add_client_error("invoke", "TooManyRequestsException", http_status_code=429)
    with stub, pytest.raises(ApiError) as caught:
        RemoteReports(client, FUNCTION)("populations", {"kind": "trait", "ids": "1"})
    assert caught.value.status == 503 and caught.value.code == "insight_unavailable"


def test_a_failing_function_is_502() -> None:
    client, stub = _client()
    stub.add_response("invoke", {"StatusCode": 200, "FunctionError": "Unhandled",
                                 "Payload": io.BytesIO(b'{"errorMessage": "boom"}')})
    with stub, pytest.raises(ApiError) as caught:
        RemoteReports(client, FUNCTION)("trend", {"kind": "segment", "id": "5"})
    assert caught.value.status == 502 and caught.value.code == "insight_failed"


def test_the_functions_error_comes_back_whole() -> None:
    client, stub = _client()
    error = {"status": 404, "code": "not_found", "message": "unknown", "ids": [7]}
    stub.add_response("invoke", {"StatusCode": 200,
                                 "Payload": io.BytesIO(json.dumps({"error": error}).encode())})
    with stub, pytest.raises(ApiError) as caught:
        RemoteReports(client, FUNCTION)("populations", {"kind": "trait", "ids": "7"})
    assert (caught.value.status, caught.value.code, caught.value.extra) == (404, "not_found",
                                                                            {"ids": [7]})


def test_the_function_refuses_what_is_not_a_report() -> None:
    assert answer(object(), {"report": "secrets", "query": {}})["error"]["status"] == 404
    assert answer(object(), {"report": "trend", "query": {"days": 3}})["error"]["status"] == 400
