"""The OpenAPI document stays true: every /v1 route of the Chalice app is in it with the same
methods (and nothing else is), it is a valid OpenAPI 3.1 document, and real requests and
responses validate against its schemas."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from openapi_spec_validator import validate as validate_openapi

from app import app
from chalicelib.admin.openapi import document
from tests.routes import test_admin_support as support
from tests.routes.test_admin_support import (
    ADS_DESTINATION,
    DATASOURCE,
    MAPPING,
    ONBOARDED_TRAIT,
    PROVIDER,
    RULE_TRAIT,
    SEGMENT,
    Admin,
)

admin = support.admin  # fixture

_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _schema(name: str) -> Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{name}", "components": document()["components"]}
    return Draft202012Validator(root)


def test_every_v1_route_is_documented_with_its_methods() -> None:
    routes = {
        (path, method.lower())
        for path, methods in app.routes.items() if path.startswith("/v1")
        for method in methods
    }
    documented = {
        (path, method)
        for path, item in document()["paths"].items()
        for method in item if method in _METHODS
    }
    assert routes == documented
    assert len(routes) >= 33  # 6 resources x 5 operations + version, settings, openapi


def test_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    validate_openapi(doc)
    operation_ids = [op["operationId"] for item in doc["paths"].values()
                     for method, op in item.items() if method in _METHODS]
    assert len(operation_ids) == len(set(operation_ids))


def test_served_document_is_the_generated_one(admin: Admin) -> None:
    answer = admin.get("/v1/openapi.json", auth=False)
    assert answer.status == 200 and answer.json == document()


VALID_INPUTS = [
    ("TraitInput", RULE_TRAIT), ("TraitInput", ONBOARDED_TRAIT), ("SegmentInput", SEGMENT),
    ("DataSourceInput", DATASOURCE), ("ProviderInput", PROVIDER),
    ("DestinationInput", ADS_DESTINATION), ("MappingInput", MAPPING),
    ("DestinationInput", {"name": "Feed", "destinationType": "S2S", "url": "https://f.example",
                          "dataSourceId": 900, "auth": {"type": "oauth2", "clientId": "c",
                                                        "tokenUrl": "https://t.example",
                                                        "secretRef": "ssm:/x"}}),
    ("ProviderInput", {**PROVIDER, "auth": {"type": "bearer"}}),  # PUT keeps the stored ref
]
INVALID_INPUTS = [
    ("TraitInput", {**RULE_TRAIT, "colour": "red"}),
    ("TraitInput", {**RULE_TRAIT, "ttl": 3651}),
    ("TraitInput", {**RULE_TRAIT, "ttl": True}),
    ("TraitInput", {**RULE_TRAIT, "dataSourceId": "1"}),
    ("TraitInput", {k: v for k, v in RULE_TRAIT.items() if k != "name"}),
    ("SegmentInput", {**SEGMENT, "status": "on"}),
    ("ProviderInput", {**PROVIDER, "signals": ["p_income"]}),
    ("ProviderInput", {**PROVIDER, "auth": {"type": "basic", "secretRef": "env:X"}}),
    ("ProviderInput", {**PROVIDER, "timeoutMs": 5}),
    ("DestinationInput", {**ADS_DESTINATION, "cnameDomain": "x.example"}),
    ("DataSourceInput", {**DATASOURCE, "syncRedirectDomains": ["bad host"]}),
    ("MappingInput", {"valueString": "x"}),
]


@pytest.mark.parametrize("name,body", VALID_INPUTS)
def test_valid_request_bodies_match_the_schema(name: str, body: dict[str, Any]) -> None:
    _schema(name).validate(body)


@pytest.mark.parametrize("name,body", INVALID_INPUTS)
def test_bodies_the_api_refuses_for_their_shape_fail_the_schema(
    name: str, body: dict[str, Any]
) -> None:
    with pytest.raises(SchemaError):
        _schema(name).validate(body)


def test_real_responses_match_the_schemas(admin: Admin) -> None:
    checks: list[tuple[str, Any]] = []
    for collection, title, body in (
        ("/v1/datasources", "DataSource", DATASOURCE),
        ("/v1/traits", "Trait", RULE_TRAIT),
        ("/v1/segments", "Segment", SEGMENT),
        ("/v1/providers", "Provider", PROVIDER),
        ("/v1/destinations", "Destination", ADS_DESTINATION),
    ):
        created = admin.created(collection, body)
        checks.append((title, created))
        id_field = next(iter(created))
        checks.append((title, admin.get(f"{collection}/{created[id_field]}").json))
        checks.append((f"{title}List", admin.get(collection).json))  # demo objects included
        updated = admin.put(f"{collection}/{created[id_field]}", created)
        assert updated.status == 200, updated
        # A GET body is a valid PUT body.
        _schema(f"{title}Input").validate(created)
        checks.append((title, updated.json))
    checks.append(("MappingList", admin.get("/v1/destinations/52/mappings").json))
    checks.append(("Mapping", admin.get("/v1/destinations/52/mappings/1").json))
    checks.append(("CatalogVersion", admin.get("/v1/catalog/version").json))
    checks.append(("Settings", admin.get("/v1/settings").json))
    for answer in (admin.post("/v1/traits", {"name": 1}), admin.get("/v1/traits/9"),
                   admin.delete("/v1/traits/1001"), admin.get("/v1/traits", auth=False),
                   admin.post("/v1/traits", {**RULE_TRAIT, "traitRule": "c_x = 1"})):
        checks.append(("Error", answer.json))
    for name, instance in checks:
        _schema(name).validate(instance)
