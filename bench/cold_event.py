"""What a cold container costs its first visitor, end to end.

    PYTHONPATH=. .venv/bin/python -m bench.cold_event [--runs 7]

``bench/coldstart.py`` times imports; this times requests. Against the local stack (moto
server, provider simulator, demo catalog), each run starts a fresh Python process that does
what Lambda does: ``import app`` (the init phase), then calls the handler ``app.app(event,
context)`` with an API Gateway proxy event for ``GET /event`` twice (the second with the
first's UUID cookie: a returning visitor). The first call pays for
everything a cold container loads or opens lazily (handler modules, boto3 clients, the
catalog, connections to DynamoDB and the providers); the second is a warm event.

Both providers of the demo catalog answer after a fixed 20 ms, so provider time is the same
in every call. Printed (medians over ``--runs``):

* ``init_ms``: ``import app``; ``first_event_ms`` and ``warm_event_ms``: the two handler calls;
* ``cold_penalty_ms`` = init + first - warm: what a visitor waits for on a cold container
  beyond a warm event;
* the same with ``AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency``, where app.py
  loads the API handlers during init (``chalicelib/runtime/warmup.py``), so the init grows and the
  first event shrinks: ``prepaid_*``.

Everything runs on loopback with dummy AWS credentials.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.provider_sim import SimulatorClient  # noqa: E402
from devtools.stack import DUMMY_AWS_ENV, LocalStack, free_port  # noqa: E402

os.environ.update(DUMMY_AWS_ENV)  # dummy credentials, no metadata probing: moto only

PROVIDER_LATENCY_MS = 20

# Runs in the fresh process: Lambda's init (import app), then two invocations.
_CHILD = r"""
import json, time
t0 = time.perf_counter()
import app
t1 = time.perf_counter()

def proxy_event(query, cookie):
    path = "/event"
    headers = {"Accept": "application/json", "Host": "bench.invalid"}
    if cookie:
        headers["Cookie"] = cookie
    return {
        "resource": path, "path": path, "httpMethod": "GET",
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v for k, v in query.items()},
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()},
        "pathParameters": None, "stageVariables": None, "body": None,
        "isBase64Encoded": False,
        "requestContext": {"resourcePath": path, "httpMethod": "GET", "path": path,
                           "stage": "api", "requestId": "bench",
                           "identity": {"sourceIp": "127.0.0.1"}},
    }

class Context:
    function_name = "rtdcs-bench"
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self):
        return 10_000

answers, marks, segments = [], [], []
cookie = None  # the second event is the same visitor's (a profile read, then a write)
for section in ("sports", "news"):
    started = time.perf_counter()
    answer = app.app(proxy_event({"d_rtbd": "json", "d_cts": "1", "c_section": section},
                                 cookie), Context())
    marks.append((time.perf_counter() - started) * 1000)
    answers.append(answer["statusCode"])
    body = json.loads(answer["body"])
    segments.append(body.get("segments", []))
    cookie = "rtdcs_uuid=" + body["uuid"]
print(json.dumps({"init_ms": (t1 - t0) * 1000, "first_event_ms": marks[0],
                  "warm_event_ms": marks[1], "statuses": answers, "segments": segments}))
"""


def _run_child(env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"bench child failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _summary(samples: list[dict[str, Any]]) -> dict[str, float]:
    def median(key: str) -> float:
        return statistics.median(s[key] for s in samples)

    init, first, warm = median("init_ms"), median("first_event_ms"), median("warm_event_ms")
    penalty = statistics.median(s["init_ms"] + s["first_event_ms"] - s["warm_event_ms"]
                                for s in samples)
    return {"init_ms": round(init, 1), "first_event_ms": round(first, 1),
            "warm_event_ms": round(warm, 1), "cold_penalty_ms": round(penalty, 1)}


def measure(runs: int) -> dict[str, Any]:
    with LocalStack(dcs_port=free_port(), moto_port=free_port(), sim_port=free_port(),
                    quiet=True) as stack:
        sim = SimulatorClient(stack.sim_url)
        for name in ("fast", "slow"):
            sim.set(name, {"latency_ms": PROVIDER_LATENCY_MS, "jitter_ms": 0, "mode": "ok",
                           "segments": ["auto-intender"] if name == "fast" else ["luxury"]})
        on_demand = dict(stack.env, AWS_LAMBDA_INITIALIZATION_TYPE="on-demand")
        prepaid = dict(stack.env, AWS_LAMBDA_INITIALIZATION_TYPE="provisioned-concurrency")
        _run_child(on_demand)  # warm the file cache and bytecode
        cold, warm_init = [], []
        for _ in range(runs):  # interleaved, so machine load hits both alike
            cold.append(_run_child(on_demand))
            warm_init.append(_run_child(prepaid))
    statuses = {code for s in cold + warm_init for code in s["statuses"]}
    prepaid_summary = {f"prepaid_{k}": v for k, v in _summary(warm_init).items()}
    return {"runs": runs, "provider_latency_ms": PROVIDER_LATENCY_MS,
            **_summary(cold), **prepaid_summary, "http_statuses": sorted(statuses),
            "segments_of_one_run": cold[-1]["segments"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(measure(max(1, args.runs)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
