"""CatalogCache: versions checked at most every refresh interval; small catalogs recompile
inline, large ones on a background job while events keep the catalog they have."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from typing import Callable

import pytest

from chalicelib.runtime.catalog_cache import CatalogCache, CatalogUnavailable
from chalicelib.store.catalog import KINDS


class Source:
    def __init__(self) -> None:
        self.current = 1
        self.loads = 0
        self.fail = False
        self.traits = 0

    def version(self) -> int:
        if self.fail:
            raise RuntimeError("catalog store down")
        return self.current

    def load_all(self) -> dict[str, list[dict]]:  # type: ignore[type-arg]
        if self.fail:
            raise RuntimeError("catalog store down")
        self.loads += 1
        raw: dict[str, list[dict]] = {kind: [] for kind in KINDS}  # type: ignore[type-arg]
        raw["trait"] = [{"sid": sid, "name": f"t{sid}", "traitType": "RULE_BASED_TRAIT",
                         "dataSourceId": 1, "ttl": 30,
                         "traitRule": f'c_section == "s{sid}" AND c_n > {sid}'}
                        for sid in range(1, self.traits + 1)]
        return raw


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
                        compile_timer=CompileTimer(compile_seconds), max_pending_s=1000)


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


def test_an_overdue_background_compile_is_waited_for() -> None:
    # On Lambda the thread runs only during requests: a quiet container's next request waits
    # once the compile has been pending max_pending_s, so a change is never served late.
    source, clock, gate = Source(), Clock(), threading.Event()

    def gated_thread(job: Callable[[], None]) -> None:
        threading.Thread(target=lambda: (gate.wait(10), job()), daemon=True).start()

    cache = CatalogCache(source, refresh_seconds=5, clock=clock, inline_compile_s=0.1,
                         start_background=gated_thread, compile_timer=CompileTimer(3.0),
                         max_pending_s=1.0)
    first = cache.get()
    source.current = 2
    clock.now = 5.0
    assert cache.get() is first  # the compile starts, held at the gate
    clock.now = 5.5
    assert cache.get() is first  # pending 0.5 s: not overdue
    clock.now = 6.0
    threading.Timer(0.2, gate.set).start()
    assert cache.get().version == 2  # overdue: this request waited for the compile


def test_a_background_compile_leaves_young_garbage_collectable() -> None:
    """Events go on beside a background compile: their cyclic garbage must be collected,
    not frozen for good with the new catalog."""

    class Node:
        def __init__(self) -> None:
            self.me = self

    source, clock, jobs = Source(), Clock(), Jobs()
    source.traits = 300  # enough allocations for young collections during the compile
    cache = _cache(source, clock, 3.0, jobs)
    cache.get()
    source.current = 2
    clock.now = 5.0
    cache.get()
    garbage = [weakref.ref(Node()) for _ in range(100)]  # unreachable cycles, in generation 0
    jobs.run_all()
    gc.collect()
    assert cache.get().version == 2
    assert sum(ref() is not None for ref in garbage) == 0
    assert gc.isenabled() and gc.get_threshold()[2] < 1000  # thresholds are back
