"""Admin routes beyond the catalog: privacy (profiles) and provider stats (admin-api.md)."""

from __future__ import annotations

import time
from typing import Any

from chalice import Blueprint, Response

from chalicelib.admin.profiles import delete_profile, export_profile, uuid_for_id
from chalicelib.routes.admin import admin_view, json_response
from chalicelib.services import Services

admin_ops = Blueprint(__name__)
_ANY_TYPE = ["*/*"]


@admin_ops.route("/v1/profiles/by-id", methods=["GET"], content_types=_ANY_TYPE)
@admin_view
def profile_by_id(services: Services, request: Any) -> Response:
    query = request.query_params or {}
    uuid = uuid_for_id(services.idmap, query.get("dpid"), query.get("dpuuid"), time.time())
    return json_response(export_profile(services.profiles, uuid))


@admin_ops.route("/v1/profiles/{uuid}", methods=["GET", "DELETE"], content_types=_ANY_TYPE)
@admin_view
def profile(services: Services, request: Any, uuid: str) -> Response:
    if request.method == "DELETE":
        delete_profile(services.profiles, services.idmap, uuid)
        return Response(body="", status_code=204, headers={"Cache-Control": "no-store"})
    return json_response(export_profile(services.profiles, uuid))


@admin_ops.route("/v1/stats/providers", methods=["GET"], content_types=_ANY_TYPE)
@admin_view
def provider_stats(services: Services, request: Any) -> Response:
    return json_response(services.provider_stats.snapshot())
