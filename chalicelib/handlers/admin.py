"""The admin API (``/v1``): HTTP in and out only; the work is in ``chalicelib/admin/``.
Routes and the reason auth is checked in each handler: ``chalicelib/routes/admin.py``."""

from __future__ import annotations

import json
import logging
from typing import Any, Callable

from chalice import Response

from chalicelib.admin import bulk as bulk_ops
from chalicelib.admin.auth import authorize
from chalicelib.admin.body import parse_json_object
from chalicelib.admin.errors import ApiError
from chalicelib.admin.openapi import document
from chalicelib.admin.schemas import BY_KIND, ResourceSpec
from chalicelib.admin.service import AdminService, parse_after, parse_id, parse_paging
from chalicelib.admin.settings_view import public_settings
from chalicelib.runtime.catalog_cache import CatalogUnavailable
from chalicelib.runtime.services import STORAGE_ERRORS, Services, get_services

logger = logging.getLogger("rtdcs.admin")
View = Callable[..., Response]


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        body=json.dumps(payload, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": "application/json", "Cache-Control": "no-store",
                 **(headers or {})},
    )


def _error(exc: ApiError) -> Response:
    return json_response(exc.body(), exc.status, exc.headers)


def admin_view(request: Any, view: View, **params: Any) -> Response:
    """Authenticate, then run the view; every failure becomes a JSON error."""
    try:
        services = get_services()
        authorize(request.headers, services.admin_tokens)
        return view(services, request, **params)
    except ApiError as exc:
        return _error(exc)
    except STORAGE_ERRORS as exc:
        logger.warning("admin storage error: %s", type(exc).__name__)
        return _error(ApiError(503, "storage_unavailable", "the catalog store is "
                               "unavailable; nothing was changed unless a later GET "
                               "shows it"))
    except CatalogUnavailable:
        return _error(ApiError(503, "storage_unavailable", "the catalog is unavailable"))
    except Exception:  # noqa: BLE001 - an admin client always gets a JSON error, never a page
        logger.exception("admin request failed")
        return _error(ApiError(500, "internal_error", "the request failed; nothing was "
                               "changed unless a later GET shows it"))


def _service(services: Services) -> AdminService:
    return AdminService(services.catalog_repository, services.settings.provider_http_hosts)


def _parent(spec: ResourceSpec, params: dict[str, str]) -> int | None:
    if spec.parent_field is None:
        return None
    return parse_id(params.get(spec.parent_field), f"destination {params.get(spec.parent_field)}")


def _collection(services: Services, request: Any, spec: ResourceSpec,
                params: dict[str, str]) -> Response:
    parent = _parent(spec, params)
    service = _service(services)
    if request.method == "GET":
        page, size = parse_paging(request.query_params)
        after = parse_after(request.query_params)
        return json_response(service.list(spec, page, size, parent, after))
    body = parse_json_object(request.raw_body, request.headers)
    created = service.create(spec, body, parent)
    location = spec.item_path.replace(
        f"{{{spec.id_field}}}", str(created[spec.id_field])
    ).replace("{destinationId}", str(parent))
    return json_response(created, 201, {"Location": location})


def _item(services: Services, request: Any, spec: ResourceSpec,
          params: dict[str, str]) -> Response:
    parent = _parent(spec, params)
    object_id = parse_id(params.get(spec.id_field), f"{spec.kind} {params.get(spec.id_field)}")
    service = _service(services)
    if request.method == "GET":
        return json_response(service.get(spec, object_id, parent))
    if request.method == "PUT":
        body = parse_json_object(request.raw_body, request.headers)
        return json_response(service.replace(spec, object_id, body, parent))
    service.delete(spec, object_id, parent)
    return Response(body="", status_code=204, headers={"Cache-Control": "no-store"})


def collection_view(kind: str, request: Any, params: dict[str, str]) -> Response:
    return admin_view(request, _collection, spec=BY_KIND[kind], params=params)


def item_view(kind: str, request: Any, params: dict[str, str]) -> Response:
    return admin_view(request, _item, spec=BY_KIND[kind], params=params)


def _catalog_version(services: Services, request: Any) -> Response:
    served = services.catalog.get().version
    stored = services.catalog_repository.version(consistent=True)
    return json_response({"version": served, "storedVersion": stored,
                          "refreshSeconds": services.settings.catalog_refresh_seconds})


def catalog_version_view(request: Any) -> Response:
    return admin_view(request, _catalog_version)


def settings_view(request: Any) -> Response:
    return admin_view(request, lambda services, _: json_response(
        public_settings(services.settings)))


def openapi_document() -> Response:
    return json_response(document(), headers={"Cache-Control": "public, max-age=300"})


# ---- bulk, export, import (admin/bulk.py) ------------------------------------------------------

_EXPORT_LIMIT = 1000
_EXPORT_MAX_LIMIT = 5000


def _partial(request: Any) -> bool:
    value = (request.query_params or {}).get("partial", "false").strip().lower()
    if value not in ("true", "false"):
        raise ApiError(400, "invalid_value", "partial must be true or false", "partial")
    return value == "true"


def _bulk_answer(result: bulk_ops.BulkResult) -> Response:
    return json_response({"written": result.written, "results": result.results})


def _bulk(services: Services, request: Any, spec: ResourceSpec,
          params: dict[str, str]) -> Response:
    parent = _parent(spec, params)
    partial = _partial(request)
    values = bulk_ops.parse_bulk_body(request.raw_body, request.headers)
    batch = bulk_ops.entries_for_kind(spec, values, parent)
    writer = bulk_ops.BulkWriter(_service(services), services.catalog_repository)
    return _bulk_answer(writer.write(batch, partial))


def _import(services: Services, request: Any) -> Response:
    partial = _partial(request)
    values = bulk_ops.parse_bulk_body(request.raw_body, request.headers)
    writer = bulk_ops.BulkWriter(_service(services), services.catalog_repository)
    return _bulk_answer(writer.write(bulk_ops.entries_for_import(values), partial))


def _export(services: Services, request: Any) -> Response:
    """One page of the catalog as NDJSON, kinds in dependency order; ``Link: rel="next"``
    names the next page until the last."""
    query = request.query_params or {}
    kind = query.get("kind", bulk_ops.IMPORT_ORDER[0])
    if kind not in bulk_ops.IMPORT_ORDER:
        raise ApiError(400, "invalid_value", f"kind must be one of {bulk_ops.IMPORT_ORDER}",
                       "kind")
    raw_limit = query.get("limit", str(_EXPORT_LIMIT))
    if not raw_limit.isascii() or not raw_limit.isdigit() or not (
            1 <= int(raw_limit) <= _EXPORT_MAX_LIMIT):
        raise ApiError(400, "out_of_range", f"limit must be 1 to {_EXPORT_MAX_LIMIT}", "limit")
    after = query.get("after")
    if after is not None and not (after.isascii() and after.isdigit() and len(after) <= 10):
        raise ApiError(400, "invalid_value", "after must be an id (from the Link header)",
                       "after")
    bodies, last = services.catalog_repository.list_page(kind, after, int(raw_limit))
    spec = BY_KIND[kind]
    lines, cut = bulk_ops.export_page(spec, bodies)
    last = cut or last
    following: str | None = None
    if last is not None:
        following = f"kind={kind}&after={last}&limit={raw_limit}"
    else:
        position = bulk_ops.IMPORT_ORDER.index(kind)
        if position + 1 < len(bulk_ops.IMPORT_ORDER):
            following = f"kind={bulk_ops.IMPORT_ORDER[position + 1]}&limit={raw_limit}"
    headers: dict[str, str | list[str]] = {"Content-Type": "application/x-ndjson",
                                           "Cache-Control": "no-store"}
    if following is not None:
        headers["Link"] = f'<{bulk_ops.EXPORT_PATH}?{following}>; rel="next"'
    return Response(body=lines, status_code=200, headers=headers)


def bulk_view(kind: str, request: Any, params: dict[str, str]) -> Response:
    return admin_view(request, _bulk, spec=BY_KIND[kind], params=params)


def import_view(request: Any) -> Response:
    return admin_view(request, lambda services, req: _import(services, req))


def export_view(request: Any) -> Response:
    return admin_view(request, lambda services, req: _export(services, req))

