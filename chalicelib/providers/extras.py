"""Provider fields the compiled ``ProviderDef`` does not carry yet: ``auth`` and ``maxQps``.

They are read from the raw catalog objects (``CompiledCatalog.raw["provider"]``, admin-API
field names) into a ``pid -> ProviderExtras`` table built once per catalog version. When
``ProviderDef`` gains ``auth`` / ``max_qps`` attributes, those win and the raw lookup is unused.

A malformed ``auth`` object never results in an unsigned call: the extras carry the problem
and the fan-out fails the call (error ``auth_config``) without sending anything.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Mapping, NamedTuple

from chalicelib.providers.auth import AuthConfigError, AuthSpec, parse_auth
from chalicelib.providers.definition import ProviderDef
from chalicelib.rules.catalog import CompiledCatalog


# Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
class ProviderExtras(NamedTuple):
    auth: AuthSpec | None = None
    max_qps: int | None = None
    problem: str | None = None  # why the configuration cannot be used (no call is made)


NO_EXTRAS = ProviderExtras()


def extras_from_raw(obj: Mapping[str, Any]) -> ProviderExtras:
    problem = None
    auth = None
    try:
        auth = parse_auth(obj.get("auth"))
    except AuthConfigError as exc:
        problem = str(exc)
    raw_qps = obj.get("maxQps")
    max_qps = None
    if raw_qps is not None:
        if isinstance(raw_qps, bool) or not isinstance(raw_qps, (int, float)):
            problem = problem or "maxQps must be an integer or null"
        else:
            max_qps = int(raw_qps)
    return ProviderExtras(auth, max_qps, problem)


class ExtrasLookup:
    """``provider -> ProviderExtras`` over the current catalog, rebuilt when its version moves.

    The plans of an event carry the ``ProviderDef`` objects of the catalog snapshot the
    pipeline used, so a lookup is one dict access and an identity check; only a provider from
    another snapshot (a new version) asks the catalog for its current snapshot.
    """

    def __init__(
        self,
        catalog: Callable[[], CompiledCatalog],
        on_new_version: Callable[[dict[int, ProviderExtras]], None] | None = None,
    ) -> None:
        self._get = catalog  # e.g. CatalogCache.get
        self._on_new_version = on_new_version  # e.g. get the secrets it names ready
        self._lock = threading.Lock()
        self._version: int | None = None
        self._table: dict[int, tuple[ProviderDef, ProviderExtras]] = {}

    def __call__(self, provider: ProviderDef) -> ProviderExtras:
        entry = self._table.get(provider.pid)
        if entry is None or entry[0] is not provider:
            self._refresh()
            entry = self._table.get(provider.pid)
        if entry is not None and (entry[0] is provider or entry[0] == provider):
            return entry[1]
        return _from_provider_def(provider) or (entry[1] if entry else NO_EXTRAS)

    def _refresh(self) -> None:
        try:
            catalog = self._get()
        except Exception:  # noqa: BLE001 - catalog unavailable: keep the last table
            return
        if catalog.version == self._version:
            return
        with self._lock:
            if catalog.version == self._version:
                return
            raw_by_pid: dict[int, Mapping[str, Any]] = {}
            for obj in catalog.raw.get("provider", ()):
                try:
                    raw_by_pid[int(obj["pid"])] = obj
                except (KeyError, TypeError, ValueError):
                    continue  # the catalog compiler already reports such objects
            table = {
                p.pid: (p, _from_provider_def(p) or extras_from_raw(raw_by_pid.get(p.pid, {})))
                for p in catalog.providers
            }
            self._table = table
            self._version = catalog.version
            if self._on_new_version is not None:
                self._on_new_version({pid: extras for pid, (_, extras) in table.items()})


def _from_provider_def(provider: ProviderDef) -> ProviderExtras | None:
    """Extras straight from ``ProviderDef`` once it has the fields (forward compatible)."""
    if not hasattr(provider, "auth") and not hasattr(provider, "max_qps"):
        return None
    raw_auth = getattr(provider, "auth", None)
    if raw_auth is not None and not isinstance(raw_auth, AuthSpec):
        try:
            raw_auth = parse_auth(raw_auth)
        except AuthConfigError as exc:
            return ProviderExtras(None, getattr(provider, "max_qps", None), str(exc))
    return ProviderExtras(raw_auth, getattr(provider, "max_qps", None))
