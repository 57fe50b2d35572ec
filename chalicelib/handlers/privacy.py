"""``/ibs`` (ID sync) and ``/demoptout`` / ``/demoptout.jpg`` (opt-out): HTTP in/out only
(routes in routes/privacy.py)."""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Mapping, TypeVar

from chalice import Response

from chalicelib.config import Settings
from chalicelib.dcs.cookies import UUID_COOKIE_DAYS, parse_cookie_header, set_cookie
from chalicelib.dcs.errors import error
from chalicelib.dcs.ids import OPT_OUT_VALUE
from chalicelib.dcs.params import ParsedRequest
from chalicelib.destinations.syncs import SYNC_COOKIE_DAYS, updated_sync_cookie
from chalicelib.handlers.common import gif_response, parse_dcs_request
from chalicelib.runtime.services import get_services

logger = logging.getLogger("rtdcs.privacy")
OPT_OUT_COOKIE_DAYS = 3650
Result = TypeVar("Result")


def _handled(
    request: Any, handle: Callable[[ParsedRequest, Mapping[str, str]], Result],
) -> tuple[Result | None, dict[str, str]]:
    """Parse the request and run ``handle``; (None, ...) after an unexpected exception."""
    cookies = parse_cookie_header(request.headers.get("cookie"))
    try:
        return handle(parse_dcs_request(request, derive_signals=False), cookies), cookies
    except Exception:  # noqa: BLE001 - answered with error 0, never a 5xx of ours
        logger.exception("unexpected error in %s", request.context.get("path"))
        return None, cookies


def _cookie(settings: Settings, name: str, value: str, days: int, now: float) -> str:
    return set_cookie(name, value, days, now, secure=settings.cookie_secure,
                      domain=settings.cookie_domain)


def handle_ibs(request: Any) -> Response:
    services = get_services()
    settings = services.settings
    result, cookies = _handled(
        request, lambda parsed, jar: services.id_sync.handle(parsed, jar, request.headers))
    if result is None:
        return gif_response(request, [error(0)])
    set_cookies: list[str] = []
    if result.uuid_cookie and result.synced_dpid is not None:
        sync = updated_sync_cookie(cookies.get(settings.cookie_sync_name), result.synced_dpid,
                                   result.now)
        set_cookies = [
            _cookie(settings, settings.cookie_uuid_name, result.uuid_cookie, UUID_COOKIE_DAYS,
                    result.now),
            _cookie(settings, settings.cookie_sync_name, sync, SYNC_COOKIE_DAYS, result.now),
        ]
    logger.info(json.dumps(result.log or {"ibs": None, "errors": [e.code for e in result.errors]}))
    if not result.redirect:
        return gif_response(request, result.errors, set_cookies)
    headers: dict[str, Any] = {"Location": result.redirect, "Cache-Control": "no-store",
                               "Set-Cookie": set_cookies}
    if result.errors:
        headers["X-Error"] = ",".join(str(e.code) for e in result.errors)
    return Response(body="", status_code=302, headers=headers)


def handle_opt_out(request: Any) -> Response:
    services = get_services()
    settings = services.settings
    result, _ = _handled(request, services.opt_out.handle)
    if result is None:
        return gif_response(request, [error(0)])
    set_cookies = [
        _cookie(settings, name, OPT_OUT_VALUE, OPT_OUT_COOKIE_DAYS, result.now)
        for name in (settings.cookie_uuid_name, settings.cookie_sync_name)
    ] if result.global_opt_out else []
    logger.info(json.dumps({"optout": "global" if result.global_opt_out else "partner",
                            "count": len(result.opted_out),
                            "errors": [e.code for e in result.errors]}))
    return gif_response(request, result.errors, set_cookies)

