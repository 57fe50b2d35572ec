"""Issue #2's acceptance figure over HTTP: one provider answering in 80 ms, one that never
answers, 20 events through the whole local stack (moto server, simulator, chalice local).

    PYTHONPATH=. .venv/bin/python -m bench.event_budget

Prints one JSON document: event latency p50/max against the 250 ms budget, and how many
events carried the fast provider's segment (5002). SlowData's own timeoutMs is 200 ms, and its
circuit breaker opens after 5 timeouts, so later events stop waiting for it.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import requests

from devtools.provider_sim import SimulatorClient
from devtools.stack import DUMMY_AWS_ENV, LocalStack, free_port

os.environ.update(DUMMY_AWS_ENV)  # dummy credentials, no metadata probing: moto only

EVENTS = 20


def main() -> None:
    with LocalStack(dcs_port=free_port(), moto_port=free_port(), sim_port=free_port(),
                    quiet=True) as stack:
        sim = SimulatorClient(stack.sim_url)
        sim.set("fast", {"latency_ms": 80, "jitter_ms": 0, "mode": "ok",
                         "segments": ["auto-intender"]})
        sim.set("slow", {"mode": "hang"})
        http = requests.Session()
        http.trust_env = False
        http.get(f"{stack.dcs_url}/event?d_rtbd=json", timeout=10)  # warm the catalog
        times: list[float] = []
        with_fast = 0
        for _ in range(EVENTS):
            started = time.monotonic()
            body = http.get(f"{stack.dcs_url}/event?d_rtbd=json&d_cts=1", timeout=10).json()
            times.append((time.monotonic() - started) * 1000)
            with_fast += 5002 in body["segments"]
        print(json.dumps({"events": EVENTS, "budget_ms": 250,
                          "p50_ms": round(statistics.median(times), 1),
                          "max_ms": round(max(times), 1),
                          "events_with_fast_segment": with_fast}))


if __name__ == "__main__":
    main()
