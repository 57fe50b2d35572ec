"""Wiring: the collaborators the routes use, built lazily once per container.

Nothing is created at import time. The executor and HTTP session for providers live for the
container; repositories are rebuilt only if the settings that name them change (tests switch
tables between runs). Tests may ``install`` their own :class:`Services`.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings, aws_endpoint_url
from chalicelib.debug.store import SettingStore, SnapshotWithCapture
from chalicelib.destinations.s2s_queue import S2SQueue
from chalicelib.pipeline import EventPipeline
from chalicelib.privacy.stats import PrivacyStats
from chalicelib.providers.engine import build_fanout
from chalicelib.providers.fanout import ProviderCaller
from chalicelib.providers.http_session import AddressGuard, make_pool
from chalicelib.providers.stats import StatsRegistry
from chalicelib.runtime import observability
from chalicelib.runtime.catalog_cache import CatalogCache
from chalicelib.spool.queue import SqsSpool, sqs_client
from chalicelib.spool.queue import reset_for_tests as reset_spool
from chalicelib.store.catalog import CatalogRepository
from chalicelib.store.dynamo import dynamodb_resource, profile_table, table, write_table
from chalicelib.store.dynamo import reset_for_tests as reset_dynamo
from chalicelib.store.idmap import IdMapRepository
from chalicelib.store.profiles import ProfileRepository, WritePolicy

if TYPE_CHECKING:
    from chalicelib.admin.auth import AdminTokenSource
    from chalicelib.identity.blob import BlobSigner
    from chalicelib.identity.id_service import IdService
    from chalicelib.identity.idsync import IdSync
    from chalicelib.privacy.optout import OptOut

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
T = TypeVar("T")
_services: "Services | None" = None
_services_key: Any = None
_installed: "Services | None" = None
_executor: ThreadPoolExecutor | None = None
_caller: ProviderCaller | None = None
_caller_exempt: tuple[str, ...] = ()
# One per container, so the SSM parameter holding the admin token is read once (lazily);
# built on the first admin call (the admin modules are not on /event's path).
_admin_tokens: "AdminTokenSource | None" = None
_blob_signer: "BlobSigner | None" = None  # likewise for the d_blob secret of /id (built lazily)


def _container_admin_tokens() -> "AdminTokenSource":
    global _admin_tokens
    if _admin_tokens is None:
        from chalicelib.admin.auth import AdminTokenSource

        with _lock:
            if _admin_tokens is None:
                _admin_tokens = AdminTokenSource()
    return _admin_tokens


def _blob_sign(mid: str) -> str | None:
    global _blob_signer
    if _blob_signer is None:
        from chalicelib.identity.blob import BlobSigner

        with _lock:
            if _blob_signer is None:
                _blob_signer = BlobSigner()
    return _blob_signer.sign(mid)


class Services:
    """The routes' collaborators. The services of /ibs, /optout and /id are built on their
    first use (``None`` given): their modules stay off the first /event's path."""

    # Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
    __slots__ = ("settings", "catalog", "catalog_repository", "profiles", "pipeline",
                 "_id_sync", "_opt_out", "idmap", "provider_stats", "_admin_tokens",
                 "privacy_stats", "_id_service", "_s2s")

    def __init__(
        self,
        settings: Settings,
        catalog: CatalogCache,
        catalog_repository: CatalogRepository,
        profiles: ProfileRepository,
        pipeline: EventPipeline,
        id_sync: IdSync | None,
        opt_out: OptOut | None,
        idmap: IdMapRepository,
        provider_stats: StatsRegistry | None = None,
        admin_tokens: AdminTokenSource | None = None,
        privacy_stats: PrivacyStats | None = None,
        id_service: IdService | None = None,
        s2s: S2SQueue | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.catalog_repository = catalog_repository
        self.profiles = profiles
        self.pipeline = pipeline
        self._id_sync = id_sync
        self._opt_out = opt_out
        self.idmap = idmap
        self.provider_stats = StatsRegistry() if provider_stats is None else provider_stats
        self._admin_tokens = admin_tokens
        self.privacy_stats = PrivacyStats() if privacy_stats is None else privacy_stats
        self._id_service = id_service
        self._s2s = s2s  # the S2S producer of the lazily built OptOut

    def prebuild(self) -> None:
        """Build the lazy services now (a pre-paid init: chalicelib/runtime/warmup.py)."""
        for name in ("id_sync", "opt_out", "id_service"):
            getattr(self, name)

    @property
    def admin_tokens(self) -> "AdminTokenSource":
        """The container's admin token source unless one was given (read by admin calls)."""
        if self._admin_tokens is None:
            self._admin_tokens = _container_admin_tokens()
        return self._admin_tokens

    def _built(self, attribute: str, build: Callable[[], T]) -> T:
        """The service in ``attribute``, built on first use; double-checked, so a second
        thread uses the first one's service."""
        value: T | None = getattr(self, attribute)
        if value is None:
            with _lock:
                value = getattr(self, attribute)
                if value is None:
                    value = build()
                    setattr(self, attribute, value)
        return value

    @property
    def id_sync(self) -> "IdSync":
        """/ibs's service, built on its first call."""
        def build() -> "IdSync":
            from chalicelib.identity.idsync import IdSync

            return IdSync(self.settings, self.catalog, self.profiles, self.idmap, time.time,
                          STORAGE_ERRORS)
        return self._built("_id_sync", build)

    @property
    def opt_out(self) -> "OptOut":
        """/optout's service, built on its first call."""
        def build() -> "OptOut":
            from chalicelib.privacy.optout import OptOut

            return OptOut(self.settings.cookie_uuid_name, self.catalog, self.profiles,
                          self.idmap, time.time, STORAGE_ERRORS, self._s2s,
                          self.settings.dcs_region)
        return self._built("_opt_out", build)

    @property
    def id_service(self) -> "IdService":
        """/id's service, built on its first call."""
        def build() -> "IdService":
            from chalicelib.identity.id_service import IdService

            return IdService(self.settings, self.catalog, self.profiles, self.idmap,
                             _blob_sign, time.time, STORAGE_ERRORS, is_throttle)
        return self._built("_id_service", build)


def _provider_runtime(exempt: tuple[str, ...]) -> tuple[ThreadPoolExecutor, ProviderCaller]:
    """The container's provider threads and connection pool; ``exempt``: the hosts the SSRF
    check lets through (only tests change it within one process)."""
    global _executor, _caller, _caller_exempt
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=_PROVIDER_THREADS, thread_name_prefix="rt")
    if _caller is None or _caller_exempt != exempt:
        pool = make_pool(pool_size=_PROVIDER_THREADS * 2, guard=AddressGuard(exempt))
        _caller, _caller_exempt = ProviderCaller(pool), exempt
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
        profile_table(settings.profiles_table),
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
    return Services(settings, catalog, catalog_repository, profiles, pipeline, None, None,
                    idmap, provider_stats=fanout.stats, privacy_stats=privacy_stats, s2s=s2s)


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
