"""The admin API (``/v1``): HTTP in and out only; the work is in ``chalicelib/admin/``.
Routes and the reason auth is checked in each handler: ``chalicelib/routes/admin.py``."""

from __future__ import annotations

import json
import logging
from typing import Any, Callable

from chalice import Response

from chalicelib.admin.auth import authorize
from chalicelib.admin.body import parse_json_object
from chalicelib.admin.errors import ApiError
from chalicelib.admin.openapi import document
from chalicelib.admin.schemas import BY_KIND, ResourceSpec
from chalicelib.admin.service import AdminService, parse_id, parse_paging
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
        return json_response(service.list(spec, page, size, parent))
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
