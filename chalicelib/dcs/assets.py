"""The static files the public routes serve (tag, iframe, demo), read once per container."""

from __future__ import annotations

import functools
from pathlib import Path

from chalice import Response

_STATIC = Path(__file__).resolve().parent.parent / "static"


@functools.lru_cache(maxsize=None)
def _static(name: str, compact: bool = False) -> str:
    """Read once per container: these files ship inside chalicelib/."""
    text = (_STATIC / name).read_text(encoding="utf-8")
    return compact_script(text) if compact else text


def compact_script(text: str) -> str:
    """The script without its indentation and whole-line ``//`` comments: what the page
    downloads stays small (tag.js: at most 10 KB) while the source stays readable. Line breaks
    stay, so automatic semicolon insertion reads the code as before; the script must not hold
    multi-line template literals (tests/routes/test_event_route.py serves and runs it)."""
    lines = (line.lstrip(" ") for line in text.split("\n"))
    return "\n".join(line for line in lines if not line.startswith("//"))


def static_asset(
    name: str, content_type: str, max_age: int, extra: dict[str, str] | None = None,
    compact: bool = False,
) -> Response:
    headers: dict[str, str | list[str]] = {
        "Content-Type": content_type,
        "Cache-Control": f"public, max-age={max_age}",
    }
    headers.update(extra or {})
    return Response(body=_static(name, compact), status_code=200, headers=headers)
