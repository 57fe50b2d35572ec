"""Request authentication for outbound calls (provider-contract.md 1-2): HMAC or bearer.

``auth`` objects name a secret (``secretRef``), never hold it. The secret itself comes from
:mod:`chalicelib.providers.secrets` at call time and only ever lands in a request header.
Pure: no I/O. Also used for S2S destinations ("auth as for providers").
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from typing import Any, Mapping, NamedTuple

# The one definition of an ``auth`` block: the admin schema (admin/schemas.py) builds its
# validation from these, so nothing is saved that delivery would then refuse.
DEFAULT_HMAC_HEADER = "X-Signature"
HEADER_NAME_CHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]"  # RFC 7230 token
HEADER_NAME_MAX = 64
# Compiled on first use (an auth block), not at import (cold start, issue 17).
_TOKEN_PATTERN = rf"^{HEADER_NAME_CHARS}{{1,{HEADER_NAME_MAX}}}$"
_compiled = functools.cache(re.compile)
# Headers the engine sets itself; an auth header may not replace them.
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "x-request-deadline-ms", "authorization"})
PROVIDER_HMAC_ALGORITHMS = ("sha256",)  # provider-contract.md
DESTINATION_HMAC_ALGORITHMS = ("sha256", "sha384", "sha512")  # destinations.md, S2S
_DIGESTS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


class AuthConfigError(ValueError):
    """An ``auth`` object is malformed. The message never holds a secret (there is none)."""


# Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
class AuthSpec(NamedTuple):
    type: str  # hmac | bearer
    secret_ref: str
    header: str = DEFAULT_HMAC_HEADER  # hmac only
    algorithm: str = "sha256"  # hmac only


def parse_auth(raw: Any, algorithms: tuple[str, ...] = PROVIDER_HMAC_ALGORITHMS
               ) -> AuthSpec | None:
    """The ``auth`` field of a provider, or of an S2S destination with
    ``DESTINATION_HMAC_ALGORITHMS`` (admin-API names); None when absent."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise AuthConfigError("auth must be an object")
    kind = raw.get("type")
    ref = raw.get("secretRef")
    if not isinstance(ref, str) or not ref.strip():
        raise AuthConfigError("auth.secretRef must be a non-empty string")
    if kind == "bearer":
        return AuthSpec("bearer", ref.strip())
    if kind != "hmac":
        raise AuthConfigError("auth.type must be hmac or bearer")
    algorithm = str(raw.get("algorithm", "sha256")).lower()
    if algorithm not in algorithms:
        raise AuthConfigError(f"auth.algorithm must be one of {', '.join(algorithms)}")
    header = raw.get("header", DEFAULT_HMAC_HEADER)
    if not isinstance(header, str) or not _compiled(_TOKEN_PATTERN).match(header):
        raise AuthConfigError("auth.header must be an HTTP header name")
    if header.lower() in RESERVED_HEADERS:
        raise AuthConfigError(f"auth.header may not be {header}")
    return AuthSpec("hmac", ref.strip(), header, algorithm)


def hmac_signature(secret: str, body: bytes, algorithm: str = "sha256") -> str:
    """base64(HMAC-<algorithm>(secret, raw body)), the value of the signature header."""
    digest = hmac.new(secret.encode("utf-8"), body, _DIGESTS[algorithm]).digest()
    return base64.b64encode(digest).decode("ascii")


def auth_headers(spec: AuthSpec, secret: str, body: bytes) -> dict[str, str]:
    if spec.type == "bearer":
        return {"Authorization": f"Bearer {secret}"}
    return {spec.header: hmac_signature(secret, body, spec.algorithm)}


def verify_hmac(secret: str, body: bytes, header_value: str | None) -> bool:
    """Constant-time check of a signature header (for providers and tests)."""
    if not header_value:
        return False
    return hmac.compare_digest(hmac_signature(secret, body), header_value.strip())
