"""``d_blob`` of ``/id`` (identity.md 1): an opaque HMAC of the MID with a per-stage secret, so a
client cannot forge one for another MID. The secret comes from an SSM SecureString on AWS
stages (read through an injected client, cached for the catalog refresh interval), else from
the environment (local stack, tests); see :class:`chalicelib.config.IdentitySecretSettings`.
No secret, or an unreadable parameter: the answer simply has no ``d_blob``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
import time
from typing import Any, Callable, Mapping

from chalicelib.config import IdentitySecretSettings

logger = logging.getLogger("rtdcs.identity")
BLOB_CHARS = 43  # base64url of a SHA-256 HMAC, unpadded (identity.md: at most 64)


def sign_blob(secret: str, mid: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), mid.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:BLOB_CHARS]


def _default_ssm_client() -> Any:
    from chalicelib.admin.auth import default_ssm_client

    return default_ssm_client()


class BlobSigner:
    """Signs MIDs with the stage's secret; checks a blob a client sends back."""

    def __init__(
        self,
        ssm_client_factory: Callable[[], Any] = _default_ssm_client,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ssm_client_factory = ssm_client_factory
        self._env = env
        self._clock = clock
        self._lock = threading.Lock()
        self._client: Any = None
        self._cached: tuple[str, str, float] | None = None  # (parameter, value, read at)

    def secret(self) -> str | None:
        settings = IdentitySecretSettings.from_env(self._env)
        if settings.secret_parameter:
            return self._from_ssm(settings.secret_parameter, settings.refresh_seconds)
        return settings.secret or None

    def sign(self, mid: str) -> str | None:
        secret = self.secret()
        return sign_blob(secret, mid) if secret else None

    def valid(self, mid: str, blob: str) -> bool:
        expected = self.sign(mid)
        return expected is not None and hmac.compare_digest(expected.encode(), blob.encode())

    def _from_ssm(self, name: str, refresh_s: float) -> str | None:
        with self._lock:
            cached = self._cached
            if cached is not None and cached[0] == name and self._clock() - cached[2] < refresh_s:
                return cached[1] or None
            try:
                if self._client is None:
                    self._client = self._ssm_client_factory()
                answer = self._client.get_parameter(Name=name, WithDecryption=True)
                value = str(answer["Parameter"]["Value"])
            except Exception as exc:  # noqa: BLE001 - no blob this time; retried next call
                logger.warning("d_blob secret unavailable: %s reading %s",
                               type(exc).__name__, name)
                return None
            self._cached = (name, value, self._clock())
            return value or None
