"""The console's API (docs/console.md): event capture (``/v1/debug/*``), the overview numbers,
rule checking as you type and the provider "test call". Same auth and errors as ``/v1``
(chalicelib/handlers/admin.py); routes in ``chalicelib/routes/console.py``."""

from __future__ import annotations

import time
from typing import Any

from chalice import Response

from chalicelib.admin.body import parse_json_object
from chalicelib.admin.errors import ApiError, bad_request, not_found
from chalicelib.debug import setting as capture_setting
from chalicelib.debug.overview import event_stats
from chalicelib.debug.store import MAX_LIMIT, SettingStore
from chalicelib.debug.wiring import capture_store
from chalicelib.handlers.admin import admin_view, json_response
from chalicelib.rules.validation import (
    ValidationError,
    validate_segment_rule,
    validate_trait_rule,
)
from chalicelib.runtime.services import Services
from chalicelib.store.dynamo import table


def _settings_store(services: Services) -> SettingStore:
    return SettingStore(table(services.settings.catalog_table), services.catalog_repository)


def _capture(services: Services, request: Any) -> Response:
    store = _settings_store(services)
    now = time.time()
    if request.method == "POST":
        body = parse_json_object(request.raw_body, request.headers)
        try:
            wanted = capture_setting.from_request(body, now)
        except capture_setting.SettingError as exc:
            raise bad_request("invalid_value", exc.message, exc.field) from exc
        store.put(wanted)
        return json_response({**capture_setting.describe(wanted, now),
                              "refreshSeconds": services.settings.catalog_refresh_seconds})
    return json_response(capture_setting.describe(store.get(), now))


def _events(services: Services, request: Any) -> Response:
    query = request.query_params or {}
    uuid = (query.get("uuid") or "").strip() or None
    raw_limit = query.get("limit", "50")
    if not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_LIMIT):
        raise bad_request("out_of_range", f"limit must be 1 to {MAX_LIMIT}", "limit")
    if uuid is not None and not (uuid.isascii() and uuid.isdigit() and len(uuid) <= 38):
        raise bad_request("invalid_value", "uuid must be a visitor UUID (digits)", "uuid")
    events = capture_store().recent(uuid, int(raw_limit))
    return json_response({"events": events})


def _overview(services: Services, request: Any) -> Response:
    return json_response({**event_stats().snapshot(),
                          "providers": services.provider_stats.snapshot()})


def _validate_rule(services: Services, request: Any) -> Response:
    """``{"kind": "trait" | "segment", "rule": "..."}``: ``{"valid": true}``, or
    ``{"valid": false, "error": {...}}`` with the error a save would answer (code, message,
    field, position). 200 either way: a rule being typed is not a failed request."""
    body = parse_json_object(request.raw_body, request.headers)
    kind = body.get("kind")
    rule = body.get("rule")
    if kind not in ("trait", "segment"):
        raise bad_request("invalid_value", "kind must be trait or segment", "kind")
    try:
        if kind == "trait":
            validate_trait_rule(rule)  # type: ignore[arg-type]
            return json_response({"valid": True})
        traits = {int(t["sid"]): str(t.get("traitType", ""))
                  for t in services.catalog_repository.list_kind("trait", consistent=True)}
        referenced = validate_segment_rule(rule, traits)  # type: ignore[arg-type]
        return json_response({"valid": True, "traits": sorted(referenced)})
    except ValidationError as exc:
        return json_response({"valid": False, **bad_request(
            exc.code, exc.message, exc.field, exc.position).body()})


def _test_call(services: Services, request: Any, pid: str) -> Response:
    from chalicelib.debug.provider_check import provider_from, run_test_call
    from chalicelib.providers.engine import default_ssm_client
    from chalicelib.providers.fanout import ProviderCaller
    from chalicelib.providers.http_session import AddressGuard, make_pool
    from chalicelib.providers.secrets import SecretResolver

    if not (pid.isascii() and pid.isdigit() and len(pid) <= 10):
        raise not_found(f"provider {pid}")
    body = services.catalog_repository.get("provider", int(pid))
    if body is None:
        raise not_found(f"provider {pid}")
    try:
        provider = provider_from(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiError(409, "invalid_value", f"the provider cannot be called: {exc}") from exc
    guard = AddressGuard(services.settings.provider_http_hosts)
    pool = make_pool(pool_size=2, hosts=1, guard=guard)
    try:
        report = run_test_call(provider, ProviderCaller(pool),
                               SecretResolver(default_ssm_client).resolve,
                               services.settings.partner_id, services.settings.dcs_region)
    finally:
        pool.clear()
    return json_response(report)


def capture_view(request: Any) -> Response:
    return admin_view(request, _capture)


def events_view(request: Any) -> Response:
    return admin_view(request, _events)


def overview_view(request: Any) -> Response:
    return admin_view(request, _overview)


def validate_rule_view(request: Any) -> Response:
    return admin_view(request, _validate_rule)


def test_call_view(request: Any, pid: str) -> Response:
    return admin_view(request, _test_call, pid=pid)
