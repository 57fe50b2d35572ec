"""The OpenAPI 3.1 document of ``/v1``, generated from the same field definitions that check
request bodies (schemas.py), so the document cannot drift from the validator. A route test
checks that every ``/v1`` route of the Chalice app is documented with the same methods."""

from __future__ import annotations

import copy
import functools
from typing import Any

from chalicelib.admin.body import MAX_BODY_BYTES
from chalicelib.admin.paths import (
    BULK_SUFFIX,
    CATALOG_VERSION_PATH,
    EXPORT_PATH,
    IMPORT_PATH,
    OPENAPI_PATH,
    REPORTS_PREFIX,
    SETTINGS_PATH,
)
from chalicelib.admin.schemas import RESOURCES, WRITE_ONLY_AUTH_FIELD, ResourceSpec
from chalicelib.admin.service import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

_ERROR_CODES = {
    "400": "Bad input: invalid_json, invalid_body, unknown_field, invalid_field, invalid_type, "
    "missing_field, out_of_range, invalid_value, invalid_rule (with position), "
    "invalid_reference",
    "401": "Missing or wrong bearer token (unauthorized)",
    "404": "Unknown id (not_found)",
    "409": "Conflict: in_use, duplicate, id_reserved, concurrent_change",
    "413": f"Body larger than {MAX_BODY_BYTES} bytes (payload_too_large)",
    "415": "Body is not application/json (unsupported_media_type)",
    "502": "The insight reports function failed (insight_failed)",
    "503": "Storage, token store or the insight reports function unavailable "
           "(storage_unavailable, auth_unavailable, insight_unavailable)",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(status: str) -> dict[str, Any]:
    return {
        "description": _ERROR_CODES[status],
        "content": {"application/json": {"schema": _ref("Error")}},
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _strip_secret(schema: Any, drop: bool) -> Any:
    """Auth objects: ``secretRef`` is never returned (drop) and optional on input."""
    if isinstance(schema, dict):
        out = {k: _strip_secret(v, drop) for k, v in schema.items()}
        props = out.get("properties")
        if isinstance(props, dict) and WRITE_ONLY_AUTH_FIELD in props:
            if drop:
                props.pop(WRITE_ONLY_AUTH_FIELD)
            else:
                props[WRITE_ONLY_AUTH_FIELD] = {
                    **props[WRITE_ONLY_AUTH_FIELD],
                    "writeOnly": True,
                    "description": "Required on create; on PUT, leave it out to keep the "
                    "stored one. Never returned.",
                }
            required = [r for r in out.get("required", []) if r != WRITE_ONLY_AUTH_FIELD]
            if required:
                out["required"] = required
            else:
                out.pop("required", None)
        return out
    if isinstance(schema, list):
        return [_strip_secret(v, drop) for v in schema]
    return schema


def _read_only_props(spec: ResourceSpec) -> dict[str, Any]:
    props: dict[str, Any] = {
        spec.id_field: {"type": "integer", "minimum": 1, "readOnly": True,
                        "description": "assigned by the server (or given on create, above "
                        "every id so far); never reused"},
    }
    if spec.parent_field:
        props[spec.parent_field] = {"type": "integer", "minimum": 1, "readOnly": True,
                                    "description": "from the path"}
    for key in ("createTime", "updateTime"):
        props[key] = {"type": "integer", "minimum": 0, "readOnly": True,
                      "description": "epoch ms (0 for objects written outside the API)"}
    return props


def _input_schema(spec: ResourceSpec) -> dict[str, Any]:
    schema = _strip_secret(copy.deepcopy(spec.body.schema()), drop=False)
    schema["properties"] = {**_read_only_props(spec), **schema["properties"]}
    return schema


def _output_schema(spec: ResourceSpec) -> dict[str, Any]:
    schema = _strip_secret(copy.deepcopy(spec.body.schema()), drop=True)
    schema["properties"] = {**_read_only_props(spec), **schema["properties"]}
    for prop in schema["properties"].values():
        prop.pop("readOnly", None)
    fixed = [spec.id_field, *([spec.parent_field] if spec.parent_field else []),
             "createTime", "updateTime"]
    schema["required"] = fixed + list(schema.get("required", []))
    return schema


def _list_schema(spec: ResourceSpec) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref(spec.title)},
            "page": {"type": "integer", "minimum": 0},
            "pageSize": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            "total": {"type": "integer", "minimum": 0},
            "next": {"type": "integer", "minimum": 1,
                     "description": "present when the page is full: pass it as after"},
        },
        "required": ["items", "page", "pageSize", "total"],
        "additionalProperties": False,
    }


def _path_params(spec: ResourceSpec, item: bool) -> list[dict[str, Any]]:
    names = [spec.parent_field] if spec.parent_field else []
    if item:
        names.append(spec.id_field)
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
        for n in names if n
    ]


_PAGING = [
    {"name": "page", "in": "query", "required": False,
     "description": "0-based page number (skips page x pageSize ids; prefer after)",
     "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0}},
    {"name": "after", "in": "query", "required": False,
     "description": "the previous page's next: this page starts after that id and reads "
                    "only itself",
     "schema": {"type": "integer", "minimum": 0}},
    {"name": "pageSize", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
                "default": DEFAULT_PAGE_SIZE}},
]


def _resource_paths(spec: ResourceSpec) -> dict[str, Any]:
    title, tag = spec.title, spec.title
    body = {"required": True, "content": {"application/json": {"schema": _ref(f"{title}Input")}}}
    collection = {
        "parameters": _path_params(spec, item=False),
        "get": {
            "operationId": f"list{title}s", "tags": [tag],
            "summary": f"List {spec.kind}s, ordered by {spec.id_field}",
            "parameters": _PAGING,
            "responses": {"200": _json(_ref(f"{title}List"), "One page"),
                          **{s: _error(s) for s in ("400", "401", "404", "503")}},
        },
        "post": {
            "operationId": f"create{title}", "tags": [tag], "summary": f"Create a {spec.kind}",
            "requestBody": body,
            "responses": {"201": _json(_ref(title), "Created (Location names it)"),
                          **{s: _error(s) for s in
                             ("400", "401", "404", "409", "413", "415", "503")}},
        },
    }
    item = {
        "parameters": _path_params(spec, item=True),
        "get": {
            "operationId": f"get{title}", "tags": [tag], "summary": f"One {spec.kind}",
            "responses": {"200": _json(_ref(title), "The object"),
                          **{s: _error(s) for s in ("401", "404", "503")}},
        },
        "put": {
            "operationId": f"replace{title}", "tags": [tag],
            "summary": f"Replace a {spec.kind} (every field; omitted optional fields are "
            "unset or take their default)",
            "requestBody": body,
            "responses": {"200": _json(_ref(title), "Replaced"),
                          **{s: _error(s) for s in
                             ("400", "401", "404", "409", "413", "415", "503")}},
        },
        "delete": {
            "operationId": f"delete{title}", "tags": [tag],
            "summary": f"Delete a {spec.kind} (final; its id is never reused)",
            "responses": {"204": {"description": "Deleted"},
                          **{s: _error(s) for s in ("401", "404", "409", "503")}},
        },
    }
    bulk = {
        "parameters": _path_params(spec, item=False),
        "post": {
            "operationId": f"bulkWrite{title}s", "tags": [tag],
            "summary": f"Create or replace up to 1,000 {spec.kind}s (JSON array or NDJSON): all "
                       "are checked first, then all are written or none; ?partial=true keeps "
                       "the good ones",
            "parameters": [_PARTIAL],
            "requestBody": _BULK_BODY,
            "responses": {"200": _json(_BULK_RESULT, "Per-object results, in request order"),
                          **{s: _error(s) for s in
                             ("400", "401", "404", "409", "413", "415", "503")}},
        },
    }
    return {spec.collection: collection, spec.item_path: item,
            spec.collection + BULK_SUFFIX: bulk}


_PARTIAL = {"name": "partial", "in": "query", "required": False,
            "schema": {"type": "string", "enum": ["true", "false"]},
            "description": "true: write the objects that pass, report the others"}
_BULK_BODY = {"required": True, "content": {
    "application/json": {"schema": {"type": "array", "maxItems": 1000,
                                    "items": {"type": "object"}}},
    "application/x-ndjson": {"schema": {"type": "string"}},
}}
_BULK_RESULT = {"type": "object", "required": ["written", "results"], "properties": {
    "written": {"type": "integer"},
    "results": {"type": "array", "items": {"type": "object", "required": ["index", "status"]}},
}}


_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
                "position": {"type": "integer", "minimum": 0},
            },
            "required": ["code", "message"],
            "additionalProperties": False,
        }
    },
    "required": ["error"],
    "additionalProperties": False,
}

_CATALOG_VERSION_SCHEMA = {
    "type": "object",
    "properties": {
        "version": {"type": "integer", "minimum": 0,
                    "description": "the catalog version this container's event path serves"},
        "storedVersion": {"type": "integer", "minimum": 0,
                          "description": "the latest version in the catalog table"},
        "refreshSeconds": {"type": "number", "minimum": 0,
                           "description": "how often containers check the stored version"},
    },
    "required": ["version", "storedVersion", "refreshSeconds"],
    "additionalProperties": False,
}

_SETTINGS_SCHEMA = {
    "type": "object",
    "description": "The deployment settings (RTDCS_* variables), secrets omitted.",
    "additionalProperties": {
        "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"},
                  {"type": "array", "items": {"type": "string"}}, {"type": "null"}]
    },
}


_PROFILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["uuid", "optedOut"],
    "properties": {
        "uuid": {"type": "string", "pattern": "^[0-9]{38}$"},
        "optedOut": {"type": "boolean"},
        "optedOutAt": {"type": "integer"},
        "traits": {"type": "object", "additionalProperties": {
            "type": "array", "items": {"type": "string", "format": "date-time"}}},
        "segments": {"type": "array", "items": {"type": "integer"}},
        "syncedIds": {"type": "object", "additionalProperties": {"type": "string"}},
        "providerCache": {"type": "object"},
        "lastSeen": {"type": ["string", "null"]},
        "expiresAt": {"type": ["string", "null"]},
        "other": {"type": "object"},
    },
}
_UUID_PARAM = {"name": "uuid", "in": "path", "required": True,
               "schema": {"type": "string", "pattern": "^[0-9]{38}$"}}


_ID_PARAMS = [
    {"name": "dpid", "in": "query", "required": True, "schema": {"type": "integer"}},
    {"name": "dpuuid", "in": "query", "required": True, "schema": {"type": "string"}},
]


def _operations_paths() -> dict[str, Any]:
    """Privacy (profiles) and provider statistics."""
    profile_ok = _json(_PROFILE_SCHEMA, "Everything stored about the visitor")
    return {
        "/v1/profiles/by-id": {"get": {
            "operationId": "getProfileById", "tags": ["Privacy"],
            "summary": "A profile found through a synced or declared id",
            "parameters": [
                {"name": "dpid", "in": "query", "required": True, "schema": {"type": "integer"}},
                {"name": "dpuuid", "in": "query", "required": True, "schema": {"type": "string"}},
            ],
            "responses": {"200": profile_ok, **{s: _error(s) for s in ("400", "401", "404")}},
        }},
        "/v1/profiles/authenticated": {
            "get": {
                "operationId": "getAuthenticatedProfile", "tags": ["Privacy"],
                "summary": "The authenticated (cross-device) profile of a declared id",
                "parameters": _ID_PARAMS,
                "responses": {"200": profile_ok, **{s: _error(s) for s in ("400", "401", "404")}},
            },
            "delete": {
                "operationId": "deleteAuthenticatedProfile", "tags": ["Privacy"],
                "summary": "Remove the authenticated profile of a declared id (device profiles "
                           "and id links stay; an opt-out stays)",
                "parameters": _ID_PARAMS,
                "responses": {"204": {"description": "Deleted"},
                              **{s: _error(s) for s in ("400", "401", "404")}},
            },
        },
        "/v1/profiles/{uuid}": {
            "get": {
                "operationId": "getProfile", "tags": ["Privacy"],
                "summary": "Everything stored about a visitor", "parameters": [_UUID_PARAM],
                "responses": {"200": profile_ok, **{s: _error(s) for s in ("400", "401", "404")}},
            },
            "delete": {
                "operationId": "deleteProfile", "tags": ["Privacy"],
                "summary": "Remove the profile and the id links pointing to it (an opt-out stays)",
                "parameters": [_UUID_PARAM],
                "responses": {"204": {"description": "Deleted"},
                              **{s: _error(s) for s in ("400", "401", "404")}},
            },
        },
        "/v1/stats/providers": {"get": {
            "operationId": "getProviderStats", "tags": ["Operations"],
            "summary": "Per provider and container: calls, answers, timeouts, errors by kind, "
                       "skips by reason, latency p50/p95/p99, breaker state",
            "responses": {"200": _json({"type": "object", "required": ["providers"]},
                                       "Provider statistics"), "401": _error("401")},
        }},
        "/v1/stats/privacy": {"get": {
            "operationId": "getPrivacyStats", "tags": ["Operations"],
            "summary": "Per container: events by privacy outcome (pass, us_optout, no_consent, "
                       "invalid), by signal present and by suppressed activity",
            "responses": {"200": _json({"type": "object",
                                        "required": ["events", "outcomes", "signals",
                                                     "suppressed"]},
                                       "Privacy statistics"), "401": _error("401")},
        }},
    }


_FIGURE = {"type": "object", "required": ["uniques", "lower", "upper"],
           "properties": {"uniques": {"type": "integer"}, "lower": {"type": "integer"},
                          "upper": {"type": "integer"}, "events": {"type": "integer"}}}
_WINDOWS_PARAM = {"name": "windows", "in": "query", "required": False,
                  "description": "Comma-separated days, 1 to 90, or today (default 1,7,30)",
                  "schema": {"type": "string"}}
_IDS_PARAM = {"name": "ids", "in": "query", "required": True,
              "description": "Up to 100 comma-separated ids", "schema": {"type": "string"}}
_WINDOWS_ANSWER = {"type": "object", "required": ["items", "asOf"], "properties": {
    "asOf": {"type": "string"},
    "items": {"type": "array", "items": {"type": "object", "required": ["kind", "id", "windows"],
                                         "properties": {
        "kind": {"type": "string"}, "id": {"type": "integer"},
        "windows": {"type": "object", "additionalProperties": _FIGURE}}}}}}
_SET_PARAMS = [{"name": name, "in": "query", "required": name != "c",
                "description": "kind:id (trait, segment or datasource)",
                "schema": {"type": "string"}} for name in ("a", "b", "c")]


def _reports_paths() -> dict[str, Any]:
    """Audience insight (docs/insight.md): estimates with 95 % bounds, from day sketches."""
    # 502/503: the insight_reports function failed or could not be called (insight/remote.py)
    errors = {s: _error(s) for s in ("400", "401", "404", "502", "503")}
    return {
        f"{REPORTS_PREFIX}/populations": {"get": {
            "operationId": "getPopulations", "tags": ["Reports"],
            "summary": "Distinct visitors (95 % bounds) and events of traits or segments over "
                       "windows of days ending today",
            "parameters": [{"name": "kind", "in": "query", "required": True,
                            "schema": {"enum": ["trait", "segment"]}}, _IDS_PARAM,
                           _WINDOWS_PARAM],
            "responses": {"200": _json(_WINDOWS_ANSWER, "Populations"), **errors},
        }},
        f"{REPORTS_PREFIX}/trend": {"get": {
            "operationId": "getTrend", "tags": ["Reports"],
            "summary": "One entry per UTC day: distinct visitors with bounds, events",
            "parameters": [
                {"name": "kind", "in": "query", "required": True,
                 "schema": {"enum": ["trait", "segment", "datasource"]}},
                {"name": "id", "in": "query", "required": True, "schema": {"type": "integer"}},
                {"name": "days", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 90}}],
            "responses": {"200": _json({"type": "object", "required": ["days", "asOf"]},
                                       "Trend"), **errors},
        }},
        f"{REPORTS_PREFIX}/overlap": {"get": {
            "operationId": "getOverlap", "tags": ["Reports"],
            "summary": "Two or three audiences over a window: each, their intersection and "
                       "union, and the Venn regions, with bounds",
            "parameters": [*_SET_PARAMS, {"name": "window", "in": "query", "required": False,
                                          "schema": {"type": "integer", "minimum": 1,
                                                     "maximum": 90}}],
            "responses": {"200": _json({"type": "object", "required": [
                "window", "sets", "intersection", "union", "regions", "asOf"]}, "Overlap"),
                **errors},
        }},
        f"{REPORTS_PREFIX}/datasources": {"get": {
            "operationId": "getDataSourceUniques", "tags": ["Reports"],
            "summary": "Distinct visitors seen per data source over windows of days",
            "parameters": [{**_IDS_PARAM, "required": False}, _WINDOWS_PARAM],
            "responses": {"200": _json(_WINDOWS_ANSWER, "Data source uniques"), **errors},
        }},
    }


def _console_paths() -> dict[str, Any]:
    """The console's API (docs/console.md): event capture, overview, rule check, test call."""
    capture_state = {"type": "object", "required": ["enabled"], "properties": {
        "enabled": {"type": "boolean"}, "uuid": {"type": ["string", "null"]},
        "sample": {"type": "number"}, "until": {"type": "number"},
        "started": {"type": "number"}, "secondsLeft": {"type": "integer"},
        "refreshSeconds": {"type": "number"}}}
    return {
        "/v1/debug/capture": {
            "get": {
                "operationId": "getCapture", "tags": ["Console"],
                "summary": "Whether events are being captured for the live debugger, for whom "
                           "and until when",
                "responses": {"200": _json(capture_state, "Capture state"),
                              **{s: _error(s) for s in ("401", "503")}},
            },
            "post": {
                "operationId": "setCapture", "tags": ["Console"],
                "summary": "Capture one UUID's events, or a sample of at most 1 % of visitors, "
                           "for at most 60 minutes ({uuid|sample, minutes}); {enabled: false} "
                           "stops. Reaches every container with the catalog (<= 10 s)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {
                        "enabled": {"type": "boolean"},
                        "uuid": {"type": "string", "pattern": "^[0-9]{38}$"},
                        "sample": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.01},
                        "minutes": {"type": "number", "exclusiveMinimum": 0,
                                    "maximum": 60}}}}}},
                "responses": {"200": _json(capture_state, "Capture state"),
                              **{s: _error(s) for s in ("400", "401", "415", "503")}},
            },
        },
        "/v1/debug/events": {"get": {
            "operationId": "getCapturedEvents", "tags": ["Console"],
            "summary": "Captured events, newest first (kept 24 h): signals without p_ keys, "
                       "identity, privacy decision, provider calls, traits, segments, stuff, "
                       "dests, errors",
            "parameters": [
                {"name": "uuid", "in": "query", "required": False,
                 "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 200}}],
            "responses": {"200": _json({"type": "object", "required": ["events"]},
                                       "Captured events"),
                          **{s: _error(s) for s in ("400", "401", "503")}},
        }},
        "/v1/stats/overview": {"get": {
            "operationId": "getOverview", "tags": ["Console"],
            "summary": "Per container: events per minute over the last hour, /event latency "
                       "p50/p99, error codes, privacy outcomes and the provider statistics",
            "responses": {"200": _json({"type": "object", "required": [
                "eventsPerMinute", "latencyMs", "errors", "privacy", "providers"]},
                "Overview"), "401": _error("401")},
        }},
        "/v1/rules/validate": {"post": {
            "operationId": "validateRule", "tags": ["Console"],
            "summary": "Check a trait or segment rule as a save would: {valid: true} or "
                       "{valid: false, error: {code, message, field, position}}",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["kind", "rule"], "properties": {
                    "kind": {"enum": ["trait", "segment"]}, "rule": {"type": "string"}}}}}},
            "responses": {"200": _json({"type": "object", "required": ["valid"]},
                                       "The verdict"),
                          **{s: _error(s) for s in ("400", "401", "415")}},
        }},
        "/v1/providers/{pid}/test": {"post": {
            "operationId": "testProvider", "tags": ["Console"],
            "summary": "Three signed sample calls to the stored provider (SSRF guard as for "
                       "events): verdict, problems in the contract's words, latencies",
            "parameters": [{"name": "pid", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": _json({"type": "object", "required": [
                "verdict", "problems", "calls"]}, "Verdict"),
                **{s: _error(s) for s in ("401", "404", "409")}},
        }},
    }


@functools.lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": _ERROR_SCHEMA, "CatalogVersion": _CATALOG_VERSION_SCHEMA,
                               "Settings": _SETTINGS_SCHEMA}
    paths: dict[str, Any] = {}
    for spec in RESOURCES:
        schemas[f"{spec.title}Input"] = _input_schema(spec)
        schemas[spec.title] = _output_schema(spec)
        schemas[f"{spec.title}List"] = _list_schema(spec)
        paths.update(_resource_paths(spec))
    paths[EXPORT_PATH] = {"get": {
        "operationId": "exportCatalog", "tags": ["Operations"],
        "summary": "One page of the catalog as NDJSON lines {kind, object}, kinds in dependency "
                   "order, secrets as their secretRef; Link rel=next names the next page",
        "parameters": [
            {"name": "kind", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "after", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 5000}},
        ],
        "responses": {"200": {"description": "NDJSON", "content": {
            "application/x-ndjson": {"schema": {"type": "string"}}}},
            **{s: _error(s) for s in ("400", "401", "503")}},
    }}
    paths[IMPORT_PATH] = {"post": {
        "operationId": "importCatalog", "tags": ["Operations"],
        "summary": "Up to 1,000 export lines {kind, object}, ids kept, referenced kinds first; "
                   "all or nothing unless ?partial=true",
        "parameters": [_PARTIAL],
        "requestBody": _BULK_BODY,
        "responses": {"200": _json(_BULK_RESULT, "Per-object results"),
                      **{s: _error(s) for s in ("400", "401", "409", "413", "415", "503")}},
    }}
    paths[CATALOG_VERSION_PATH] = {"get": {
        "operationId": "getCatalogVersion", "tags": ["Operations"],
        "summary": "The catalog version served by the container answering, and the stored one",
        "responses": {"200": _json(_ref("CatalogVersion"), "Versions"),
                      **{s: _error(s) for s in ("401", "503")}},
    }}
    paths[SETTINGS_PATH] = {"get": {
        "operationId": "getSettings", "tags": ["Operations"],
        "summary": "Deployment settings, secrets omitted",
        "responses": {"200": _json(_ref("Settings"), "Settings"), "401": _error("401")},
    }}
    paths.update(_operations_paths())
    paths.update(_reports_paths())
    paths.update(_console_paths())
    paths[OPENAPI_PATH] = {"get": {
        "operationId": "getOpenApi", "tags": ["Operations"], "security": [],
        "summary": "This document (no token needed: it holds no data)",
        "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
    }}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "rtdcs admin API",
            "version": "1",
            "description": "Configure rtdcs: data sources, providers, traits, segments, "
            "destinations and mappings. Every route but this document needs "
            "`Authorization: Bearer <token>`. Errors: `{\"error\": {\"code\", \"message\", "
            "\"field\", \"position\"}}`. See docs/admin-api.md.",
        },
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }
