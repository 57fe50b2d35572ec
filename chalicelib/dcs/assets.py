"""The static files the public routes serve (tag, iframe, demo), read once per container."""

from __future__ import annotations

import functools
from pathlib import Path

from chalice import Response

_STATIC = Path(__file__).resolve().parent.parent / "static"


@functools.lru_cache(maxsize=None)
def _static(name: str) -> str:
    """Read once per container: these files ship inside chalicelib/."""
    return (_STATIC / name).read_text(encoding="utf-8")


def static_asset(
    name: str, content_type: str, max_age: int, extra: dict[str, str] | None = None
) -> Response:
    headers: dict[str, str | list[str]] = {
        "Content-Type": content_type,
        "Cache-Control": f"public, max-age={max_age}",
    }
    headers.update(extra or {})
    return Response(body=_static(name), status_code=200, headers=headers)
