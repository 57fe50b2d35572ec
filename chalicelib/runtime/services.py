"""Wiring: the collaborators the routes use, built lazily once per container.

Nothing is created at import time. The executor and HTTP session for providers live for the
container; repositories are rebuilt only if the settings that name them change (tests switch
tables between runs). Tests may ``install`` their own :class:`Services`.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.admin.auth import AdminTokenSource
from chalicelib.config import Settings, aws_endpoint_url
from chalicelib.debug.store import SettingStore, SnapshotWithCapture
from chalicelib.destinations.s2s_delivery import S2SQueue
from chalicelib.identity.blob import BlobSigner
from chalicelib.identity.id_service import IdService
from chalicelib.identity.idsync import IdSync
from chalicelib.pipeline import EventPipeline
from chalicelib.privacy.optout import OptOut
from chalicelib.privacy.stats import PrivacyStats
from chalicelib.providers.engine import build_fanout
from chalicelib.providers.fanout import ProviderCaller
from chalicelib.providers.http_session import AddressGuard, make_session
from chalicelib.providers.stats import StatsRegistry
from chalicelib.runtime import observability
from chalicelib.runtime.catalog_cache import CatalogCache
from chalicelib.spool.queue import SqsSpool, sqs_client
from chalicelib.spool.queue import reset_for_tests as reset_spool
from chalicelib.store.catalog import CatalogRepository
from chalicelib.store.dynamo import dynamodb_resource, table, write_table
from chalicelib.store.dynamo import reset_for_tests as reset_dynamo
from chalicelib.store.idmap import IdMapRepository
from chalicelib.store.profiles import ProfileRepository, WritePolicy

STORAGE_ERRORS: tuple[type[BaseException], ...] = (ClientError, BotoCoreError)
_THROTTLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


def is_throttle(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get(
        "Code"
    ) in _THROTTLE_CODES
_PROVIDER_THREADS = 32

_lock = threading.Lock()
_services: "Services | None" = None
_services_key: Any = None
_installed: "Services | None" = None
_executor: ThreadPoolExecutor | None = None
_caller: ProviderCaller | None = None
_caller_exempt: tuple[str, ...] = ()
# One per container, so the SSM parameter holding the admin token is read once (lazily).
_admin_tokens = AdminTokenSource()
_blob_signer = BlobSigner()  # likewise for the d_blob secret of /id


class Services:
    # Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
    __slots__ = ("settings", "catalog", "catalog_repository", "profiles", "pipeline", "id_sync",
                 "opt_out", "idmap", "provider_stats", "admin_tokens", "privacy_stats",
                 "id_service")

    def __init__(
        self,
        settings: Settings,
        catalog: CatalogCache,
        catalog_repository: CatalogRepository,
        profiles: ProfileRepository,
        pipeline: EventPipeline,
        id_sync: IdSync,
        opt_out: OptOut,
        idmap: IdMapRepository,
        provider_stats: StatsRegistry | None = None,
        admin_tokens: AdminTokenSource | None = None,
        privacy_stats: PrivacyStats | None = None,
        id_service: IdService | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.catalog_repository = catalog_repository
        self.profiles = profiles
        self.pipeline = pipeline
        self.id_sync = id_sync
        self.opt_out = opt_out
        self.idmap = idmap
        self.provider_stats = StatsRegistry() if provider_stats is None else provider_stats
        self.admin_tokens = _admin_tokens if admin_tokens is None else admin_tokens
        self.privacy_stats = PrivacyStats() if privacy_stats is None else privacy_stats
        self.id_service = id_service or IdService(settings, catalog, profiles, idmap,
                                                  _blob_signer.sign, time.time, STORAGE_ERRORS,
                                                  is_throttle)


def _provider_runtime(exempt: tuple[str, ...]) -> tuple[ThreadPoolExecutor, ProviderCaller]:
    """The container's provider threads and pooled session; ``exempt``: the hosts the SSRF
    check lets through (only tests change it within one process)."""
    global _executor, _caller, _caller_exempt
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=_PROVIDER_THREADS, thread_name_prefix="rt")
    if _caller is None or _caller_exempt != exempt:
        session = make_session(pool_size=_PROVIDER_THREADS * 2, guard=AddressGuard(exempt))
        _caller, _caller_exempt = ProviderCaller(session), exempt
    return _executor, _caller


def build_services(settings: Settings) -> Services:
    executor, caller = _provider_runtime(settings.provider_http_hosts)
    catalog_repository = CatalogRepository(table(settings.catalog_table))
    # The console's capture setting travels with the snapshot (chalicelib/debug/store.py).
    catalog = CatalogCache(
        SnapshotWithCapture(catalog_repository,
                            SettingStore(table(settings.catalog_table), catalog_repository)),
        settings.catalog_refresh_seconds)
    # Writes: retried inside the event's budget (providers' budget + 350 ms), then spooled.
    profiles = ProfileRepository(
        table(settings.profiles_table),
        write_table=write_table(settings.profiles_table),
        spool=SqsSpool(sqs_client, settings.spool_queue_url) if settings.spool_queue_url
        else None,
        metrics=observability.metrics(),
        policy=WritePolicy(budget_s=settings.rt_budget_ms / 1000 + 0.35),
    )
    # Breakers, QPS windows, secret cache and stats: per container (this Services object).
    fanout = build_fanout(executor, caller, settings.provider_http_hosts, catalog.get)
    idmap = IdMapRepository(dynamodb_resource(), settings.idmap_table)
    s2s = S2SQueue(sqs_client(), settings.s2s_queue_url) if settings.s2s_queue_url else None
    privacy_stats = PrivacyStats()
    pipeline = EventPipeline(
        settings,
        catalog,
        profiles,
        fanout,
        idmap,
        time.time,
        storage_errors=STORAGE_ERRORS,
        is_throttle=is_throttle,
        record_outcomes=fanout.stats.record_all,
        s2s=s2s,
        record_privacy=privacy_stats.record,
    )
    id_sync = IdSync(settings, catalog, profiles, idmap, time.time, STORAGE_ERRORS)
    opt_out = OptOut(settings.cookie_uuid_name, catalog, profiles, idmap, time.time,
                     STORAGE_ERRORS, s2s, settings.dcs_region)
    return Services(settings, catalog, catalog_repository, profiles, pipeline, id_sync, opt_out,
                    idmap, provider_stats=fanout.stats, privacy_stats=privacy_stats)


def get_services() -> Services:
    global _services, _services_key
    if _installed is not None:
        return _installed
    settings = Settings.from_env()
    key = (settings, aws_endpoint_url())
    with _lock:
        if _services is None or _services_key != key:
            _services = build_services(settings)
            _services_key = key
        return _services


def install(services: Services | None) -> None:
    """Serve these services (tests), or None to go back to building from the environment."""
    global _installed
    _installed = services


def reset() -> None:
    """Forget every cached collaborator but the provider thread pool (tests)."""
    global _services, _services_key, _installed
    with _lock:
        _services = None
        _services_key = None
        _installed = None
    reset_dynamo()
    reset_spool()
