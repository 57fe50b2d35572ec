"""``/event`` (GET, POST, OPTIONS): HTTP in, pipeline, HTTP out (routes in routes/dcs.py)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Mapping

from chalice import Response

from chalicelib.config import Settings
from chalicelib.dcs.cookies import UUID_COOKIE_DAYS, parse_cookie_header, set_cookie
from chalicelib.dcs.errors import error
from chalicelib.dcs.ids import new_tid
from chalicelib.dcs.media import CLICK, IMPRESSION, click_target, media_event
from chalicelib.dcs.params import ParsedRequest, derived_country
from chalicelib.dcs.response import render
from chalicelib.debug.overview import event_stats
from chalicelib.handlers.common import gif_response, parse_dcs_request, unsupported_post
from chalicelib.pipeline import EventInput, EventResult
from chalicelib.providers.fanout import Outcome
from chalicelib.runtime import observability
from chalicelib.runtime.services import get_services

logger = logging.getLogger("rtdcs.event")


def cors_headers(settings: Settings, headers: Mapping[str, str]) -> dict[str, str]:
    origin = {k.lower(): v for k, v in headers.items()}.get("origin")
    allowed = settings.cors_allowed_origins
    if not origin or not ("*" in allowed or origin in allowed):
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": "X-Error, Server-Timing",
        "Vary": "Origin",
    }


def server_timing(outcomes: list[Outcome], total_ms: float | None = None,
                  mode: str = "names") -> str:
    """Provider latencies for page tools (the demo) in the standard Server-Timing header.
    ``mode``: ``names`` (provider names, for the local demo), ``anonymous`` (provider ids
    and outcomes only: a page must not learn who the data partners are) or ``off``."""
    if mode == "off":
        return ""
    parts = [
        f'rt-{o.pid};dur={o.latency_ms:.1f};desc="{_quote_safe(o.name)}: {o.kind}"'
        if mode == "names" else f'rt-{o.pid};dur={o.latency_ms:.1f};desc="{o.kind}"'
        for o in outcomes
    ]
    if outcomes:
        slowest = max(o.latency_ms for o in outcomes)
        parts.append(f"rt-total;dur={slowest if total_ms is None else total_ms:.1f}")
    return ", ".join(parts)


def _quote_safe(text: str) -> str:
    return "".join(c for c in text if c not in '"\\\r\n')[:64]


def _response(
    result: EventResult, parsed: ParsedRequest, request: Any, gif: bool = False
) -> Response:
    """The answer in the requested form; ``gif``: an impression pixel, always the GIF."""
    settings = get_services().settings
    rendered = render(
        result.fields,
        result.errors,
        rtbd=None if gif else parsed.control("d_rtbd"),
        callback=None if gif else parsed.control("d_cb"),
        accept=request.headers.get("accept"),
    )
    headers: dict[str, str | list[str]] = {
        **rendered.headers,
        **cors_headers(settings, request.headers),
    }
    if result.uuid_cookie:
        headers["Set-Cookie"] = set_cookie(
            settings.cookie_uuid_name,
            result.uuid_cookie,
            UUID_COOKIE_DAYS,
            result.now,
            secure=settings.cookie_secure,
            domain=settings.cookie_domain,
        )
    if result.status == 429:
        headers["Retry-After"] = "1"
    timing = server_timing(result.outcomes, mode=settings.server_timing)
    if timing:
        headers["Server-Timing"] = timing
    # Chalice sends bytes only for binary types (the GIF); text goes out as str.
    is_binary = rendered.headers.get("Content-Type", "").startswith("image/")
    body: bytes | str = rendered.body if is_binary else rendered.body.decode("utf-8")
    return Response(body=body, status_code=result.status, headers=headers)


def handle_event(request: Any) -> Response:
    services = get_services()
    refused = unsupported_post(request)
    if refused is not None:
        return refused
    parsed = ParsedRequest()
    media = None
    try:
        parsed = parse_dcs_request(request, derive_signals=False)
        media = None if parsed.discard else media_event(parsed)
        if media == CLICK:
            return _click_response(parsed, request, services.settings)
        cookies = parse_cookie_header(request.headers.get("cookie"))
        country = derived_country(request.headers)
        result = services.pipeline.handle(
            EventInput(parsed, cookies, country, dict(request.headers))
        )
    except Exception:  # noqa: BLE001 - never a 5xx of ours: error 0 (dcs-protocol.md 4.7)
        logger.exception("unexpected error in /event")
        result = EventResult(
            fields={"dcs_region": services.settings.dcs_region, "tid": new_tid(), "stuff": []},
            errors=[error(0)],
            stopped=True,
            now=time.time(),
        )
    _debug(services.catalog.current(), result, parsed)  # before the line: it counts failures
    observability.event_done(result)  # the one JSON log line (no p_ data) + metrics
    return _response(result, parsed, request, gif=media == IMPRESSION)


def _debug(catalog: Any, result: EventResult, parsed: ParsedRequest) -> None:
    """The console (chalicelib/debug): the overview's in-memory numbers; then nothing more
    unless the catalog snapshot carries a capture setting, and then one PutItem if it names
    this event's UUID."""
    try:
        event_stats().record((time.time() - result.now) * 1000 if result.now else 0.0,
                             [e.code for e in result.errors],
                             (result.log.get("privacy") or {}).get("outcome"))
        if catalog is None or not catalog.raw.get("debug"):
            return
        from chalicelib.debug.capture import capture_event
        from chalicelib.debug.wiring import capture_store

        capture_event(catalog, result, parsed, capture_store(), time.time())
    except Exception:  # noqa: BLE001 - the debugger must never break an answer
        logger.exception("event capture failed")
        observability.metrics().count("CaptureWriteFailed")  # in this event's line


def _click_response(parsed: ParsedRequest, request: Any, settings: Settings) -> Response:
    """A media click is not evaluated: 302 to its checked target, or the GIF."""
    click = click_target(parsed, settings.click_redirect_domains, settings.dcs_region)
    logger.info(json.dumps({"click": bool(click.location),
                            "errors": [e.code for e in click.errors]}))
    if click.location is None:
        return gif_response(request, click.errors)
    return Response(body="", status_code=302,
                    headers={"Location": click.location, "Cache-Control": "no-store"})


def handle_preflight(request: Any) -> Response:
    headers: dict[str, str | list[str]] = {**cors_headers(get_services().settings, request.headers)}
    if headers:
        headers.update(
            {
                "Access-Control-Allow-Methods": "GET, POST",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": "600",
            }
        )
    return Response(body="", status_code=204, headers=headers)
