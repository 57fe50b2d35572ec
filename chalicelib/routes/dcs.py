"""``/event`` (GET, POST, OPTIONS); the work is in ``chalicelib/handlers/event.py``."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.dcs.content_types import FORM_TYPES

dcs = Blueprint(__name__)
# GET requests carry no Content-Type and Chalice then assumes application/json, so that type
# must be routable; POST bodies of any type but the two form types get 415 in the handler.
_ROUTE_TYPES = [*FORM_TYPES, "application/json"]


@dcs.route("/event", methods=["GET", "POST"], content_types=_ROUTE_TYPES)
def event() -> Response:
    from chalicelib.handlers.event import handle_event  # first call loads it (cold start)

    return handle_event(dcs.current_request)


@dcs.route("/event", methods=["OPTIONS"])
def event_preflight() -> Response:
    from chalicelib.handlers.event import handle_preflight

    return handle_preflight(dcs.current_request)
