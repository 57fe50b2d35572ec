"""Provider extras (auth, ``maxQps``) for the fan-out, and the hook that gets a new catalog
version's secrets ready. The extras themselves are compiled into ``ProviderDef``
(providers/definition.py); this module no longer reads the raw catalog.
"""

from __future__ import annotations

import threading
from typing import Callable

from chalicelib.providers.definition import (
    NO_EXTRAS,
    ProviderDef,
    ProviderExtras,
    extras_from_raw,
)
from chalicelib.rules.catalog import CompiledCatalog

__all__ = ["NO_EXTRAS", "ExtrasLookup", "ProviderExtras", "extras_from_raw"]


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
        self._table: dict[int, ProviderDef] = {}

    def __call__(self, provider: ProviderDef) -> ProviderExtras:
        if self._table.get(provider.pid) is not provider:
            self._refresh()  # a new snapshot: its secrets get ready (on_new_version)
        return provider.extras

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
            self._table = {p.pid: p for p in catalog.providers}
            self._version = catalog.version
            if self._on_new_version is not None:
                self._on_new_version({p.pid: p.extras for p in catalog.providers})
