"""The in-memory compiled catalog, refreshed when its version changes.

The event path never reads the catalog per event: it checks the version item at most every
``refresh_seconds`` and reloads + recompiles only when the version moved (architecture.md).
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Callable, Protocol

from chalicelib.rules.catalog import CompiledCatalog, compile_catalog


class CatalogSource(Protocol):
    def version(self) -> int: ...

    def load_all(self) -> dict[str, list[dict]]: ...  # type: ignore[type-arg]


class CatalogUnavailable(RuntimeError):
    """The catalog could not be read and no cached copy exists (error 205)."""


class CatalogCache:
    def __init__(
        self,
        source: CatalogSource,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._catalog: CompiledCatalog | None = None
        self._checked_at = float("-inf")

    def get(self) -> CompiledCatalog:
        if self._fresh():
            return self._catalog  # type: ignore[return-value]
        with self._lock:
            if self._fresh():
                return self._catalog  # type: ignore[return-value]
            try:
                self._refresh()
            except Exception as exc:  # noqa: BLE001 - any storage failure: serve the old copy
                if self._catalog is None:
                    raise CatalogUnavailable(str(exc)) from exc
            self._checked_at = self._clock()
            return self._catalog  # type: ignore[return-value]

    def _fresh(self) -> bool:
        return (
            self._catalog is not None
            and self._clock() - self._checked_at < self._refresh_seconds
        )

    def _refresh(self) -> None:
        version = self._source.version()
        if self._catalog is not None and self._catalog.version == version:
            return
        self._catalog = compile_catalog(self._source.load_all(), version)
        # A large compiled catalog makes each full garbage collection cost ~0.7 s (100k
        # traits), longer than an event's budget. Freezing moves everything alive now out of
        # the collector's reach; the catalog holds no cycles, so a replaced one is still freed
        # by reference counting.
        gc.freeze()
