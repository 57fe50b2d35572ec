"""Where a DCS call may send the visitor: ``/ibs`` ``redir`` and media-click ``d_rd``."""

from __future__ import annotations

from typing import Sequence
from urllib.parse import urlsplit


def redirect_target(
    url: str, allowed_domains: Sequence[str], allow_http: bool
) -> str | None:
    """``url`` if it is absolute https (or http with ``allow_http``), has no credentials, and
    its host is an allowed domain (exact, or ``*.suffix``); else None (error 903)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in (("https", "http") if allow_http else ("https",)):
        return None
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        return None
    for domain in allowed_domains:
        domain = domain.lower()
        if domain.startswith("*."):
            if host.endswith(domain[1:]):
                return url
        elif host == domain:
            return url
    return None
