"""The in-memory compiled catalog, refreshed when its version changes.

The event path never reads the catalog per event: it checks the version item at most every
``refresh_seconds`` and reloads + recompiles only when the version moved (architecture.md).

A small catalog recompiles inline: the request that notices the change serves it. A large
one (its last compile took longer than ``inline_compile_s``; 100k traits take ~3 s) would
hold that request far past its budget, so it recompiles on a background thread while events
keep the catalog they have; the new one takes over when it is ready. On Lambda that thread
runs only while the container serves a request, so on a quiet container it may still be
pending long after the change: once it has been pending ``max_pending_s`` (by default what
is left of admin-api.md's 10 s propagation limit after the refresh interval), the next
request waits for it, as an inline compile would.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Callable, Protocol

from chalicelib.rules.catalog import CompiledCatalog, compile_catalog

INLINE_COMPILE_S = 0.1
PROPAGATION_LIMIT_S = 10.0  # admin-api.md: a change is served by every container within 10 s
_NO_FULL_COLLECTION = 1 << 30  # a gc threshold no generation-1 count reaches
logger = logging.getLogger("rtdcs.catalog")


class CatalogSource(Protocol):
    def version(self) -> int: ...

    def load_all(self) -> dict[str, list[dict]]: ...  # type: ignore[type-arg]


class CatalogUnavailable(RuntimeError):
    """The catalog could not be read and no cached copy exists (error 205)."""


def _start_thread(job: Callable[[], None]) -> None:
    threading.Thread(target=job, name="catalog-compile", daemon=True).start()


class CatalogCache:
    def __init__(
        self,
        source: CatalogSource,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        inline_compile_s: float = INLINE_COMPILE_S,
        start_background: Callable[[Callable[[], None]], None] = _start_thread,
        compile_timer: Callable[[], float] = time.perf_counter,
        max_pending_s: float | None = None,
    ) -> None:
        self._source = source
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._inline_compile_s = inline_compile_s
        self._start_background = start_background
        self._compile_timer = compile_timer
        self._lock = threading.Lock()
        self._catalog: CompiledCatalog | None = None
        self._checked_at = float("-inf")
        self._last_compile_s = 0.0
        self._compiling: int | None = None  # the version a background compile is building
        self._compile_done: threading.Event | None = None
        self._compile_started = 0.0
        self._max_pending_s = (max(1.0, PROPAGATION_LIMIT_S - refresh_seconds)
                               if max_pending_s is None else max_pending_s)

    def get(self) -> CompiledCatalog:
        self._wait_if_overdue()
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

    def current(self) -> CompiledCatalog | None:
        """The catalog being served, without a version check (no request, ever)."""
        return self._catalog

    def _wait_if_overdue(self) -> None:
        done = self._compile_done
        if done is not None and not done.is_set() and (
            self._clock() - self._compile_started >= self._max_pending_s
        ):
            done.wait()

    def _fresh(self) -> bool:
        return (
            self._catalog is not None
            and self._clock() - self._checked_at < self._refresh_seconds
        )

    def _refresh(self) -> None:
        version = self._source.version()
        current = self._catalog
        if current is not None and current.version == version:
            return
        if current is None or self._last_compile_s <= self._inline_compile_s:
            self._install(self._compile(version))
        elif self._compiling is None:
            self._compiling = version
            self._compile_done = threading.Event()
            self._compile_started = self._clock()
            self._start_background(self._compile_in_background)

    def _compile(self, version: int, beside_events: bool = False) -> CompiledCatalog:
        raw = self._source.load_all()
        started = self._compile_timer()
        # A full collection over the new catalog, half-built or just built, costs ~0.4-0.7 s
        # at 100k traits and holds the GIL, so events on other threads would wait too
        # (bench/catalog_swap.py). So the new catalog is frozen (out of the collector's reach;
        # it holds no cycles, so a replaced one is still freed by reference counting) before
        # full collections may run again. Inline, the collector is simply off meanwhile;
        # beside live events, young collections go on (their cyclic garbage must not pile up
        # and be frozen with the catalog) and only full ones are held off.
        if beside_events:
            young, middle, full = gc.get_threshold()
            gc.set_threshold(young, middle, _NO_FULL_COLLECTION)
            try:
                catalog = compile_catalog(raw, version, pause_gc=False)
                gc.freeze()
            finally:
                gc.set_threshold(young, middle, full)
        else:
            was_enabled = gc.isenabled()
            gc.disable()
            try:
                catalog = compile_catalog(raw, version)
                gc.freeze()
            finally:
                if was_enabled:
                    gc.enable()
        self._last_compile_s = self._compile_timer() - started
        return catalog

    def _compile_in_background(self) -> None:
        done = self._compile_done
        try:
            # Compile whatever is newest now: it may have moved again since the check.
            catalog = self._compile(self._source.version(), beside_events=True)
        except Exception:  # noqa: BLE001 - keep serving the old copy; the next check retries
            logger.exception("background catalog compile failed")
            catalog = None
        try:
            with self._lock:
                self._compiling = None
                if catalog is not None and (
                    self._catalog is None or catalog.version > self._catalog.version
                ):
                    self._install(catalog)
        finally:
            if done is not None:
                done.set()  # a request waiting for an overdue compile goes on

    def _install(self, catalog: CompiledCatalog) -> None:
        self._catalog = catalog
