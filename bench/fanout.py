"""Fan-out overhead: the real ``Fanout`` against a loopback provider simulator. Prints JSON.

    .venv/bin/python -m bench.fanout [--events 500] [--budget-events 100] [--sequential-events 30]

Twelve providers per event, called in parallel with a 250 ms budget: ten that answer after
5..200 ms (evenly spread, no jitter, ``timeoutMs`` 240), one that hangs and one that trickles
(``timeoutMs`` 150, the contract's default). The simulator runs in its own process, so its
threads do not share this process's GIL; the thread pool and connection pool have the sizes
``services._provider_runtime`` gives them. The breaker is disabled, so every event really calls
the hanging and trickling providers (in production they would be skipped after 5 events).

Reported per event:

* ``overhead_ms``: event time (``start`` to ``collect`` returning) minus the configured
  latency of the slowest provider that answered in time -- what the engine, the HTTP stack and
  the simulator's own request handling add (p50, p99, max);
* ``collect_overhead_ms``: event time minus that provider's latency as measured by its worker
  -- the fan-out's own dispatch and collection cost;
* ``missed``: events longer than budget + 25 ms (target 0).

A second run (``budget_bound``) gives the hanging and trickling providers ``timeoutMs`` 2000,
so the 250 ms budget is what cuts them; its overhead is measured over the budget. A third
(``sequential``) makes the same calls one after another, each with its own deadline, on fewer
events (it is ~6x slower); ``ratio`` compares mean event times (sequential / parallel).
Everything is loopback and bounded (about 3 minutes with the defaults).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.providers.breaker import BreakerBoard, BreakerPolicy  # noqa: E402
from chalicelib.providers.definition import ProviderDef  # noqa: E402
from chalicelib.providers.fanout import (  # noqa: E402
    CallPlan,
    Fanout,
    ProviderCaller,
)
from chalicelib.providers.http_session import AddressGuard, make_pool  # noqa: E402
from chalicelib.providers.messages import build_request_body  # noqa: E402
from chalicelib.providers.stats import StatsRegistry, percentile  # noqa: E402
from devtools.provider_sim import SimulatorClient  # noqa: E402

THREADS = 32  # services._PROVIDER_THREADS
POOL_SIZE = THREADS * 2
BUDGET_MS = 250
SLACK_MS = 25
HEALTHY_TIMEOUT_MS = 240
LATENCIES_MS = [round(5 + i * (200 - 5) / 9) for i in range(10)]  # 5 .. 200
NEVER_OPEN = BreakerPolicy(failure_streak=10**9, failure_ratio=2.0)


class Simulator:
    """``python -m devtools.provider_sim`` in a child process, stopped by its PID."""

    def __enter__(self) -> SimulatorClient:
        root = Path(__file__).resolve().parents[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.provider_sim", "--port", "0", "--quiet"],
            stdout=subprocess.PIPE, text=True, cwd=root,
        )
        assert self.process.stdout is not None
        url = self.process.stdout.readline().strip().rsplit(" ", 1)[-1]
        if not url.startswith("http://127.0.0.1:"):
            self.__exit__()
            raise RuntimeError(f"simulator did not start: {url!r}")
        client = SimulatorClient(url)
        for _ in range(50):
            if client.healthy():
                return client
            time.sleep(0.1)
        raise RuntimeError("simulator not healthy")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def providers(sim: SimulatorClient, fault_timeout_ms: int) -> list[tuple[ProviderDef, int]]:
    """(provider, configured latency; -1 for the faulty ones)."""
    out: list[tuple[ProviderDef, int]] = []
    for i, latency in enumerate(LATENCIES_MS, start=1):
        name = f"p{i:02d}"
        sim.set(name, latency_ms=latency, jitter_ms=0, mode="ok", segments=[f"seg-{i}"])
        out.append((ProviderDef(i, name, 900 + i, sim.provider_url(name),
                                timeout_ms=HEALTHY_TIMEOUT_MS, id_mode="uuid"), latency))
    for pid, mode in ((11, "hang"), (12, "trickle")):
        sim.set(mode, mode=mode, segments=["never"])
        out.append((ProviderDef(pid, mode, 900 + pid, sim.provider_url(mode),
                                timeout_ms=fault_timeout_ms, id_mode="uuid"), -1))
    return out


def plans(defs: list[tuple[ProviderDef, int]], event: int) -> list[CallPlan]:
    uuid = f"{event:038d}"
    return [
        CallPlan(p, build_request_body(p, uuid=uuid, dpuuid=None, partner_id="1352", region=7,
                                       tid="dGlkdGlkdGk=", gdpr=0, gdpr_consent=None,
                                       signals={"c_section": ["sports"]}))
        for p, _ in defs
    ]


def summary(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)

    def rounded(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    return {"p50": rounded(percentile(ordered, 0.5)), "p99": rounded(percentile(ordered, 0.99)),
            "max": rounded(ordered[-1] if ordered else None),
            "mean": rounded(statistics.fmean(ordered) if ordered else None)}


def run_parallel(fan: Fanout, defs: list[tuple[ProviderDef, int]], events: int,
                 reference: str) -> dict[str, Any]:
    latency = {p.pid: configured for p, configured in defs}
    elapsed_all: list[float] = []
    overhead: list[float] = []
    collect_overhead: list[float] = []
    missed = 0
    kinds: dict[str, int] = {}
    for event in range(events):
        event_plans = plans(defs, event)
        started = time.perf_counter()
        outcomes = fan.start(event_plans, BUDGET_MS).collect()
        elapsed = (time.perf_counter() - started) * 1000
        elapsed_all.append(elapsed)
        missed += elapsed > BUDGET_MS + SLACK_MS
        for outcome in outcomes:
            kinds[f"{outcome.kind}/{outcome.detail}"] = kinds.get(
                f"{outcome.kind}/{outcome.detail}", 0) + 1
        answered = [o for o in outcomes if o.kind == "answered"]
        if reference == "budget":
            overhead.append(elapsed - BUDGET_MS)
        elif answered:
            overhead.append(elapsed - max(latency[o.pid] for o in answered))
        if answered and reference != "budget":
            collect_overhead.append(elapsed - max(o.latency_ms for o in answered))
    return {
        "events": events,
        "total_s": round(sum(elapsed_all) / 1000, 2),
        "event_ms": summary(elapsed_all),
        "overhead_ms": summary(overhead),
        "collect_overhead_ms": summary(collect_overhead),
        "missed_budget_plus_25ms": missed,
        "outcomes": dict(sorted(kinds.items())),
    }


def run_sequential(caller: ProviderCaller, defs: list[tuple[ProviderDef, int]],
                   events: int) -> dict[str, Any]:
    """The same calls one after another: each provider gets its own full deadline."""
    elapsed_all: list[float] = []
    with ThreadPoolExecutor(max_workers=1) as executor:
        fan = Fanout(executor, caller, http_hosts=("127.0.0.1",),
                     breakers=BreakerBoard(NEVER_OPEN))
        for event in range(events):
            started = time.perf_counter()
            for plan in plans(defs, event):
                fan.start([plan], plan.provider.timeout_ms).collect()
            elapsed_all.append((time.perf_counter() - started) * 1000)
    return {"events": events, "total_s": round(sum(elapsed_all) / 1000, 2),
            "event_ms": summary(elapsed_all)}


def pool_figures(manager: Any, port: int) -> dict[str, int]:
    """The simulator's connection pool (urllib3 keys pools by more than the URL)."""
    pools = [manager.pools[key] for key in manager.pools.keys() if key.key_port == port]
    # urllib3 reconnects a closed connection object in place, so this counts objects (peak
    # concurrency), not TCP connects. Slots back in the pool == pool_maxsize: none is held.
    return {"host_pools": len(pools),
            "connection_objects": sum(p.num_connections for p in pools),
            "requests": sum(p.num_requests for p in pools),
            "slots_back_in_pool": sum(p.pool.qsize() for p in pools if p.pool is not None),
            "pool_maxsize": POOL_SIZE}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--budget-events", type=int, default=100)
    parser.add_argument("--sequential-events", type=int, default=30)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "bench": "fanout",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_1m_before": round(os.getloadavg()[0], 2)},
        "setup": {"providers": 12, "healthy_latencies_ms": LATENCIES_MS,
                  "healthy_timeout_ms": HEALTHY_TIMEOUT_MS, "faulty": ["hang", "trickle"],
                  "budget_ms": BUDGET_MS, "threads": THREADS, "pool_size": POOL_SIZE,
                  "breaker": "disabled (every event calls the faulty providers)"},
    }
    with Simulator() as sim:
        pool = make_pool(pool_size=POOL_SIZE, guard=AddressGuard(("127.0.0.1",)))
        caller = ProviderCaller(pool)
        with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="rt") as executor:
            stats = StatsRegistry()
            fan = Fanout(executor, caller, http_hosts=("127.0.0.1",), stats=stats,
                         breakers=BreakerBoard(NEVER_OPEN))
            defs = providers(sim, fault_timeout_ms=150)
            run_parallel(fan, defs, 5, "answer")  # warm-up: connections, imports
            started = time.perf_counter()
            report["parallel"] = run_parallel(fan, defs, args.events, "answer")
            report["parallel"]["wall_s"] = round(time.perf_counter() - started, 1)
            report["pool"] = pool_figures(pool, int(sim.base_url.rsplit(":", 1)[1]))
            budget_defs = providers(sim, fault_timeout_ms=2000)
            report["budget_bound"] = run_parallel(fan, budget_defs, args.budget_events, "budget")
            report["budget_bound"]["note"] = (
                "hang/trickle timeoutMs 2000: the budget cuts them; overhead over the budget")
            report["stats_sample"] = {
                k: {f: v[f] for f in ("calls", "answers", "timeouts", "timeouts_by",
                                       "latency_ms")}
                for k, v in stats.snapshot()["providers"].items() if k in ("1", "10", "11", "12")
            }
        report["sequential"] = run_sequential(caller, defs, args.sequential_events)
        parallel_mean = report["parallel"]["event_ms"]["mean"]
        sequential_mean = report["sequential"]["event_ms"]["mean"]
        report["sequential"]["ratio_to_parallel"] = round(sequential_mean / parallel_mean, 2)
    report["machine"]["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    report["targets"] = {
        "overhead_p50_le_3ms": report["parallel"]["overhead_ms"]["p50"] <= 3,
        "overhead_p99_le_15ms": report["parallel"]["overhead_ms"]["p99"] <= 15,
        "missed_is_0": report["parallel"]["missed_budget_plus_25ms"] == 0
        and report["budget_bound"]["missed_budget_plus_25ms"] == 0,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
