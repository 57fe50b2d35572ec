"""rtdcs cookies (dcs-protocol.md section 8)."""

from __future__ import annotations

from email.utils import formatdate
from http.cookies import CookieError, SimpleCookie

UUID_COOKIE_DAYS = 180


def parse_cookie_header(header: str | None) -> dict[str, str]:
    if not header:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        # One malformed cookie must not hide the others: fall back to a plain split.
        pairs = (part.split("=", 1) for part in header.split(";") if "=" in part)
        return {k.strip(): v.strip() for k, v in pairs}
    return {key: morsel.value for key, morsel in jar.items()}


def set_cookie(
    name: str, value: str, days: int, now: float, *, secure: bool, domain: str = ""
) -> str:
    seconds = days * 86400
    parts = [
        f"{name}={value}",
        "Path=/",
        f"Max-Age={seconds}",
        f"Expires={formatdate(now + seconds, usegmt=True)}",
        "HttpOnly",
    ]
    if secure:
        parts += ["Secure", "SameSite=None"]
    if domain:
        parts.append(f"Domain={domain}")
    return "; ".join(parts)
