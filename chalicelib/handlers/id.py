"""``/id`` (GET, POST, OPTIONS): HTTP in, :class:`~chalicelib.identity.id_service.IdService`,
HTTP out (routes in routes/id.py). Always JSON (CORS with credentials for allowed origins, as
on ``/event``), or JSONP with a valid ``d_cb``. VisitorAPI.js names its JSONP callback
``s_c_il[<n>].<method>``, so ``/id`` also accepts numeric indexes in the callback name."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from chalice import Response

from chalicelib.dcs.cookies import UUID_COOKIE_DAYS, parse_cookie_header, set_cookie
from chalicelib.dcs.errors import error
from chalicelib.dcs.ids import new_tid
from chalicelib.dcs.params import ParsedRequest
from chalicelib.dcs.response import render
from chalicelib.handlers.common import parse_dcs_request, unsupported_post
from chalicelib.handlers.event import cors_headers, handle_preflight
from chalicelib.identity.id_service import IdResult
from chalicelib.runtime.services import get_services

logger = logging.getLogger("rtdcs.id")
ID_CALLBACK_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$.]*(?:\[[0-9]{1,6}\][A-Za-z0-9_$.]*)*$")
MAX_CALLBACK = 64


def valid_callback(name: str | None) -> bool:
    return name is not None and len(name) <= MAX_CALLBACK and bool(ID_CALLBACK_RE.match(name))


def _response(result: IdResult, parsed: ParsedRequest, request: Any) -> Response:
    settings = get_services().settings
    callback = parsed.control("d_cb")
    errors = list(result.errors)
    if callback is not None and not valid_callback(callback):
        errors.append(error(901))
    rendered = render(result.fields, errors, rtbd="json", callback=None, accept=None)
    headers: dict[str, str | list[str]] = {**rendered.headers,
                                            **cors_headers(settings, request.headers)}
    body = rendered.body.decode("utf-8")
    if callback is not None and valid_callback(callback):
        headers["Content-Type"] = "application/javascript; charset=utf-8"
        headers["X-Content-Type-Options"] = "nosniff"
        body = f"/**/{callback}({body});"
    if result.uuid_cookie:
        headers["Set-Cookie"] = set_cookie(
            settings.cookie_uuid_name, result.uuid_cookie, UUID_COOKIE_DAYS, result.now,
            secure=settings.cookie_secure, domain=settings.cookie_domain)
    if result.status == 429:
        headers["Retry-After"] = "1"
    return Response(body=body, status_code=result.status, headers=headers)


def handle_id(request: Any) -> Response:
    services = get_services()
    refused = unsupported_post(request)
    if refused is not None:
        return refused
    parsed = ParsedRequest()
    try:
        parsed = parse_dcs_request(request, derive_signals=False)
        cookies = parse_cookie_header(request.headers.get("cookie"))
        result = services.id_service.handle(parsed, cookies, dict(request.headers))
    except Exception:  # noqa: BLE001 - never a 5xx of ours: error 0
        logger.exception("unexpected error in /id")
        result = IdResult({"dcs_region": services.settings.dcs_region, "tid": new_tid()},
                          [error(0)], time.time())
        result.log = {"id": True, "errors": [0]}
    logger.info(json.dumps(result.log))
    return _response(result, parsed, request)


def handle_id_preflight(request: Any) -> Response:
    return handle_preflight(request)
