"""rtdcs cookies (dcs-protocol.md section 8)."""

from __future__ import annotations

import re
from email.utils import formatdate

UUID_COOKIE_DAYS = 180

# A header of plain ``name=value`` pairs (what rtdcs and most sites set) gives exactly what
# SimpleCookie would, without loading http.cookies (~1 ms of a cold start): names and values
# of token characters only, none a cookie attribute name. Anything else: SimpleCookie.
_PAIR = r"[A-Za-z0-9_-]+=[A-Za-z0-9_.-]*\s*"
_PLAIN_PAIRS = re.compile(rf"\s*{_PAIR}(?:;\s*{_PAIR})*;?\s*")
_ATTRIBUTES = frozenset({"expires", "path", "comment", "domain", "max-age", "secure",
                         "httponly", "version", "samesite"})  # http.cookies.Morsel._reserved


def parse_cookie_header(header: str | None) -> dict[str, str]:
    if not header:
        return {}
    if _PLAIN_PAIRS.fullmatch(header):
        plain: dict[str, str] = {}
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            if name:
                plain[name] = value  # the last of a repeated name, as SimpleCookie
        if not any(name.lower() in _ATTRIBUTES for name in plain):
            return plain
    return parse_with_simple_cookie(header)


def parse_with_simple_cookie(header: str) -> dict[str, str]:
    """The general parser (and the fast path's reference: tests/unit/test_cookie_header.py)."""
    from http.cookies import CookieError, SimpleCookie

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
