"""Helpers shared by the admin route tests (no tests of its own): an authenticated client
over ``chalice.test.Client`` and a view of the catalog table.

The ``tables``/``client`` fixtures of tests/routes/conftest.py give moto tables seeded with the
demo catalog through the store layer (so objects there have no createTime/updateTime)."""

from __future__ import annotations

import json
from typing import Any, Iterator

import boto3
import pytest

from chalicelib.store.catalog import CatalogRepository

TOKEN = "admin-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}


class Answer:
    def __init__(self, response: Any) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self.raw = response.body
        json_body = str(response.headers.get("Content-Type", "")).startswith("application/json")
        self.json: Any = json.loads(response.body) if response.body and json_body else None

    def error(self) -> dict[str, Any]:
        assert isinstance(self.json, dict) and "error" in self.json, (self.status, self.raw)
        return dict(self.json["error"])

    def __repr__(self) -> str:
        return f"<{self.status} {self.raw[:300]!r}>"


class Admin:
    """Admin API calls with the test token (or none / another, per call)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | str | None = None,
             headers: dict[str, str] | None = None, auth: bool = True) -> Answer:
        sent = {**(AUTH if auth else {}), **JSON, **(headers or {})}
        payload = raw if raw is not None else ("" if body is None else json.dumps(body))
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        return Answer(self.client.http.request(method, path, headers=sent, body=data))

    def get(self, path: str, **kw: Any) -> Answer:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return self.call("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Answer:
        return self.call("DELETE", path, **kw)

    def created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.post(path, body)
        assert answer.status == 201, answer
        return dict(answer.json)


@pytest.fixture
def admin(client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Admin]:
    monkeypatch.setenv("RTDCS_ADMIN_TOKEN", TOKEN)
    monkeypatch.delenv("RTDCS_ADMIN_TOKEN_PARAMETER", raising=False)
    yield Admin(client)


@pytest.fixture
def repo(tables: dict[str, str]) -> CatalogRepository:
    return CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))


# Valid bodies, one per resource, against the demo catalog (data source 1, traits 1001...).
RULE_TRAIT = {"name": "Tennis reader", "traitType": "RULE_BASED_TRAIT", "dataSourceId": 1,
              "traitRule": 'c_section == "tennis"'}
ONBOARDED_TRAIT = {"name": "Golfer", "traitType": "ON_BOARDED_TRAIT", "dataSourceId": 900,
                   "providerSegmentId": "golf"}
SEGMENT = {"name": "Tennis", "segmentRule": "1001T AND 1002T"}
DATASOURCE = {"name": "Partner X", "idType": "CROSS_DEVICE", "integrationCode": "px"}
PROVIDER = {"name": "Third", "dataSourceId": 1, "url": "https://rt.third.example/seg",
            "auth": {"type": "hmac", "secretRef": "ssm:/rtdcs/third"}}
ADS_DESTINATION = {"name": "Cookie 2", "destinationType": "ADS", "cookieName": "segs2",
                   "singleKey": "s"}
MAPPING = {"sid": 5005, "valueString": "bb"}
