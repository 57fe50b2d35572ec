"""Deployment settings, read lazily from the environment: the one module that reads it.

Each setting ``a.b_c`` comes from ``RTDCS_A_B_C`` (admin-api.md, "Deployment settings").
:class:`Settings` is what the event path needs; :class:`WorkerSettings` the queue functions;
:class:`AdminAuthSettings` the admin token; :class:`InsightSettings` audience insight;
:class:`MetricsSettings` Powertools' names.
:func:`environment` is the process environment for the two readers that are not settings
(``env:`` secret references, and the log redaction of secret values).
Nothing here runs at import time: ``chalice.test.Client`` sets the stage's variables only
while a request runs, so settings are built per call (a handful of dict lookups).

``Settings`` is a NamedTuple, not a dataclass: import cost on a cold start
(chalicelib/core/records.py).
"""

# Annotations are evaluated (no ``from __future__ import annotations``): typing.NamedTuple
# then skips compiling a ForwardRef per field at import, a cold-start cost (issue 17).

import os
from typing import TYPE_CHECKING, Mapping, NamedTuple

if TYPE_CHECKING:  # the consent module loads with the event handler, not with app.py
    from chalicelib.consent.gates import ConsentSettings

# dcs-protocol.md 4.5: default dcs_region by AWS region.
_REGION_IDS = {
    "us-east-1": 7,
    "us-west-2": 9,
    "eu-west-1": 6,
    "ap-southeast-1": 3,
    "ap-southeast-2": 8,
    "ap-northeast-1": 11,
    "sa-east-1": 4,
    "ap-south-1": 12,
}


def environment() -> Mapping[str, str]:
    """The process environment (tests change it between calls: never cached)."""
    return os.environ


def aws_endpoint_url(env: Mapping[str, str] | None = None) -> str:
    """boto3's own ``AWS_ENDPOINT_URL`` (the local stack's moto server); part of cache keys."""
    return (os.environ if env is None else env).get("AWS_ENDPOINT_URL", "")


DYNAMODB_WIRES = ("auto", "http", "botocore")
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
               "all_proxy")
_ENDPOINT_VARS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB")


def dynamodb_wire(env: Mapping[str, str] | None = None) -> str:
    """``http`` or ``botocore``: the wire of the profile path's GetItem/PutItem
    (``chalicelib.store.dynamo``), from ``RTDCS_DYNAMODB_WIRE``: ``http``, ``botocore`` or
    ``auto`` (the default: ``http`` inside Lambda or when an endpoint is configured, else
    ``botocore``). A proxy in the environment means ``botocore``, which honours it."""
    env = os.environ if env is None else env
    chosen = (env.get("RTDCS_DYNAMODB_WIRE") or "auto").strip().lower()
    if chosen not in DYNAMODB_WIRES:
        raise ValueError(
            f"RTDCS_DYNAMODB_WIRE must be one of {', '.join(DYNAMODB_WIRES)}: {chosen!r}")
    if chosen == "auto":
        hosted = bool(env.get("AWS_LAMBDA_FUNCTION_NAME"))
        pointed = any(env.get(name) for name in _ENDPOINT_VARS)
        chosen = "http" if hosted or pointed else "botocore"
    if chosen == "http" and any(env.get(name) for name in _PROXY_VARS):
        chosen = "botocore"
    return chosen


def aws_ca_bundle(env: Mapping[str, str] | None = None) -> str:
    """botocore's ``AWS_CA_BUNDLE`` ("" when unset: botocore's own bundle)."""
    return (os.environ if env is None else env).get("AWS_CA_BUNDLE", "")


def _env_name(setting: str) -> str:
    return "RTDCS_" + setting.replace(".", "_").replace("-", "_").upper()


def _as_bool(raw: str) -> bool:
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _as_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


class Settings(NamedTuple):
    partner_id: str
    dcs_region: int
    profiles_table: str
    idmap_table: str
    catalog_table: str
    rt_budget_ms: int
    cookie_uuid_name: str
    cookie_sync_name: str
    cookie_secure: bool
    cookie_domain: str
    cors_allowed_origins: tuple[str, ...]
    expose_traits: bool
    catalog_refresh_seconds: float
    provider_http_hosts: tuple[str, ...]
    regex_budget_ms: float
    ibs_allow_http_redirect: bool
    click_redirect_domains: tuple[str, ...]  # media clicks (d_event=click) may go there
    rate_max_per_second: float
    blocked_countries: frozenset[str]
    consent: "ConsentSettings"
    spool_queue_url: str  # failed profile writes go here (empty: no spool)
    s2s_queue_url: str  # real-time server-to-server messages (empty: no S2S delivery)
    stage: str = ""  # the chalice stage (``local`` serves the demo's catalog names)
    server_timing: str = "anonymous"  # names | anonymous | off (provider names opt-in)
    privacy_gpc: str = "honour"  # honour | ignore: Sec-GPC: 1 as a US opt-out
    version: str = "0.1.0"
    # The ID service's /id (identity.md 1): allowed d_orgid values ("*": any), id_sync_ttl
    # (seconds) and the subdomain the answer names.
    identity_org_ids: tuple[str, ...] = ()
    identity_id_sync_ttl: int = 604800
    identity_subdomain: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env

        def get(setting: str, default: str) -> str:
            return env.get(_env_name(setting), default)

        aws_region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        return cls(
            partner_id=get("partner_id", "1352"),
            dcs_region=int(get("dcs_region", str(_REGION_IDS.get(aws_region, 7)))),
            profiles_table=get("profiles_table", "rtdcs-profiles"),
            idmap_table=get("idmap_table", "rtdcs-idmap"),
            catalog_table=get("catalog_table", "rtdcs-catalog"),
            rt_budget_ms=max(0, int(get("rt.budget_ms", "250"))),
            cookie_uuid_name=get("cookie.uuid_name", "rtdcs_uuid"),
            cookie_sync_name=get("cookie.sync_name", "rtdcs_sync"),
            cookie_secure=_as_bool(get("cookie.secure", "true")),
            cookie_domain=get("cookie.domain", ""),
            cors_allowed_origins=_as_list(get("cors.allowed_origins", "")),
            expose_traits=_as_bool(get("expose_traits", "true")),
            catalog_refresh_seconds=float(get("catalog.refresh_seconds", "5")),
            # Providers must use https; these hosts may use plain http (local stack, tests).
            provider_http_hosts=_as_list(get("providers.http_hosts", "")),
            regex_budget_ms=float(get("rules.regex_budget_ms", "25")),
            ibs_allow_http_redirect=_as_bool(get("ibs.allow_http_redirect", "false")),
            click_redirect_domains=_as_list(get("click_redirect_domains", "")),
            # Per-container cap on DCS requests per second (0 = off): over it, 429.
            rate_max_per_second=float(get("rate.max_per_second", "0")),
            # Embargo (dcs-protocol.md 4.4 step 2), on the derived country; GB is UK (AAM).
            blocked_countries=frozenset(
                c.upper() for c in _as_list(get("blocked_countries", "CU,IR,KP,SD,SY"))
            ),
            consent=consent_settings(env),
            spool_queue_url=get("spool.queue_url", "").strip(),
            s2s_queue_url=get("s2s.queue_url", "").strip(),
            stage=get("stage", "").strip(),
            server_timing=_server_timing(get("server_timing", ""), get("stage", "").strip()),
            privacy_gpc=_privacy_gpc(get("privacy.gpc", "")),
            # The local stage allows any org id (also set in .chalice/config.json's local
            # stage; the same default outside a request keeps the settings, and so the
            # services built from them, the same for tests that call them directly).
            identity_org_ids=_as_list(get("identity.org_ids",
                                          "*" if get("stage", "").strip() == "local" else "")),
            identity_id_sync_ttl=max(0, int(_float_or(get("identity.id_sync_ttl", ""), 604800))),
            identity_subdomain=get("identity.subdomain", "").strip(),
        )


def _privacy_gpc(raw: str) -> str:
    """``honour`` (default) or ``ignore``; anything else is a deployment mistake."""
    value = raw.strip().lower() or "honour"
    if value not in ("honour", "ignore"):
        raise ValueError(f"RTDCS_PRIVACY_GPC: {raw!r} is not honour or ignore")
    return value


def _server_timing(raw: str, stage: str) -> str:
    """``names`` | ``anonymous`` | ``off``; unset: names on the local stage only."""
    value = raw.strip().lower()
    if value in ("names", "anonymous", "off"):
        return value
    return "names" if stage == "local" else "anonymous"


class WorkerSettings(NamedTuple):
    """The queue functions' settings (the S2S sender and the spool replay)."""

    spool_queue_name: str  # read when the app is packaged (the function's event source)
    s2s_queue_name: str
    s2s_dlq_url: str  # S2S messages that cannot be delivered go here
    s2s_timeout_s: float
    s2s_retry_delay_s: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "WorkerSettings":
        env = os.environ if env is None else env
        return cls(
            spool_queue_name=env.get("RTDCS_SPOOL_QUEUE_NAME") or "rtdcs-local-spool",
            s2s_queue_name=env.get("RTDCS_S2S_QUEUE_NAME") or "rtdcs-dev-s2s",
            s2s_dlq_url=env.get("RTDCS_S2S_DLQ_URL", "").strip(),
            s2s_timeout_s=_float_or(env.get("RTDCS_S2S_TIMEOUT_SECONDS", ""), 3.0),
            s2s_retry_delay_s=_float_or(env.get("RTDCS_S2S_RETRY_DELAY_SECONDS", ""), 0.5),
        )


class InsightSettings(NamedTuple):
    """Audience insight (docs/insight.md): the sketch table, and the profile table's stream
    that feeds the aggregator (read when app.py is imported: Chalice wires the event source
    from it at deploy/package time, as for the queues)."""

    table: str
    stream_arn: str
    # The insight-reports function the API invokes (chalicelib/insight/remote.py); empty:
    # reports run in the API's own process (the local stack, tests).
    reports_function: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "InsightSettings":
        env = os.environ if env is None else env
        return cls(
            reports_function=env.get("RTDCS_INSIGHT_REPORTS_FUNCTION", ""),
            table=env.get("RTDCS_INSIGHT_TABLE") or "rtdcs-insight",
            # A placeholder until the stage names the stack's stream (python -m infra deploy;
            # infra/package.py wires the real one).
            stream_arn=env.get("RTDCS_INSIGHT_STREAM_ARN") or
            "arn:aws:dynamodb:us-east-1:000000000000:table/rtdcs-local-profiles/stream/local",
        )


class DebugSettings(NamedTuple):
    """The console's event capture (docs/console.md): the capture table (24 h TTL)."""

    capture_table: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "DebugSettings":
        env = os.environ if env is None else env
        return cls(capture_table=env.get("RTDCS_CAPTURE_TABLE") or "rtdcs-capture")


class AdminAuthSettings(NamedTuple):
    """Where the admin token comes from (admin-api.md, Auth)."""

    token: str  # RTDCS_ADMIN_TOKEN (local stack, tests)
    token_parameter: str  # RTDCS_ADMIN_TOKEN_PARAMETER: an SSM SecureString (AWS)
    refresh_seconds: float  # the catalog's refresh interval: how long a read token is kept

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "AdminAuthSettings":
        env = os.environ if env is None else env
        return cls(
            token=env.get("RTDCS_ADMIN_TOKEN", ""),
            token_parameter=env.get("RTDCS_ADMIN_TOKEN_PARAMETER", "").strip(),
            refresh_seconds=max(0.0, _float_or(env.get("RTDCS_CATALOG_REFRESH_SECONDS", ""), 5.0)),
        )


class IdentitySecretSettings(NamedTuple):
    """Where the ``d_blob`` HMAC secret of ``/id`` comes from (identity.md 1), as for the admin
    token: an SSM SecureString (``RTDCS_IDENTITY_BLOB_SECRET_PARAMETER``, AWS stages), else
    ``RTDCS_IDENTITY_BLOB_SECRET`` (the local stack generates one). Kept out of
    :class:`Settings`, so no settings view or cache key ever holds it."""

    secret: str
    secret_parameter: str
    refresh_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "IdentitySecretSettings":
        env = os.environ if env is None else env
        return cls(
            secret=env.get("RTDCS_IDENTITY_BLOB_SECRET", ""),
            secret_parameter=env.get("RTDCS_IDENTITY_BLOB_SECRET_PARAMETER", "").strip(),
            refresh_seconds=max(0.0, _float_or(env.get("RTDCS_CATALOG_REFRESH_SECONDS", ""),
                                               5.0)),
        )


class MetricsSettings(NamedTuple):
    """Powertools' metric names (its own variables), and whether metrics are written."""

    namespace: str
    service: str
    enabled: bool
    # Share of /event log lines that carry the signals, traits and segments themselves.
    log_detail_rate: float = 0.01
    # How long a container may hold metrics before writing them (observability.MetricsSink);
    # 0: a document in every event's line. The deployed stages set 10 (infra/deploy.py).
    window_s: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "MetricsSettings":
        env = os.environ if env is None else env
        disabled = env.get("POWERTOOLS_METRICS_DISABLED", "").lower() in ("1", "true", "yes")
        rate = min(1.0, max(0.0, _float_or(env.get(_env_name("log.detail_rate"), ""), 0.01)))
        # At most 60 s: a held window must land in CloudWatch's minute it belongs to, soon.
        window = min(60.0, max(0.0, _float_or(env.get(_env_name("metrics.window_s"), ""), 0.0)))
        return cls(
            namespace=env.get("POWERTOOLS_METRICS_NAMESPACE") or "rtdcs",
            service=env.get("POWERTOOLS_SERVICE_NAME") or "rtdcs-local",
            enabled=not disabled,
            log_detail_rate=rate,
            window_s=window,
        )


def _float_or(raw: str, default: float) -> float:
    try:
        return float(raw) if raw.strip() else default
    except ValueError:
        return default


def consent_settings(env: Mapping[str, str]) -> "ConsentSettings":
    """Read ``RTDCS_TCF_*``; a malformed value raises ``ValueError`` naming the variable."""
    from chalicelib.consent.gates import (
        MAX_PURPOSE_ID,
        MAX_VENDOR_ID,
        CmpAllowlist,
        ConsentSettings,
        int_in_range,
    )

    def get(name: str) -> str:
        return env.get(name, "").strip()

    vendor_raw = get("RTDCS_TCF_VENDOR_ID")
    purposes_raw = [p.strip() for p in get("RTDCS_TCF_REQUIRED_PURPOSES").split(",")]
    purposes = tuple(
        sorted({int_in_range(p, 1, MAX_PURPOSE_ID, "RTDCS_TCF_REQUIRED_PURPOSES")
                for p in purposes_raw if p})
    )
    try:
        allowlist = CmpAllowlist.parse(get("RTDCS_TCF_CMP_ALLOWLIST"))
    except ValueError as exc:
        raise ValueError(f"RTDCS_TCF_CMP_ALLOWLIST: {exc}") from exc
    return ConsentSettings(
        vendor_id=(
            int_in_range(vendor_raw, 1, MAX_VENDOR_ID, "RTDCS_TCF_VENDOR_ID")
            if vendor_raw
            else None
        ),
        required_purposes=purposes or None,
        cmp_allowlist=allowlist,
        gdpr_default=_gdpr_default(get("RTDCS_TCF_GDPR_DEFAULT")),
    )


def _gdpr_default(raw: str) -> int:
    lowered = raw.lower()
    if lowered in ("", "0", "false", "no", "off"):
        return 0
    if lowered in ("1", "true", "yes", "on"):
        return 1
    raise ValueError(f"RTDCS_TCF_GDPR_DEFAULT: {raw!r} is not 0 or 1")
