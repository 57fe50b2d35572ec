"""AWS Signature Version 4 for one service and region, the headers of a request signed.

What botocore's ``SigV4Auth`` computes, for the requests ``dynamo_http`` sends: every header
given is signed (names lowercased, values trimmed, sorted), the payload hash is the SHA-256
of the body, and the signing key is derived once per day and secret (botocore derives it
per request: four HMACs). Tests compare its signatures with botocore's and with AWS's
published test suite.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Mapping, Protocol
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"


class Credentials(Protocol):
    """What is signed with: botocore's frozen credentials (``ReadOnlyCredentials``)."""

    @property
    def access_key(self) -> str: ...

    @property
    def secret_key(self) -> str: ...

    @property
    def token(self) -> str | None: ...


def amz_date(epoch_s: float) -> str:
    """The ``X-Amz-Date`` of ``epoch_s`` (UTC, whole seconds): ``YYYYMMDDTHHMMSSZ``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch_s))


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def canonical_query(query: str) -> str:
    """The canonical form of a query string (``a=1&b=2``): pairs sorted, RFC 3986 encoded."""
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        pairs.append((quote(name, safe="-_.~"), quote(value, safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


class SigV4Signer:
    """Signs requests for ``service`` in ``region`` (thread-safe: the key cache is a dict
    replaced whole)."""

    __slots__ = ("service", "region", "_keys")

    def __init__(self, service: str, region: str) -> None:
        self.service = service
        self.region = region
        self._keys: dict[tuple[str, str], bytes] = {}

    def signing_key(self, secret_key: str, day: str) -> bytes:
        key = self._keys.get((secret_key, day))
        if key is None:
            key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode("utf-8"), day),
                                        self.region), self.service), "aws4_request")
            self._keys = {(secret_key, day): key}  # one day and secret at a time
        return key

    def sign(self, method: str, path: str, query: str, headers: Mapping[str, str],
             body: bytes, credentials: Credentials, stamp: str) -> dict[str, str]:
        """``headers`` with ``X-Amz-Date`` (``stamp``), ``X-Amz-Security-Token`` (when the
        credentials carry one) and ``Authorization`` added. ``headers`` must hold ``Host``;
        ``path`` is already URI-encoded, as sent."""
        signed = dict(headers)
        signed["X-Amz-Date"] = stamp
        if credentials.token:
            signed["X-Amz-Security-Token"] = credentials.token
        canonical_headers = sorted(
            (name.lower(), " ".join(str(value).split())) for name, value in signed.items())
        names = ";".join(name for name, _ in canonical_headers)
        canonical = "\n".join((
            method,
            path or "/",
            canonical_query(query),
            "".join(f"{name}:{value}\n" for name, value in canonical_headers),
            names,
            hashlib.sha256(body).hexdigest(),
        ))
        day = stamp[:8]
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = "\n".join((ALGORITHM, stamp, scope,
                             hashlib.sha256(canonical.encode("utf-8")).hexdigest()))
        signature = hmac.new(self.signing_key(credentials.secret_key, day),
                             to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        signed["Authorization"] = (f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
                                   f"SignedHeaders={names}, Signature={signature}")
        return signed
