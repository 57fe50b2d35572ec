"""``/ibs`` (ID sync) and ``/demoptout`` / ``/demoptout.jpg`` (opt-out): HTTP in/out only."""

from __future__ import annotations

import json
import logging

from chalice import Blueprint, Response

from chalicelib.dcs.cookies import UUID_COOKIE_DAYS, parse_cookie_header, set_cookie
from chalicelib.dcs.errors import error
from chalicelib.dcs.ids import OPT_OUT_VALUE
from chalicelib.destinations.syncs import (
    SYNC_COOKIE_DAYS,
    add_sync_entry,
    format_sync_cookie,
    parse_sync_cookie,
)
from chalicelib.routes.common import gif_response, parse_dcs_request
from chalicelib.services import get_services

privacy = Blueprint(__name__)
logger = logging.getLogger("rtdcs.privacy")
OPT_OUT_COOKIE_DAYS = 3650


@privacy.route("/ibs", methods=["GET"])
def ibs() -> Response:
    request = privacy.current_request
    services = get_services()
    settings = services.settings
    try:
        parsed = parse_dcs_request(request, derive_signals=False)
        cookies = parse_cookie_header(request.headers.get("cookie"))
        result = services.id_sync.handle(parsed, cookies)
    except Exception:  # noqa: BLE001 - answered, never a 5xx of ours
        logger.exception("unexpected error in /ibs")
        return gif_response(request, [error(0)])
    set_cookies: list[str] = []
    if result.uuid_cookie and result.synced_dpid is not None:
        entries = parse_sync_cookie(cookies.get(settings.cookie_sync_name))
        entries = add_sync_entry(entries, result.synced_dpid, int(result.now * 1000))
        common = dict(secure=settings.cookie_secure, domain=settings.cookie_domain)
        set_cookies = [
            set_cookie(settings.cookie_uuid_name, result.uuid_cookie, UUID_COOKIE_DAYS,
                       result.now, **common),  # type: ignore[arg-type]
            set_cookie(settings.cookie_sync_name, format_sync_cookie(entries), SYNC_COOKIE_DAYS,
                       result.now, **common),  # type: ignore[arg-type]
        ]
    logger.info(json.dumps(result.log or {"ibs": None, "errors": [e.code for e in result.errors]}))
    if result.redirect:
        headers: dict[str, str | list[str]] = {
            "Location": result.redirect,
            "Cache-Control": "no-store",
            "Set-Cookie": set_cookies,
        }
        if result.errors:
            headers["X-Error"] = ",".join(str(e.code) for e in result.errors)
        return Response(body="", status_code=302, headers=headers)
    return gif_response(request, result.errors, set_cookies)


def _opt_out() -> Response:
    request = privacy.current_request
    services = get_services()
    settings = services.settings
    try:
        parsed = parse_dcs_request(request, derive_signals=False)
        cookies = parse_cookie_header(request.headers.get("cookie"))
        result = services.opt_out.handle(parsed, cookies)
    except Exception:  # noqa: BLE001 - answered, never a 5xx of ours
        logger.exception("unexpected error in opt-out")
        return gif_response(request, [error(0)])
    set_cookies: list[str] = []
    if result.global_opt_out:
        common = dict(secure=settings.cookie_secure, domain=settings.cookie_domain)
        set_cookies = [
            set_cookie(name, OPT_OUT_VALUE, OPT_OUT_COOKIE_DAYS, result.now,
                       **common)  # type: ignore[arg-type]
            for name in (settings.cookie_uuid_name, settings.cookie_sync_name)
        ]
    logger.info(json.dumps({"optout": "global" if result.global_opt_out else "partner",
                            "count": len(result.opted_out),
                            "errors": [e.code for e in result.errors]}))
    return gif_response(request, result.errors, set_cookies)


@privacy.route("/demoptout", methods=["GET"])
def demoptout() -> Response:
    return _opt_out()


@privacy.route("/demoptout.jpg", methods=["GET"])
def demoptout_jpg() -> Response:
    return _opt_out()
