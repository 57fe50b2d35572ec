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
import time
from typing import Any, Callable, Mapping

from chalicelib.config import IdentitySecretSettings
from chalicelib.runtime.ssm_cached import CachedParameter

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
        self._env = env
        self._parameter = CachedParameter(ssm_client_factory, clock)

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
        try:
            return self._parameter.get(name, refresh_s) or None
        except Exception as exc:  # noqa: BLE001 - no blob this time; retried next call
            logger.warning("d_blob secret unavailable: %s reading %s", type(exc).__name__, name)
            return None
