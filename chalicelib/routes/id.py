"""``/id`` (the ID service's direct call, identity.md 1); the work is in
``chalicelib/handlers/id.py``."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.dcs.content_types import FORM_TYPES

ids = Blueprint(__name__)
# VisitorAPI.js sends its CORS GET with "Content-Type: application/x-www-form-urlencoded";
# a GET without one is routed as application/json by Chalice.
_ROUTE_TYPES = [*FORM_TYPES, "application/json"]


@ids.route("/id", methods=["GET", "POST"], content_types=_ROUTE_TYPES)
def id_call() -> Response:
    from chalicelib.handlers.id import handle_id  # first call loads it (cold start)

    return handle_id(ids.current_request)


@ids.route("/id", methods=["OPTIONS"])
def id_preflight() -> Response:
    from chalicelib.handlers.id import handle_id_preflight

    return handle_id_preflight(ids.current_request)
