"""``/ibs`` (ID sync) and ``/demoptout`` / ``/demoptout.jpg`` (opt-out); the work is in
``chalicelib/handlers/privacy.py``."""

from __future__ import annotations

from chalice import Blueprint, Response

privacy = Blueprint(__name__)


@privacy.route("/ibs", methods=["GET"])
def ibs() -> Response:
    from chalicelib.handlers.privacy import handle_ibs  # first call loads it (cold start)

    return handle_ibs(privacy.current_request)


@privacy.route("/demoptout", methods=["GET"])
def demoptout() -> Response:
    from chalicelib.handlers.privacy import handle_opt_out

    return handle_opt_out(privacy.current_request)


@privacy.route("/demoptout.jpg", methods=["GET"])
def demoptout_jpg() -> Response:
    from chalicelib.handlers.privacy import handle_opt_out

    return handle_opt_out(privacy.current_request)
