"""Admin views beyond the catalog: privacy (profiles) and provider stats (admin-api.md);
routes in ``chalicelib/routes/admin_ops.py``."""

from __future__ import annotations

import time
from typing import Any

from chalice import Response

from chalicelib.admin.profiles import (
    delete_authenticated,
    delete_profile,
    export_authenticated,
    export_profile,
    uuid_for_id,
)
from chalicelib.handlers.admin import admin_view, json_response
from chalicelib.runtime.services import Services


def _profile_by_id(services: Services, request: Any) -> Response:
    query = request.query_params or {}
    uuid = uuid_for_id(services.idmap, query.get("dpid"), query.get("dpuuid"), time.time())
    return json_response(export_profile(services.profiles, uuid))


def _authenticated(services: Services, request: Any) -> Response:
    query = request.query_params or {}
    if request.method == "DELETE":
        delete_authenticated(services.profiles, query.get("dpid"), query.get("dpuuid"))
        return Response(body="", status_code=204, headers={"Cache-Control": "no-store"})
    return json_response(export_authenticated(services.profiles, query.get("dpid"),
                                              query.get("dpuuid")))


def authenticated_profile_view(request: Any) -> Response:
    return admin_view(request, _authenticated)


def _profile(services: Services, request: Any, uuid: str) -> Response:
    if request.method == "DELETE":
        delete_profile(services.profiles, services.idmap, uuid)
        return Response(body="", status_code=204, headers={"Cache-Control": "no-store"})
    return json_response(export_profile(services.profiles, uuid))


def _provider_stats(services: Services, request: Any) -> Response:
    return json_response(services.provider_stats.snapshot())


def _privacy_stats(services: Services, request: Any) -> Response:
    return json_response(services.privacy_stats.snapshot())


def profile_by_id_view(request: Any) -> Response:
    return admin_view(request, _profile_by_id)


def profile_view(request: Any, uuid: str) -> Response:
    return admin_view(request, _profile, uuid=uuid)


def provider_stats_view(request: Any) -> Response:
    return admin_view(request, _provider_stats)


def privacy_stats_view(request: Any) -> Response:
    return admin_view(request, _privacy_stats)
