"""Replays, against the routes, the exact requests Adobe's own VisitorAPI.js 5.5.0 and DIL 9.5
made in Chromium (recorded by ``python -m devtools.adobe_id_service --record``; Adobe's files
are not in the repository): Visitor's ``/id`` calls (``d_fieldgroup=MC``, then ``AAM`` with
``d_mid``, ``d_blob`` and ``d_cid_ic=crm%01user-1%011``) and DIL's ``POST /event`` carrying
the MID as ``d_mid``. The answers must be what those clients read: status 200, JSON, CORS
with credentials for the page's origin, a MID, and the event's ``uuid`` equal to it; the
declared ID's link records auth state 1."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest

from chalicelib.store.catalog import CatalogRepository

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "identity" / "adobe_visitor_dil.json"
RECORDED = json.loads(FIXTURE.read_text(encoding="utf-8"))
ORIGIN = "http://www.pub.test"


@pytest.fixture
def recorded_setup(tables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As in the recorded run: the page's origin allowed, the CRM data source configured."""
    monkeypatch.setenv("RTDCS_CORS_ALLOWED_ORIGINS", ORIGIN)
    monkeypatch.setenv("RTDCS_IDENTITY_BLOB_SECRET", "replay-secret")
    repository = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
    repository.put("datasource", 77, {"dataSourceId": 77, "name": "CRM",
                                      "idType": "CROSS_DEVICE", "integrationCode": "crm"})
    repository.bump_version()
    yield


def _replay(client: Any, exchange: dict[str, Any]) -> Any:
    headers = dict(exchange["headers"])
    return client.http.request(exchange["method"], exchange["path"], headers=headers,
                               body=exchange["body"].encode("utf-8"))


def test_the_fixture_is_a_real_visitor_and_dil_run() -> None:
    exchanges = RECORDED["exchanges"]
    paths = [urllib.parse.urlsplit(e["path"]).path for e in exchanges]
    assert paths.count("/id") >= 1 and "/event" in paths
    assert all(e["host"].endswith(".demdex.net") for e in exchanges)
    first = urllib.parse.parse_qs(urllib.parse.urlsplit(exchanges[0]["path"]).query)
    assert first["d_visid_ver"] == ["5.5.0"] and first["d_fieldgroup"] == ["MC"]
    assert first["d_orgid"] == [RECORDED["org_id"]] and first["d_ver"] == ["2"]
    assert "d_dil_ver" in exchanges[paths.index("/event")]["path"]


def test_replayed_requests_get_what_visitor_and_dil_read(
    client: Any, recorded_setup: None, tables: dict[str, str]
) -> None:
    mid = RECORDED["visitor_mid"]
    for exchange in RECORDED["exchanges"]:
        response = _replay(client, exchange)
        path = urllib.parse.urlsplit(exchange["path"]).path
        assert response.status_code == exchange["status"] == 200, (path, response.body)
        # Visitor's XHR and DIL both need these to read the answer (withCredentials)
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        body = json.loads(response.body)
        assert "errors" not in body, body
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(exchange["path"]).query)
        form = urllib.parse.parse_qs(exchange["body"])
        if path == "/id":
            assert len(body["d_mid"]) == 38 and body["d_mid"].isdigit()
            assert body["id_sync_ttl"] == 604800 and body["d_ottl"] == 7200
            assert len(body["d_blob"]) == exchange["answer"]["d_blob_chars"]
            if "d_mid" in query:  # a MID the client holds is kept
                assert body["d_mid"] == query["d_mid"][0] == mid
        else:
            assert form["d_mid"] == [mid]
            assert body["uuid"] == mid == exchange["answer"]["uuid"]
    link = boto3.resource("dynamodb").Table(tables["idmap"]).get_item(
        Key={"pk": "d#77#user-1"})["Item"]
    assert int(link[f"u{mid}"]) > 0 and int(link[f"a{mid}"]) == 1  # authenticated
