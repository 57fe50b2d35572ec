"""Rendering a DCS answer: JSON, JSONP or the 1x1 GIF (dcs-protocol.md 4.5, 4.6). Pure."""

from __future__ import annotations

import base64
import json
import re
from typing import Any, NamedTuple, Sequence

from chalicelib.dcs.errors import DcsError

CALLBACK_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$")
# The classic 43-byte transparent 1x1 GIF.
GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")


# Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
class Rendered(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


def _accepts_gif(accept: str | None) -> bool:
    """API Gateway (and Chalice) send a binary body only when Accept names a binary type;
    without one there is no way to send the GIF, so the body is empty."""
    if not accept:
        return False
    accept = accept.lower()
    return any(token in accept for token in ("image/gif", "image/*", "*/*"))


def render(
    fields: dict[str, Any],
    errors: Sequence[DcsError],
    *,
    rtbd: str | None,
    callback: str | None,
    accept: str | None,
) -> Rendered:
    headers = {"Cache-Control": "no-store"}
    if errors:
        headers["X-Error"] = ",".join(str(e.code) for e in errors)
    if rtbd != "json":
        if _accepts_gif(accept):
            headers["Content-Type"] = "image/gif"
            return Rendered(200, headers, GIF)
        headers["Content-Type"] = "text/plain; charset=utf-8"
        return Rendered(200, headers, b"")
    payload = dict(fields)
    if errors:
        payload["errors"] = [e.as_json() for e in errors]
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    if callback is not None and CALLBACK_RE.match(callback):
        headers["Content-Type"] = "application/javascript; charset=utf-8"
        headers["X-Content-Type-Options"] = "nosniff"
        return Rendered(200, headers, f"/**/{callback}({text});".encode("utf-8"))
    headers["Content-Type"] = "application/json; charset=utf-8"
    return Rendered(200, headers, text.encode("utf-8"))
