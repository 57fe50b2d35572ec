"""Dollars per million ``/event`` requests, itemised, from measured figures and the dated price
table. Prints one JSON document.

    .venv/bin/python -m bench.cost [--event-cpu FILE] [--events 600] [--sizes demo,1000,100000]
                                   [--provider-wait-ms 150] [--dynamodb-ms 5]
                                   [--memories 1024,768,512,256]

Inputs:

* ``bench/event_cpu.py``'s JSON (run here as a subprocess, or read from ``--event-cpu``): per
  catalog size and visitor kind, the mean CPU ms of a warm event, DynamoDB read and write units
  per event (counted requests, real item sizes), log bytes per event, S2S messages and response
  bytes, and the peak RSS;
* ``bench/prices.py``: us-east-1 list prices, first tier, with the date they were read.

Model (each item of the output names its figures: ``from`` is a key of event_cpu's output,
``price`` an entry of the price table, ``assumption`` one of the options below):

* front door: one request per event (REST API, HTTP API, or a function URL: no fee);
* Lambda requests: one invocation per event;
* Lambda duration: billed ms = ceil(provider wait + DynamoDB requests x ``--dynamodb-ms`` +
  CPU ms x max(1, 1769 / memory MB)). Lambda gives CPU in proportion to memory, one vCPU at
  1,769 MB (prices.lambda_mb_per_vcpu), so below that a CPU-bound millisecond measured on one
  full core of this machine takes 1769/M ms; the work is single-threaded (the GIL), so more
  than 1,769 MB does not make it faster. arm64 is assumed as fast per core as this machine
  (``--arm64-cpu-factor`` to change it; not measured here). Additive, so an upper bound: the
  rules run while providers are in flight. The provider wait defaults to docs/deploy.md's
  150 ms average function time, taken entirely as waiting for providers (so CPU and DynamoDB
  time come on top); ``sensitivity`` repeats the mix at 0 ms (no provider, or all cached),
  80 ms (bench/event_budget.py's fast provider) and 250 ms (the budget, RTDCS_RT_BUDGET_MS);
* Lambda init: ``--cold-starts-per-million`` cold starts of ``--init-ms`` (docs: README's
  bench/cold_event.py cold penalty, ~330 ms) billed as duration;
* DynamoDB: the counted read and write request units, on-demand (prices after the November
  2024 cut), and again with the profile table provisioned (``provisioned_profiles``: unit-hours
  divided by ``--provisioned-utilization``, the average share of provisioned capacity used);
  the catalog's version check (one eventually consistent read per container every
  RTDCS_CATALOG_REFRESH_SECONDS) is per container, not per event, and left out;
* SQS: the spool carries only writes that failed (~0 in normal operation: 0 here); S2S
  messages as measured (the demo catalog has no S2S destination: 0), each costing at most one
  SendMessageBatch entry plus the consumer's receive and delete (3 requests, unbatched: an
  upper bound);
* CloudWatch Logs: the measured event line without its metrics, plus its share of the EMF
  document the container writes once per metrics window (``--metrics-window-events`` events
  per document; the document's size is measured), GB = 2^30 bytes. No START/END/REPORT lines:
  the functions log in JSON with system logs at WARN (infra.deploy.LOGGING_CONFIG). EMF
  metrics cost $0.30 per metric a month, not per event (``monthly_not_per_event``);
* data transfer out: the response's body and headers.

Scenarios: all returning visitors, all new, and docs/deploy.md's mix (70 % returning). Per
front door (REST API, HTTP API, function URL), architecture (x86_64, arm64) and memory size.
A memory size below the measured peak RSS (with a catalog change in flight) + 10 % is marked
``fits: false``: the function would run out of memory there.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import prices as price_table  # noqa: E402
from bench.event_cpu import BENCH_ENV  # noqa: E402  (sets the dummy AWS environment)

GB = 2**30
FRONT_DOORS = {"rest_api": "apigw_rest_per_million", "http_api": "apigw_http_per_million",
               "function_url": "function_url_per_million"}
ARCHES = {"x86_64": "lambda_gb_second_x86_64", "arm64": "lambda_gb_second_arm64"}
SCENARIOS = {"all_returning": 1.0, "all_new": 0.0, "mix_70_30": 0.7}
MEMORY_HEADROOM = 1.10


def _p(name: str) -> float:
    return price_table.price(name)


def run_event_cpu(sizes: list[str], events: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.event_cpu", "--sizes", ",".join(sizes), "--events",
         str(events)], cwd=ROOT, env={**__import__("os").environ, **BENCH_ENV},
        capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"bench.event_cpu failed:\n{out.stderr[-3000:]}")
    measured: dict[str, Any] = json.loads(out.stdout)
    return measured


class Model:
    def __init__(self, args: argparse.Namespace) -> None:
        self.provider_wait_ms = args.provider_wait_ms
        self.dynamodb_ms = args.dynamodb_ms
        self.arm64_cpu_factor = args.arm64_cpu_factor
        self.cold_starts = args.cold_starts_per_million
        self.init_ms = args.init_ms
        self.mb_per_vcpu = _p("lambda_mb_per_vcpu")
        self.window_events = max(1.0, args.metrics_window_events)
        self.capacity = getattr(args, "dynamodb_capacity", "on-demand")
        self.utilization = args.provisioned_utilization

    def _request_unit_price(self, kind: str) -> tuple[float, str]:
        """$ per million read or write request units, and the price it comes from. Provisioned:
        a unit-hour serves 3,600 units at full use; paid for whether used or not."""
        if self.capacity == "provisioned":
            name = "dynamodb_rcu_hour" if kind == "read" else "dynamodb_wcu_hour"
            return 1e6 / 3600 * _p(name) / self.utilization, name
        name = f"dynamodb_{kind}_request_unit_per_million"
        return _p(name), name

    def _dynamodb(self, key: str, ddb: dict[str, Any], kind: str,
                  operation: str) -> dict[str, Any]:
        """The read (``kind`` "read", GetItem) or write ("write", PutItem) request units."""
        units = f"{kind}_units"
        price, price_name = self._request_unit_price(kind)
        item = {"usd_per_million": ddb[units] * price,
                "usage_per_event": {units: ddb[units], operation: ddb[operation],
                                    f"{kind}_item_bytes": ddb[f"{kind}_item_bytes"]},
                "from": [f"{key}.dynamodb_per_event.{units}"], "price": price_name}
        if self.capacity == "provisioned":
            item["assumption"] = ["provisioned_utilization"]
        return item

    def _logs(self, key: str, logs: dict[str, Any],
              emf: tuple[float, float, float]) -> dict[str, Any]:
        """The event's own line (without the EMF document), its share of the window's EMF
        document, other output, and Lambda's platform lines (none with system logs at WARN).
        ``emf``: the measured document's bytes, header bytes (the same for any window) and
        events per document; the header is shared by ``--metrics-window-events`` events, the
        values by as many events as the measured documents held."""
        if "event_fields" not in logs:  # an event_cpu output from before the metrics window
            per_event = logs["total"]
            usage: dict[str, Any] = {"bytes": per_event, "json_line": logs["json_line"]}
            sources = [f"{key}.log_bytes_per_event.total"]
        else:
            document, header, measured_events = emf
            share = (header / self.window_events
                     + (document - header) / max(1.0, measured_events))
            per_event = (logs["event_fields"] + share + logs["other_output"]
                         + logs["lambda_platform_lines_modelled"])
            usage = {"bytes": round(per_event, 1), "event_fields": logs["event_fields"],
                     "emf_document_share": round(share, 1),
                     "emf_header_bytes": header,
                     "emf_values_bytes_per_event": round(
                         (document - header) / max(1.0, measured_events), 1),
                     "events_per_emf_document": self.window_events,
                     "lambda_platform_lines": logs["lambda_platform_lines_modelled"]}
            sources = [f"{key}.log_bytes_per_event.event_fields",
                       "sizes.*.kinds.*.log_bytes_per_event.emf_document_bytes"]
        return {"usd_per_million": per_event / GB * _p("cloudwatch_logs_ingest_per_gb") * 1e6,
                "usage_per_event": usage, "from": sources,
                "assumption": ["metrics_window_events"],
                "price": "cloudwatch_logs_ingest_per_gb"}

    def per_kind(self, size: str, kind: str, figures: dict[str, Any], arch: str,
                 memory_mb: int, provider_wait_ms: float,
                 emf: tuple[float, float, float] = (0.0, 0.0, 1.0)
                 ) -> dict[str, dict[str, Any]]:
        """Items ($ per million events of this kind) that do not depend on the front door."""
        key = f"sizes.{size}.kinds.{kind}"
        ddb = figures["dynamodb_per_event"]
        logs = figures["log_bytes_per_event"]
        cpu_ms = figures["cpu_ms"]["mean"] * (self.arm64_cpu_factor if arch == "arm64" else 1)
        cpu_scale = max(1.0, self.mb_per_vcpu / memory_mb)
        ddb_wait = ddb["requests"] * self.dynamodb_ms
        duration_ms = provider_wait_ms + ddb_wait + cpu_ms * cpu_scale
        billed_ms = math.ceil(duration_ms)
        gb_s = memory_mb / 1024 * billed_ms / 1000
        gb_s_price = _p(ARCHES[arch])
        items: dict[str, dict[str, Any]] = {
            "lambda_requests": {
                "usd_per_million": _p("lambda_requests_per_million"),
                "usage_per_event": "1 invocation", "price": "lambda_requests_per_million"},
            "lambda_duration": {
                "usd_per_million": gb_s * gb_s_price * 1e6,
                "usage_per_event": {
                    "billed_ms": billed_ms, "gb_s": round(gb_s, 6),
                    "provider_wait_ms": provider_wait_ms,
                    "dynamodb_wait_ms": round(ddb_wait, 2),
                    "cpu_ms_measured_mean": figures["cpu_ms"]["mean"],
                    "cpu_ms_at_this_memory": round(cpu_ms * cpu_scale, 3),
                    "cpu_scale": round(cpu_scale, 3)},
                "from": [f"{key}.cpu_ms.mean", f"{key}.dynamodb_per_event.requests"],
                "assumption": ["provider_wait_ms", "dynamodb_ms", "lambda_mb_per_vcpu"]
                + (["arm64_cpu_factor"] if arch == "arm64" else []),
                "price": ARCHES[arch]},
            "lambda_init": {
                "usd_per_million": self.cold_starts * memory_mb / 1024 * self.init_ms / 1000
                * gb_s_price,
                "usage_per_event": f"{self.cold_starts} cold starts per million x "
                                   f"{self.init_ms} ms",
                "assumption": ["cold_starts_per_million", "init_ms"], "price": ARCHES[arch]},
            "dynamodb_reads": self._dynamodb(key, ddb, "read", "get_item"),
            "dynamodb_writes": self._dynamodb(key, ddb, "write", "put_item"),
            "sqs": {
                "usd_per_million": figures["s2s_messages_per_event"] * 3
                * _p("sqs_standard_per_million"),
                "usage_per_event": {"spool_requests": 0,
                                    "s2s_messages": figures["s2s_messages_per_event"]},
                "from": [f"{key}.s2s_messages_per_event"],
                "assumption": ["spool: 0 (writes do not fail)",
                               "3 SQS requests per S2S message (upper bound)"],
                "price": "sqs_standard_per_million"},
            "cloudwatch_logs": self._logs(key, logs, emf),
            "data_transfer_out": {
                "usd_per_million": figures["response_bytes"] / GB
                * _p("data_transfer_out_per_gb") * 1e6,
                "usage_per_event": {"bytes": figures["response_bytes"]},
                "from": [f"{key}.response_bytes"], "price": "data_transfer_out_per_gb"},
        }
        return items


def _emf_document(kinds: dict[str, Any]) -> tuple[float, float, float]:
    """(document bytes, header bytes, events per document) of the kind whose events closed
    the measured windows (the 100-value limit makes it always the same kind)."""
    logs = max((k["log_bytes_per_event"] for k in kinds.values()),
               key=lambda log: log.get("emf_documents", 0))
    documents = logs.get("emf_documents", 0)
    if not documents:
        return 0.0, 0.0, 1.0
    events = sum(k["events"] for k in kinds.values())
    return logs["emf_document_bytes"], logs["emf_header_bytes"], events / documents


def _round(items: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: {**item, "usd_per_million": round(item["usd_per_million"], 4)}
            for name, item in items.items()}


def _mix(returning: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]],
         share: float) -> dict[str, dict[str, Any]]:
    if share == 1.0:
        return returning
    if share == 0.0:
        return new
    mixed = {}
    for name in returning:
        mixed[name] = {
            "usd_per_million": share * returning[name]["usd_per_million"]
            + (1 - share) * new[name]["usd_per_million"],
            "returning": returning[name].get("usage_per_event"),
            "new": new[name].get("usage_per_event"),
            **{k: v for k, v in returning[name].items()
               if k in ("from", "price", "assumption")},
        }
        if "from" in mixed[name]:
            mixed[name]["from"] = sorted(set(mixed[name]["from"]) | {
                f.replace(".returning.", ".new.") for f in mixed[name]["from"]})
    return mixed


def compute(measured: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    model = Model(args)
    memories = [int(m) for m in args.memories.split(",")]
    out_sizes: dict[str, Any] = {}
    for size, result in measured["sizes"].items():
        peak = result["peak_rss_with_catalog_change_mb"] or result["peak_rss_mb"]
        needed_mb = math.ceil(peak * MEMORY_HEADROOM)
        steady_mb = math.ceil(result["peak_rss_mb"] * MEMORY_HEADROOM)
        emf_document = _emf_document(result["kinds"])
        per_memory: dict[str, Any] = {}
        for memory in memories:
            per_arch: dict[str, Any] = {}
            for arch in ARCHES:
                kinds = {kind: model.per_kind(size, kind, result["kinds"][kind], arch, memory,
                                              args.provider_wait_ms, emf_document)
                         for kind in ("returning", "new")}
                scenarios = {}
                for scenario, share in SCENARIOS.items():
                    items = _mix(kinds["returning"], kinds["new"], share)
                    function_total = sum(i["usd_per_million"] for i in items.values())
                    totals = {door: round(function_total + _p(price), 4)
                              for door, price in FRONT_DOORS.items()}
                    scenarios[scenario] = {"items": _round(items),
                                           "without_front_door": round(function_total, 4),
                                           "total_per_front_door": totals}
                per_arch[arch] = scenarios
            per_memory[str(memory)] = {"fits": memory >= needed_mb,
                                       "fits_without_catalog_change": memory >= steady_mb,
                                       **per_arch}
        sensitivity = {}
        for wait in (0.0, 80.0, args.provider_wait_ms, 250.0):
            row = {}
            for arch in ARCHES:
                kinds = {kind: model.per_kind(size, kind, result["kinds"][kind], arch,
                                              memories[0], wait, emf_document)
                         for kind in ("returning", "new")}
                items = _mix(kinds["returning"], kinds["new"], SCENARIOS["mix_70_30"])
                total = sum(i["usd_per_million"] for i in items.values())
                row[arch] = {door: round(total + _p(price), 4)
                             for door, price in FRONT_DOORS.items()}
            sensitivity[f"provider_wait_{wait:g}ms"] = row
        out_sizes[size] = {"peak_rss_mb": result["peak_rss_mb"],
                           "peak_rss_with_catalog_change_mb": peak,
                           "memory_needed_mb": needed_mb,
                           "memory_needed_without_catalog_change_mb": steady_mb,
                           "memory": per_memory,
                           "sensitivity_mix_70_30_at_" + str(memories[0]) + "mb": sensitivity}
    headline = {}
    for size, sized in out_sizes.items():
        row = {}
        for memory, per in sized["memory"].items():
            row[f"{memory}mb" + ("" if per["fits"] else " (does not fit)")] = {
                arch: per[arch]["mix_70_30"]["total_per_front_door"] for arch in ARCHES}
        headline[size] = row
    cheapest: dict[str, Any] = {}
    for size, sized in out_sizes.items():
        fitting = [m for m, per in sized["memory"].items() if per["fits"]]
        row = {}
        for door in FRONT_DOORS:
            options = [(sized["memory"][m][arch]["mix_70_30"]["total_per_front_door"][door],
                        f"{arch} {m} MB") for m in fitting for arch in ARCHES]
            if options:
                best = min(options)
                row[door] = {"usd_per_million": best[0], "config": best[1]}
        cheapest[size] = row
    biggest = {}
    for size, sized in out_sizes.items():
        items = sized["memory"][str(memories[0])]["x86_64"]["mix_70_30"]["items"]
        ranked = sorted(items.items(), key=lambda kv: -kv[1]["usd_per_million"])
        biggest[size] = [(name, item["usd_per_million"]) for name, item in ranked[:4]]
    return {
        "bench": "cost",
        "unit": "USD per million /event requests",
        "prices": {"read_on": price_table.READ_ON, "region": price_table.REGION,
                   "file": "bench/prices.py"},
        "assumptions": {
            "provider_wait_ms": args.provider_wait_ms,
            "provider_wait_source": "docs/deploy.md: 'the function runs 150 ms on average' "
                                    "(taken entirely as provider wait)",
            "dynamodb_ms": args.dynamodb_ms,
            "dynamodb_ms_source": "assumed: one in-region DynamoDB request, single-digit ms",
            "lambda_mb_per_vcpu": model.mb_per_vcpu,
            "arm64_cpu_factor": args.arm64_cpu_factor,
            "cold_starts_per_million": args.cold_starts_per_million,
            "init_ms": args.init_ms,
            "dynamodb_capacity": args.dynamodb_capacity,
            "metrics_window_events": args.metrics_window_events,
            "metrics_window_source": "RTDCS_METRICS_WINDOW_S=10 (infra/deploy.py): a container "
                                     "serving one ~180 ms event at a time writes one EMF "
                                     "document per <= 55 events; assumed busy a third of the "
                                     "time",
            "mix": "docs/deploy.md: 70 % of events from returning visitors",
            "cpu_statistic": "mean CPU ms per event (cost is linear in duration)",
            "memory_fits_if": f"memory >= peak RSS with a catalog change x {MEMORY_HEADROOM}",
            "free_tiers": "not applied",
        },
        "headline_mix_70_30": headline,
        "cheapest_fitting_mix_70_30": cheapest,
        "largest_items_mix_x86_64_" + str(memories[0]) + "mb": biggest,
        "monthly_not_per_event": {
            "custom_metrics": {"count": "~23 (docs/deploy.md)", "usd_each": _p(
                "cloudwatch_custom_metric_month"), "price": "cloudwatch_custom_metric_month"},
            "dynamodb_storage": {"usd_per_gb_month": _p("dynamodb_storage_gb_month"),
                                 "price": "dynamodb_storage_gb_month"},
        },
        "sizes": out_sizes,
        "event_cpu_summary": measured.get("summary"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--event-cpu", help="bench.event_cpu's JSON (else it is run)")
    parser.add_argument("--events", type=int, default=600, help="passed to bench.event_cpu")
    parser.add_argument("--sizes", default="demo,1000,100000", help="passed to bench.event_cpu")
    parser.add_argument("--provider-wait-ms", type=float, default=150.0)
    parser.add_argument("--metrics-window-events", type=float, default=18.0,
                        help="events per EMF document in production (RTDCS_METRICS_WINDOW_S)")
    parser.add_argument("--dynamodb-capacity", default="on-demand",
                        choices=("on-demand", "provisioned"),
                        help="the profile table's capacity mode of the main figures")
    parser.add_argument("--provisioned-utilization", type=float, default=0.5,
                        help="average consumed / provisioned capacity (provisioned mode)")
    parser.add_argument("--dynamodb-ms", type=float, default=5.0,
                        help="wall ms per DynamoDB request")
    parser.add_argument("--arm64-cpu-factor", type=float, default=1.0,
                        help="arm64 CPU ms / measured CPU ms")
    parser.add_argument("--cold-starts-per-million", type=float, default=200.0)
    parser.add_argument("--init-ms", type=float, default=330.0)
    parser.add_argument("--memories", default="1024,768,512,256",
                        help="memory sizes (MB); the first is the sensitivity's")
    args = parser.parse_args(argv)
    if args.event_cpu:
        measured = json.loads(Path(args.event_cpu).read_text("utf-8"))
    else:
        measured = run_event_cpu(args.sizes.split(","), args.events)
    result = compute(measured, args)
    # The same events with the profile table provisioned (infra: --profiles-capacity).
    provisioned = compute(measured, argparse.Namespace(**{**vars(args),
                                                          "dynamodb_capacity": "provisioned"}))
    result["provisioned_profiles"] = {
        "provisioned_utilization": args.provisioned_utilization,
        "provisioned_utilization_source": (
            "assumed: target tracking holds 70 % (infra/data-stack.yaml); scale-down lag, "
            "the minimum and daily peaks bring the average use to about half"),
        "headline_mix_70_30": provisioned["headline_mix_70_30"],
        "cheapest_fitting_mix_70_30": provisioned["cheapest_fitting_mix_70_30"],
        "items_demo_function_url": _demo_items(provisioned),
    }
    print(json.dumps(result, indent=2))
    return 0


def _demo_items(result: dict[str, Any]) -> dict[str, Any] | None:
    """The cheapest fitting demo configuration's items (the mix), for the docs' breakdown."""
    demo = result["sizes"].get("demo")
    best = result["cheapest_fitting_mix_70_30"].get("demo", {}).get("function_url")
    if not demo or not best:
        return None
    arch, memory, _ = best["config"].split(" ")
    items = demo["memory"][memory][arch]["mix_70_30"]["items"]
    return {"config": best["config"],
            "items": {name: item["usd_per_million"] for name, item in items.items()}}


if __name__ == "__main__":
    sys.exit(main())
