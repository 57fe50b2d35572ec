"""Where a DCS call may send the visitor: ``/ibs`` ``redir`` and media-click ``d_rd``."""

from __future__ import annotations

import re
from typing import Sequence
from urllib.parse import urlsplit

# Browsers read a URL more loosely than urlsplit: they treat "\" as "/" and drop tabs and
# newlines, so "https://evil.example\.brand.example/" passes a host check on urlsplit's
# reading but takes the visitor to evil.example. Such URLs are refused outright, as are
# control characters (they would also end up in the Location header).
_UNSAFE = re.compile(r"[\\\x00-\x20\x7f]")
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


def redirect_target(
    url: str, allowed_domains: Sequence[str], allow_http: bool
) -> str | None:
    """``url`` if it is absolute https (or http with ``allow_http``), has no userinfo (not even
    an empty one), no macro or percent sign in its authority, a numeric port if any, no
    backslash, space or control character, and its host is a plain DNS name on an allowed
    domain (exact, or ``*.suffix``); else None (error 903). Check the URL a browser will get:
    after macro substitution, and the template too (macros only in path, query, fragment)."""
    if _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in (("https", "http") if allow_http else ("https",)):
        return None
    if "@" in parts.netloc or "$" in parts.netloc or "%" in parts.netloc:
        return None  # userinfo (even empty: "host:@evil"), or a macro, in the authority
    try:
        _ = parts.port  # a port must be a number (urlsplit raises otherwise)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not _HOST.fullmatch(host) or parts.username or parts.password:
        return None
    for domain in allowed_domains:
        domain = domain.lower()
        if domain.startswith("*."):
            if host.endswith(domain[1:]):
                return url
        elif host == domain:
            return url
    return None
