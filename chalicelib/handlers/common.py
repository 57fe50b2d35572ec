"""HTTP helpers shared by the DCS blueprints: request parsing and GIF answers."""

from __future__ import annotations

from typing import Any, Sequence

from chalice import Response

from chalicelib.dcs.content_types import FORM_TYPES
from chalicelib.dcs.errors import DcsError
from chalicelib.dcs.params import ParsedRequest, derive_header_signals, parse_request
from chalicelib.dcs.response import render


def unsupported_post(request: Any) -> Response | None:
    """415 for a POST whose body is not a form (dcs-protocol.md 3); None otherwise."""
    if request.method != "POST":
        return None
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type in FORM_TYPES:
        return None
    return Response(body={"error": "unsupported Content-Type", "expected": list(FORM_TYPES)},
                    status_code=415)


def parse_dcs_request(request: Any, derive_signals: bool = True) -> ParsedRequest:
    """Section 3 parsing of a Chalice request (GET query; POST query + raw body)."""
    params = request.query_params  # a Chalice MultiDict (or None): keep repeated keys
    query = {key: list(params.getlist(key)) for key in params} if params else {}
    body = request.raw_body if request.method == "POST" else None
    parsed = parse_request(request.context.get("path", "/"), query, body)
    if derive_signals and not parsed.discard:
        derive_header_signals(parsed, request.headers)
    return parsed


def gif_response(
    request: Any,
    errors: Sequence[DcsError],
    cookies: Sequence[str] = (),
    status: int = 200,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """The 1x1 GIF (or an empty body where Accept rules it out), X-Error, no-store."""
    rendered = render({}, errors, rtbd=None, callback=None, accept=request.headers.get("accept"))
    headers: dict[str, str | list[str]] = {**rendered.headers, **(extra_headers or {})}
    if cookies:
        headers["Set-Cookie"] = list(cookies)
    body: bytes | str = rendered.body if rendered.body else ""
    return Response(body=body, status_code=status, headers=headers)
