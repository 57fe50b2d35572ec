"""The admin API (``/v1``) routes; the work is in ``chalicelib/handlers/admin.py`` and
``chalicelib/handlers/admin_ops.py``, loaded with the first admin request.

Auth is a check inside each handler (``admin_view``), not a Chalice built-in authorizer: it
runs identically under ``chalice local``, ``chalice.test.Client`` and Lambda, answers with the
API's own JSON error, needs no second Lambda function and has no API Gateway policy cache that
would keep honouring a rotated token (docs/admin-api.md, Decisions).
"""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.admin.paths import (
    BULK_SUFFIX,
    CATALOG_VERSION_PATH,
    EXPORT_PATH,
    IMPORT_PATH,
    OPENAPI_PATH,
    RESOURCE_PATHS,
    SETTINGS_PATH,
    ResourcePath,
)

admin = Blueprint(__name__)

# Every body type reaches the handler, which answers 415 in the API's own error format.
ANY_TYPE = ["*/*"]


def _register(path: ResourcePath) -> None:
    def collection(**params: str) -> Response:
        from chalicelib.handlers.admin import collection_view  # first call loads it

        return collection_view(path.kind, admin.current_request, params)

    def item(**params: str) -> Response:
        from chalicelib.handlers.admin import item_view

        return item_view(path.kind, admin.current_request, params)

    admin.route(path.collection, methods=["GET", "POST"], content_types=ANY_TYPE,
                name=f"admin_{path.kind}_collection")(collection)
    admin.route(path.item_path, methods=["GET", "PUT", "DELETE"], content_types=ANY_TYPE,
                name=f"admin_{path.kind}_item")(item)

    def bulk(**params: str) -> Response:
        from chalicelib.handlers.admin import bulk_view

        return bulk_view(path.kind, admin.current_request, params)

    admin.route(path.collection + BULK_SUFFIX, methods=["POST"], content_types=ANY_TYPE,
                name=f"admin_{path.kind}_bulk")(bulk)


for _path in RESOURCE_PATHS:
    _register(_path)


@admin.route(CATALOG_VERSION_PATH, methods=["GET"], content_types=ANY_TYPE)
def admin_catalog_version() -> Response:
    from chalicelib.handlers.admin import catalog_version_view

    return catalog_version_view(admin.current_request)


@admin.route(EXPORT_PATH, methods=["GET"], content_types=ANY_TYPE)
def admin_catalog_export() -> Response:
    from chalicelib.handlers.admin import export_view

    return export_view(admin.current_request)


@admin.route(IMPORT_PATH, methods=["POST"], content_types=ANY_TYPE)
def admin_catalog_import() -> Response:
    from chalicelib.handlers.admin import import_view

    return import_view(admin.current_request)


@admin.route(SETTINGS_PATH, methods=["GET"], content_types=ANY_TYPE)
def admin_settings() -> Response:
    from chalicelib.handlers.admin import settings_view

    return settings_view(admin.current_request)


@admin.route(OPENAPI_PATH, methods=["GET"], content_types=ANY_TYPE)
def admin_openapi() -> Response:
    """No token needed: the document describes the API and holds no data."""
    from chalicelib.handlers.admin import openapi_document

    return openapi_document()
