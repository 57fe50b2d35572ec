"""The console's static files (chalicelib/static/console), read once per container, with the
strict Content-Security-Policy they are served under (docs/console.md)."""

from __future__ import annotations

import functools
from pathlib import Path

from chalice import Response

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "static" / "console"
# No inline script or style, no eval, nothing from another origin; the console talks to /v1
# on its own origin only.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_HEADERS = {
    "Content-Security-Policy": CONSOLE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@functools.lru_cache(maxsize=None)
def _files() -> dict[str, Path]:
    """Served names (``app.js``, ``vendor/uPlot.iife.min.js``) to files: what is in the
    directory, with a known type; nothing else can be asked for."""
    return {
        path.relative_to(CONSOLE_DIR).as_posix(): path
        for path in CONSOLE_DIR.rglob("*")
        if path.is_file() and path.suffix in _TYPES
    }


@functools.lru_cache(maxsize=None)
def _read(name: str) -> str:
    return _files()[name].read_text(encoding="utf-8")


def console_file(name: str) -> Response:
    if name not in _files():
        return Response(body="not found", status_code=404,
                        headers={"Content-Type": "text/plain; charset=utf-8", **_HEADERS})
    cache = "no-cache" if name == "index.html" else "public, max-age=300"
    return Response(body=_read(name), status_code=200, headers={
        "Content-Type": _TYPES[_files()[name].suffix], "Cache-Control": cache, **_HEADERS})
