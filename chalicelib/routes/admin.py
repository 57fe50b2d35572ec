"""The admin API (``/v1``): HTTP in and out only; the work is in ``chalicelib/admin/``.

Auth is a check inside each handler (``admin_view``), not a Chalice built-in authorizer: it
runs identically under ``chalice local``, ``chalice.test.Client`` and Lambda, answers with the
API's own JSON error, needs no second Lambda function and has no API Gateway policy cache that
would keep honouring a rotated token (docs/admin-api.md, Decisions).
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any, Callable

from chalice import Blueprint, Response

from chalicelib.admin.auth import authorize
from chalicelib.admin.body import parse_json_object
from chalicelib.admin.errors import ApiError
from chalicelib.admin.openapi import CATALOG_VERSION_PATH, OPENAPI_PATH, SETTINGS_PATH, document
from chalicelib.admin.schemas import RESOURCES, ResourceSpec
from chalicelib.admin.service import AdminService, parse_id, parse_paging
from chalicelib.admin.settings_view import public_settings
from chalicelib.catalog_cache import CatalogUnavailable
from chalicelib.services import STORAGE_ERRORS, Services, get_services

admin = Blueprint(__name__)
logger = logging.getLogger("rtdcs.admin")

# Every body type reaches the handler, which answers 415 in the API's own error format.
_ANY_TYPE = ["*/*"]


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


def admin_view(view: Callable[..., Response]) -> Callable[..., Response]:
    """Authenticate, then run the view; every failure becomes a JSON error."""

    @functools.wraps(view)
    def wrapper(**params: str) -> Response:
        request = admin.current_request
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

    return wrapper


def _service(services: Services) -> AdminService:
    return AdminService(services.catalog_repository, services.settings.provider_http_hosts)


def _parent(spec: ResourceSpec, params: dict[str, str]) -> int | None:
    if spec.parent_field is None:
        return None
    return parse_id(params.get(spec.parent_field), f"destination {params.get(spec.parent_field)}")


def _register(spec: ResourceSpec) -> None:
    def collection(services: Services, request: Any, **params: str) -> Response:
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

    def item(services: Services, request: Any, **params: str) -> Response:
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

    admin.route(spec.collection, methods=["GET", "POST"], content_types=_ANY_TYPE,
                name=f"admin_{spec.kind}_collection")(admin_view(collection))
    admin.route(spec.item_path, methods=["GET", "PUT", "DELETE"], content_types=_ANY_TYPE,
                name=f"admin_{spec.kind}_item")(admin_view(item))


for _spec in RESOURCES:
    _register(_spec)


@admin.route(CATALOG_VERSION_PATH, methods=["GET"], content_types=_ANY_TYPE)
@admin_view
def admin_catalog_version(services: Services, request: Any) -> Response:
    served = services.catalog.get().version
    stored = services.catalog_repository.version(consistent=True)
    return json_response({"version": served, "storedVersion": stored,
                  "refreshSeconds": services.settings.catalog_refresh_seconds})


@admin.route(SETTINGS_PATH, methods=["GET"], content_types=_ANY_TYPE)
@admin_view
def admin_settings(services: Services, request: Any) -> Response:
    return json_response(public_settings(services.settings))


@admin.route(OPENAPI_PATH, methods=["GET"], content_types=_ANY_TYPE)
def admin_openapi() -> Response:
    """No token needed: the document describes the API and holds no data."""
    return json_response(document(), headers={"Cache-Control": "public, max-age=300"})
