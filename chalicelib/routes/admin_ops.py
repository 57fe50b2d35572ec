"""Admin routes beyond the catalog: privacy (profiles) and provider stats (admin-api.md);
the work is in ``chalicelib/handlers/admin_ops.py``."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.routes.admin import ANY_TYPE

admin_ops = Blueprint(__name__)


@admin_ops.route("/v1/profiles/by-id", methods=["GET"], content_types=ANY_TYPE)
def profile_by_id() -> Response:
    from chalicelib.handlers.admin_ops import profile_by_id_view  # first call loads it

    return profile_by_id_view(admin_ops.current_request)


@admin_ops.route("/v1/profiles/authenticated", methods=["GET", "DELETE"],
                 content_types=ANY_TYPE)
def authenticated_profile() -> Response:
    from chalicelib.handlers.admin_ops import authenticated_profile_view

    return authenticated_profile_view(admin_ops.current_request)


@admin_ops.route("/v1/profiles/{uuid}", methods=["GET", "DELETE"], content_types=ANY_TYPE)
def profile(uuid: str) -> Response:
    from chalicelib.handlers.admin_ops import profile_view

    return profile_view(admin_ops.current_request, uuid=uuid)


@admin_ops.route("/v1/stats/providers", methods=["GET"], content_types=ANY_TYPE)
def provider_stats() -> Response:
    from chalicelib.handlers.admin_ops import provider_stats_view

    return provider_stats_view(admin_ops.current_request)


@admin_ops.route("/v1/stats/privacy", methods=["GET"], content_types=ANY_TYPE)
def privacy_stats() -> Response:
    from chalicelib.handlers.admin_ops import privacy_stats_view

    return privacy_stats_view(admin_ops.current_request)
