"""Bearer-token auth for ``/v1`` (admin-api.md, Auth).

The expected token comes from the SSM SecureString parameter named by
``RTDCS_ADMIN_TOKEN_PARAMETER`` (AWS; read through an injected client, cached for the catalog
refresh interval so a rotation takes effect within it), else from ``RTDCS_ADMIN_TOKEN`` (local
stack, tests). No token configured means every call is refused (fail closed). The comparison
is constant-time.

The check runs inside the Lambda handler (``admin_view`` in every admin handler, see
handlers/admin.py), so ``chalice local``, ``chalice.test.Client`` and AWS behave the same.
"""

from __future__ import annotations

import hmac
import time
from typing import Any, Callable, Mapping

from chalicelib.admin.errors import ApiError
from chalicelib.config import AdminAuthSettings
from chalicelib.runtime.ssm_cached import CachedParameter

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="rtdcs-admin"'}


class TokenUnavailable(RuntimeError):
    """The configured SSM parameter could not be read (the call is refused, 503)."""


def default_ssm_client() -> Any:
    from botocore.config import Config

    from chalicelib.runtime import aws

    config = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2})
    return aws.client("ssm", config=config)


class AdminTokenSource:
    """The token callers must present. Reads the environment on every call (cheap; tests
    change it), and the SSM parameter at most once per refresh interval (the catalog's,
    ``RTDCS_CATALOG_REFRESH_SECONDS``, 5 s by default): after a rotation the new token works,
    and the old one stops, within that interval on every container."""

    def __init__(
        self,
        ssm_client_factory: Callable[[], Any] = default_ssm_client,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._env = env
        self._parameter = CachedParameter(ssm_client_factory, clock)

    def token(self) -> str | None:
        settings = AdminAuthSettings.from_env(self._env)
        if settings.token_parameter:
            return self._from_ssm(settings.token_parameter, settings.refresh_seconds) or None
        return settings.token or None

    def _from_ssm(self, name: str, refresh_s: float) -> str:
        try:
            return self._parameter.get(name, refresh_s)
        except Exception as exc:  # noqa: BLE001 - any failure: refuse, retry next call
            raise TokenUnavailable(f"{type(exc).__name__} reading {name}") from exc


def bearer_token(headers: Mapping[str, str]) -> str | None:
    raw = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if raw is None:
        return None
    scheme, _, token = raw.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


def authorize(headers: Mapping[str, str], source: AdminTokenSource) -> None:
    """Raise a 401 (or 503) :class:`ApiError` unless the request carries the admin token."""
    try:
        expected = source.token()
    except TokenUnavailable as exc:
        raise ApiError(503, "auth_unavailable", "the admin token cannot be read now; retry "
                       "later") from exc
    presented = bearer_token(headers)
    if presented is None:
        raise ApiError(401, "unauthorized", "missing Authorization: Bearer <token>",
                       headers=_CHALLENGE)
    # Compared even when no token is configured, so timing tells nothing; then refused.
    ok = hmac.compare_digest(
        presented.encode("utf-8", "replace"), (expected or "").encode("utf-8", "replace")
    )
    if not ok or not expected:
        raise ApiError(401, "unauthorized", "invalid admin token", headers=_CHALLENGE)
