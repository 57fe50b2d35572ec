"""Request authentication for outbound calls (provider-contract.md 1-2): HMAC or bearer.

``auth`` objects name a secret (``secretRef``), never hold it. The secret itself comes from
:mod:`chalicelib.providers.secrets` at call time and only ever lands in a request header.
Pure: no I/O. Also used for S2S destinations ("auth as for providers").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any, Mapping, NamedTuple

DEFAULT_HMAC_HEADER = "X-Signature"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")  # an HTTP header name
# Headers the engine sets itself; an auth header may not replace them.
_RESERVED = {"content-type", "content-length", "host", "x-request-deadline-ms", "authorization"}


class AuthConfigError(ValueError):
    """An ``auth`` object is malformed. The message never holds a secret (there is none)."""


# Not a dataclass: import cost on a cold start (chalicelib/records.py).
class AuthSpec(NamedTuple):
    type: str  # hmac | bearer
    secret_ref: str
    header: str = DEFAULT_HMAC_HEADER  # hmac only
    algorithm: str = "sha256"  # hmac only


def parse_auth(raw: Any) -> AuthSpec | None:
    """The ``auth`` field of a provider (admin-API names); None when absent."""
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
    if algorithm != "sha256":
        raise AuthConfigError("auth.algorithm must be sha256")
    header = raw.get("header", DEFAULT_HMAC_HEADER)
    if not isinstance(header, str) or not _TOKEN_RE.match(header):
        raise AuthConfigError("auth.header must be an HTTP header name")
    if header.lower() in _RESERVED:
        raise AuthConfigError(f"auth.header may not be {header}")
    return AuthSpec("hmac", ref.strip(), header, algorithm)


def hmac_signature(secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, raw body)), the value of the signature header."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def auth_headers(spec: AuthSpec, secret: str, body: bytes) -> dict[str, str]:
    if spec.type == "bearer":
        return {"Authorization": f"Bearer {secret}"}
    return {spec.header: hmac_signature(secret, body)}


def verify_hmac(secret: str, body: bytes, header_value: str | None) -> bool:
    """Constant-time check of a signature header (for providers and tests)."""
    if not header_value:
        return False
    return hmac.compare_digest(hmac_signature(secret, body), header_value.strip())
