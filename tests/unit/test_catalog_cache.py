"""CatalogCache: versions checked at most every refresh interval; small catalogs recompile
inline, large ones on a background job while events keep the catalog they have."""

from __future__ import annotations

import gc
import time
from typing import Callable

import pytest

from chalicelib.catalog_cache import CatalogCache, CatalogUnavailable
from chalicelib.store.catalog import KINDS


class Source:
    def __init__(self) -> None:
        self.current = 1
        self.loads = 0
        self.fail = False

    def version(self) -> int:
        if self.fail:
            raise RuntimeError("catalog store down")
        return self.current

    def load_all(self) -> dict[str, list[dict]]:  # type: ignore[type-arg]
        if self.fail:
            raise RuntimeError("catalog store down")
        self.loads += 1
        return {kind: [] for kind in KINDS}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CompileTimer:
    """Each compile reads the timer twice; ``seconds`` is how long every compile 'takes'."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        start = ((self.reads - 1) // 2) * 1000.0  # odd reads start a compile, even ones end it
        return start + (self.seconds if self.reads % 2 == 0 else 0.0)


class Jobs:
    def __init__(self) -> None:
        self.queued: list[Callable[[], None]] = []

    def start(self, job: Callable[[], None]) -> None:
        self.queued.append(job)

    def run_all(self) -> None:
        while self.queued:
            self.queued.pop(0)()


def _cache(source: Source, clock: Clock, compile_seconds: float,
           jobs: Jobs) -> CatalogCache:
    return CatalogCache(source, refresh_seconds=5, clock=clock, inline_compile_s=0.1,
                        start_background=jobs.start,
                        compile_timer=CompileTimer(compile_seconds))


def test_version_is_checked_at_most_every_refresh_interval() -> None:
    source, clock, jobs = Source(), Clock(), Jobs()
    cache = _cache(source, clock, 0.01, jobs)
    assert cache.get().version == 1
    source.current = 2
    clock.now = 4.9
    assert cache.get().version == 1 and source.loads == 1
    clock.now = 5.0
    assert cache.get().version == 2 and source.loads == 2 and jobs.queued == []


def test_a_slow_catalog_recompiles_in_the_background() -> None:
    source, clock, jobs = Source(), Clock(), Jobs()
    cache = _cache(source, clock, 3.0, jobs)
    first = cache.get()  # a cold container has nothing to serve: inline, however slow
    assert first.version == 1 and jobs.queued == []
    source.current = 2
    clock.now = 5.0
    assert cache.get() is first and len(jobs.queued) == 1  # the request is not held
    clock.now = 10.0
    assert cache.get() is first and len(jobs.queued) == 1  # one compile at a time
    jobs.run_all()
    assert cache.get().version == 2


def test_the_background_compile_takes_the_newest_version() -> None:
    source, clock, jobs = Source(), Clock(), Jobs()
    cache = _cache(source, clock, 3.0, jobs)
    cache.get()
    source.current = 2
    clock.now = 5.0
    cache.get()
    source.current = 3  # moved again before the job ran
    jobs.run_all()
    assert cache.get().version == 3


def test_a_failed_background_compile_keeps_the_old_catalog_and_retries() -> None:
    source, clock, jobs = Source(), Clock(), Jobs()
    cache = _cache(source, clock, 3.0, jobs)
    first = cache.get()
    source.current = 2
    clock.now = 5.0
    cache.get()
    source.fail = True
    jobs.run_all()
    assert cache.get() is first
    source.fail = False
    clock.now = 10.0
    assert cache.get() is first and len(jobs.queued) == 1
    jobs.run_all()
    assert cache.get().version == 2


def test_no_catalog_and_no_store_is_unavailable() -> None:
    source, clock, jobs = Source(), Clock(), Jobs()
    source.fail = True
    with pytest.raises(CatalogUnavailable):
        _cache(source, clock, 0.01, jobs).get()


def test_the_default_background_job_is_a_thread_that_swaps_the_catalog_in() -> None:
    source, clock = Source(), Clock()
    cache = CatalogCache(source, refresh_seconds=5, clock=clock, inline_compile_s=0.1,
                         compile_timer=CompileTimer(3.0))
    first = cache.get()
    source.current = 2
    clock.now = 5.0
    assert cache.get() is first
    deadline = time.monotonic() + 10
    while cache.get().version != 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.get().version == 2
    assert gc.isenabled()  # the compile turned collection off only while it ran
