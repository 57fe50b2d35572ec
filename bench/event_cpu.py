"""What one warm ``/event`` costs inside the function: CPU, wall time, memory, log bytes and
DynamoDB request units. Prints one JSON document.

    .venv/bin/python -m bench.event_cpu [--events 600] [--sizes demo,1000,100000] [--seed 7]
                                        [--wires http,botocore]

For each catalog size, a fresh Python process (so its peak RSS is its own) does what a Lambda
container does: ``import app``, build the services, compile the catalog, then serves events
through the Lambda handler ``app.app(proxy_event, context)`` -- Chalice routing, request
parsing, the pipeline, rendering, the log line and the EMF metrics -- with every outside
service replaced in-process:

* DynamoDB: the **production clients** (``chalicelib.store.dynamo``), their HTTP send
  answered by an in-memory table: the profile path's GetItem/PutItem go over the ``http``
  wire (``RTDCS_DYNAMODB_WIRE``'s choice in Lambda, ``chalicelib/store/dynamo_http.py``)
  whose urllib3 pool is replaced by the table, the other requests through botocore, hooked
  on its ``before-send`` event. So serializing, signing and parsing are in the CPU figure;
  only the socket and TLS are not. The
  fake counts every request and sizes every item by DynamoDB's rules
  (``chalicelib/store/item_size.py``): reads are billed per started 4 KB of the item
  (strongly consistent: 1 unit, eventually: 0.5; a missing item still costs 1), writes per
  started 1 KB of the larger of the item before and after;
* providers: the real ``Fanout`` (thread pool, breakers, stats), with a caller that answers at
  once from memory (no HTTP: the provider *wait* is modelled by ``bench/cost.py``);
* the catalog: ``CatalogCache`` over an in-memory source loading the catalog JSON;
* S2S queue: a counter (the demo catalog has no S2S destination, so it stays 0).

Catalogs: ``demo`` (devtools/demo_catalog.json: 7 traits, 2 providers, 1 cookie destination),
and bench/rules.py's generator at 1,000 and 100,000 rule-based traits with 20,000 segments, each
with the demo catalog's providers, onboarded traits, segments and destination added (ids moved
out of the generator's range). Events: what ``tag.js`` sends (a CORS POST with
``d_rtbd=json&d_dst=1&d_jsonv=1&d_nsid=0`` and 10 page signals drawn by bench/rules.py's
vocabulary, plus ``c_section`` for the demo rules). Visitors: ``returning`` (a cookie, a
profile built by 5-40 earlier events over the last 60 days) and ``new`` (no cookie), measured
interleaved in one process.

Per size and kind: CPU ms (``time.process_time``: every thread of the process, so the
provider threads count) and wall ms, median / p99 / mean; log bytes per event (the pipeline's
JSON line and the EMF document, as written; plus Lambda's own START/END/REPORT lines, modelled
from their format); DynamoDB requests, read and write units and item bytes per event; S2S
messages; the response size. Memory: VmHWM (peak RSS) after ``import app``, after the catalog is
compiled, after the events, and after a catalog change (the new catalog compiled while the old
one is still served, as ``CatalogCache`` does).

``--wires http,botocore`` measures each size once per DynamoDB wire (``RTDCS_DYNAMODB_WIRE``:
the profile path over rtdcs' own client, or through botocore), one after the other, and
sets their medians and ratios side by side in ``wire_comparison`` (issue 17).

Bounded: about 2-3 minutes with the defaults (the 100,000-trait catalog is generated, compiled
twice and measured). Nothing leaves the machine: dummy AWS credentials, the endpoint pointed at
a closed loopback port, every DynamoDB call answered by the hook.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import math
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    # Any call the hook does not answer goes to a closed loopback port and fails at once.
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "POWERTOOLS_SERVICE_NAME": "rtdcs-prod",
    "POWERTOOLS_METRICS_NAMESPACE": "rtdcs",
    "RTDCS_STAGE": "prod",
    "RTDCS_PROFILES_TABLE": "rtdcs-prod-profiles",
    "RTDCS_IDMAP_TABLE": "rtdcs-prod-idmap",
    "RTDCS_CATALOG_TABLE": "rtdcs-prod-catalog",
    "RTDCS_RT_BUDGET_MS": "250",
    "RTDCS_METRICS_WINDOW_S": "10",  # the deployed stages' (infra/deploy.py)
    "RTDCS_CORS_ALLOWED_ORIGINS": "https://pub.example",
}
os.environ.update(BENCH_ENV)

ORIGIN = "https://pub.example"
NOW0 = time.time()
DAY = 86400.0
SEGMENTS = 20_000
DEMO_OFFSET_TRAIT = 5_000_000  # demo trait sid 1001 -> 5,001,001 in a generated catalog
DEMO_OFFSET_SEGMENT = 6_000_000
VISITORS = 100
LAMBDA_MEMORY_MB = 1024  # only for the modelled REPORT line's width


# ---- memory ------------------------------------------------------------------------------------


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def memory_mark() -> dict[str, float | None]:
    import resource

    return {"vm_hwm_mb": _status_mb("VmHWM"), "vm_rss_mb": _status_mb("VmRSS"),
            "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


# ---- catalogs ----------------------------------------------------------------------------------


def _demo_raw() -> dict[str, Any]:
    from devtools.seed import load_catalog

    raw = load_catalog("https://provider.invalid")  # providers: https, answered in memory
    return raw


def _moved_demo(raw: dict[str, Any]) -> dict[str, Any]:
    """The demo catalog's objects with trait and segment ids moved out of the generator's."""
    moved = json.loads(json.dumps(raw))
    for trait in moved["trait"]:
        trait["sid"] += DEMO_OFFSET_TRAIT
    for segment in moved["segment"]:
        segment["sid"] += DEMO_OFFSET_SEGMENT
        segment["segmentRule"] = re.sub(
            r"(\d+)T", lambda m: f"{int(m.group(1)) + DEMO_OFFSET_TRAIT}T", segment["segmentRule"])
    for mapping in moved.get("mapping", []):
        mapping["sid"] += DEMO_OFFSET_SEGMENT
    return moved


def build_catalog(size: str, seed: int) -> dict[str, Any]:
    demo = _demo_raw()
    if size == "demo":
        return demo
    from bench.rules import Vocabulary, make_raw

    traits = int(size)
    vocab = Vocabulary(random.Random(seed), scale=traits / 10_000)
    raw = make_raw(traits, SEGMENTS, random.Random(seed * 1_000_003 + traits), vocab)
    moved = _moved_demo(demo)
    for kind, objects in moved.items():
        raw.setdefault(kind, []).extend(objects)
    return raw


# ---- DynamoDB on the wire, in memory -----------------------------------------------------------


class _HttpAnswer:
    def __init__(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.status, self.headers, self.data = status, headers, data


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _from_wire(value: dict[str, Any]) -> Any:
    (kind, inner), = value.items()
    if kind == "S":
        return inner
    if kind == "N":
        return Decimal(inner)
    if kind == "B":
        return base64.b64decode(inner)
    if kind == "BOOL":
        return bool(inner)
    if kind == "NULL":
        return None
    if kind == "SS":
        return set(inner)
    if kind == "NS":
        return {Decimal(v) for v in inner}
    if kind == "BS":
        return {base64.b64decode(v) for v in inner}
    if kind == "L":
        return [_from_wire(v) for v in inner]
    if kind == "M":
        return {k: _from_wire(v) for k, v in inner.items()}
    raise ValueError(kind)


def _item(wire: dict[str, Any]) -> dict[str, Any]:
    return {k: _from_wire(v) for k, v in wire.items()}


class WireDynamo:
    """Answers the app's DynamoDB requests from memory, at botocore's ``before-send``, and
    keeps the bill: one record per request (operation, units, item bytes)."""

    def __init__(self) -> None:
        from chalicelib.store.item_size import item_size

        self._size = item_size
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}  # table -> key -> wire item
        self.requests: list[dict[str, Any]] = []
        # The fake's own CPU (decoding, sizing, answering): DynamoDB's work, not the
        # function's, so the measured loop takes it out of the event's CPU and wall time.
        self.own_s = 0.0

    def install(self) -> None:
        from chalicelib.store.dynamo import dynamodb_clients

        for client in dynamodb_clients():
            client.meta.events.register("before-send.dynamodb", self._on_send,
                                        unique_id="bench-wire-dynamo")

    def _on_send(self, request: Any, **_: Any) -> Any:
        started = time.thread_time()
        try:
            return self._answer(request)
        finally:
            self.own_s += time.thread_time() - started

    def _answer(self, request: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        status, headers, data = self._respond(request.headers.get("X-Amz-Target"),
                                              request.body)
        return AWSResponse(request.url, status, headers, _Raw(data))

    def urlopen(self, method: str, url: str, body: bytes = b"",
                headers: dict[str, str] | None = None, **_: Any) -> Any:
        """The ``http`` wire's pool (``chalicelib.store.dynamo_http``): the same answers."""
        started = time.thread_time()
        try:
            status, answer_headers, data = self._respond((headers or {})["X-Amz-Target"], body)
            return _HttpAnswer(status, answer_headers, data)
        finally:
            self.own_s += time.thread_time() - started

    def _respond(self, target: Any, body: Any) -> tuple[int, dict[str, str], bytes]:
        target = target.decode() if isinstance(target, bytes) else target
        operation = target.rsplit(".", 1)[-1]
        body = body.decode() if isinstance(body, bytes) else (body or "{}")
        handler = getattr(self, "_" + operation, None)
        if handler is None:
            raise AssertionError(f"bench: unexpected DynamoDB {operation}")
        status, payload = handler(json.loads(body))
        data = json.dumps(payload).encode()
        # DynamoDB's own headers, its CRC32 of the body included (both clients check it).
        headers = {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "bench",
                   "x-amz-crc32": str(binascii.crc32(data) & 0xFFFFFFFF)}
        return status, headers, data

    def _key(self, key: dict[str, Any]) -> str:
        return json.dumps(key, sort_keys=True)

    def _read_units(self, size: int, consistent: bool) -> float:
        units = max(1, math.ceil(size / 4096))
        return units if consistent else units / 2

    def _GetItem(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        table = self.tables.setdefault(body["TableName"], {})
        wire = table.get(self._key(body["Key"]))
        size = self._size(_item(wire)) if wire else 0
        consistent = bool(body.get("ConsistentRead"))
        self.requests.append({"op": "GetItem", "table": body["TableName"],
                              "consistent": consistent, "bytes": size,
                              "rru": self._read_units(size, consistent), "wru": 0})
        if wire is None:
            return 200, {}
        if "ProjectionExpression" in body:
            names = body.get("ExpressionAttributeNames", {})
            wanted = {names.get(p.strip(), p.strip())
                      for p in body["ProjectionExpression"].split(",")}
            wire = {k: v for k, v in wire.items() if k in wanted}
        return 200, {"Item": wire}

    def _PutItem(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        from devtools.memory_profiles import MemoryProfileTable

        name = body["TableName"]
        table = self.tables.setdefault(name, {})
        new = body["Item"]
        key_name = "uuid" if "uuid" in new else "pk"
        key = self._key({key_name: new[key_name]})
        old = table.get(key)
        old_size = self._size(_item(old)) if old else 0
        new_size = self._size(_item(new))
        record = {"op": "PutItem", "table": name, "bytes": new_size, "old_bytes": old_size,
                  "rru": 0, "wru": max(1, math.ceil(max(old_size, new_size) / 1024))}
        self.requests.append(record)
        condition = body.get("ConditionExpression")
        if condition:
            values = {k: _from_wire(v) for k, v in
                      body.get("ExpressionAttributeValues", {}).items()}
            if not MemoryProfileTable._holds(condition, values, _item(old) if old else None):
                record["failed"] = True
                error: dict[str, Any] = {
                    "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                    "message": "The conditional request failed"}
                if old and body.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
                    error["Item"] = old
                return 400, error
        table[key] = new
        return 200, {}

    def _BatchGetItem(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        responses: dict[str, list[Any]] = {}
        for name, request in body["RequestItems"].items():
            table = self.tables.setdefault(name, {})
            consistent = bool(request.get("ConsistentRead"))
            found = []
            for key in request["Keys"]:
                wire = table.get(self._key(key))
                size = self._size(_item(wire)) if wire else 0
                self.requests.append({"op": "BatchGetItem", "table": name, "bytes": size,
                                      "consistent": consistent,
                                      "rru": self._read_units(size, consistent), "wru": 0})
                if wire:
                    found.append(wire)
            responses[name] = found
        return 200, {"Responses": responses, "UnprocessedKeys": {}}


# ---- the container -----------------------------------------------------------------------------


class _Source:
    """The catalog table as CatalogCache sees it: a version, and the objects (a fresh copy per
    load, as a DynamoDB read would give)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current = 1

    def version(self) -> int:
        return self.current

    def load_all(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.path.read_text("utf-8"))
        return loaded


class _S2SCounter:
    def __init__(self) -> None:
        self.messages = 0

    def send(self, bodies: Any) -> None:
        self.messages += len(bodies)


def _canned_answers() -> dict[str, bytes]:
    return {
        "FastData": json.dumps({"Segments": [{"Segment_ID": "auto-intender", "Status": 1},
                                             {"Segment_ID": "sports-fan", "Status": 1}]}).encode(),
        "SlowData": json.dumps({"Segments": [{"Segment_ID": "luxury", "Status": 1}]}).encode(),
    }


def build_container(catalog_path: Path) -> dict[str, Any]:
    """The services ``build_services`` makes, with the outside replaced (see the docstring)."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.config import Settings, dynamodb_wire
    from chalicelib.pipeline import EventPipeline
    from chalicelib.providers.engine import build_fanout
    from chalicelib.providers.fanout import ProviderCaller
    from chalicelib.providers.messages import parse_answer
    from chalicelib.runtime import observability, services
    from chalicelib.runtime.catalog_cache import CatalogCache
    from chalicelib.store.dynamo import dynamodb_resource, profile_table, write_table
    from chalicelib.store.idmap import IdMapRepository
    from chalicelib.store.profiles import ProfileRepository, WritePolicy

    settings = Settings.from_env()
    answers = _canned_answers()

    class MemoryCaller(ProviderCaller):
        def __init__(self) -> None:  # no session: nothing goes out
            pass

        def call(self, plan: Any, deadline: float, extra_headers: Any = None) -> Any:
            body = answers.get(plan.provider.name, b'{"Segments": []}')
            return parse_answer(200, body, plan.provider.segments_path)

    wire = WireDynamo()
    clock: dict[str, float | None] = {"now": NOW0}  # None: real time (the measured events)

    def wall_clock() -> float:
        now = clock["now"]
        return time.time() if now is None else now

    source = _Source(catalog_path)
    catalog = CatalogCache(source, settings.catalog_refresh_seconds,
                           inline_compile_s=float("inf"))
    executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="rt")
    fanout = build_fanout(executor, MemoryCaller(), settings.provider_http_hosts, catalog.get)
    log_stream = io.StringIO()
    emf_lines: list[str] = []
    sink = observability.MetricsSink(emit=emf_lines.append)
    observability.install(observability.EventObserver(sink, stream=log_stream))
    # The wire RTDCS_DYNAMODB_WIRE picks (``http`` here: an endpoint is set), answered from
    # memory either way.
    pool = wire if dynamodb_wire() == "http" else None
    profiles = ProfileRepository(profile_table(settings.profiles_table, pool),
                                 write_table=write_table(settings.profiles_table, pool),
                                 spool=None, metrics=sink,
                                 policy=WritePolicy(budget_s=settings.rt_budget_ms / 1000 + 0.35))
    idmap = IdMapRepository(dynamodb_resource(), settings.idmap_table)
    wire.install()
    s2s = _S2SCounter()
    pipeline = EventPipeline(settings, catalog, profiles, fanout, idmap, wall_clock,
                             storage_errors=services.STORAGE_ERRORS,
                             is_throttle=services.is_throttle,
                             record_outcomes=fanout.stats.record_all, s2s=s2s)
    installed = services.Services(settings, catalog, None, profiles, pipeline,  # type: ignore
                                  None, None, idmap, provider_stats=fanout.stats)  # type: ignore
    services.install(installed)
    return {"settings": settings, "catalog": catalog, "source": source, "wire": wire,
            "clock": clock, "log_stream": log_stream, "emf_lines": emf_lines, "s2s": s2s}


# ---- events ------------------------------------------------------------------------------------


class _Context:
    function_name = "rtdcs-prod"
    aws_request_id = "bench"
    memory_limit_in_mb = LAMBDA_MEMORY_MB

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def proxy_event(form: list[tuple[str, str]], cookie: str | None) -> dict[str, Any]:
    """A REST API (payload 1.0) proxy event for ``POST /event``, as tag.js sends it."""
    from urllib.parse import urlencode

    path = "/event"
    headers = {"Accept": "application/json", "Host": "dcs.example.com", "Origin": ORIGIN,
               "Content-Type": "application/x-www-form-urlencoded",
               "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
                             "Gecko) Chrome/126.0 Safari/537.36",
               "Referer": "https://pub.example/sports/article-1.html",
               "CloudFront-Viewer-Country": "US"}
    if cookie:
        headers["Cookie"] = cookie
    return {
        "resource": path, "path": path, "httpMethod": "POST",
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": None, "stageVariables": None, "body": urlencode(form),
        "isBase64Encoded": False,
        "requestContext": {"resourcePath": path, "httpMethod": "POST", "path": path,
                           "stage": "api", "requestId": "bench",
                           "identity": {"sourceIp": "203.0.113.7"}},
    }


class Events:
    def __init__(self, size: str, seed: int) -> None:
        from bench.rules import Vocabulary

        self.rng = random.Random(seed + 11)
        traits = 10_000 if size == "demo" else int(size)
        self.vocab = Vocabulary(random.Random(seed), scale=traits / 10_000)

    def form(self) -> list[tuple[str, str]]:
        from bench.rules import make_event

        form = [("d_rtbd", "json"), ("d_dst", "1"), ("d_jsonv", "1"), ("d_nsid", "0")]
        form.append(("c_section", self.rng.choice(["sports", "news", "cars", "travel"])))
        for key, values in make_event(self.rng, self.vocab).items():
            form.extend((key, v) for v in values)
        return form


def _platform_log_bytes(duration_ms: float = 152.43, max_used_mb: int = 190) -> int:
    """Lambda's own lines per invocation in the text log format with system logs at INFO,
    modelled from their format. The deployed functions log in JSON with system logs at WARN
    (infra.deploy.LOGGING_CONFIG), where Lambda writes none of them."""
    request_id = "8f5e2c4a-1b7d-4c9e-a3f2-6d8b0e1f4a57"
    lines = [
        f"START RequestId: {request_id} Version: $LATEST\n",
        f"END RequestId: {request_id}\n",
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {LAMBDA_MEMORY_MB} MB\t"
        f"Max Memory Used: {max_used_mb} MB\t\n",
    ]
    return sum(len(line.encode()) for line in lines)


def _split_line(line: str) -> tuple[int, int, int]:
    """Bytes of the line without its EMF document; of the document's header (``_aws`` and the
    dimension), the same whatever the window held; and of its values. 0, 0 if no document."""
    text = line.strip()
    if not text:
        return 0, 0, 0
    record = json.loads(text)
    aws = record.get("_aws")
    if not aws:
        return len(line.encode()), 0, 0

    def size(part: dict[str, Any]) -> int:
        return len(json.dumps(part, separators=(",", ":"), default=str).encode())

    names = {m["Name"] for block in aws["CloudWatchMetrics"] for m in block["Metrics"]}
    fields = {k: v for k, v in record.items() if k not in names | {"_aws", "service"}}
    fields_bytes = size(fields) + 1
    header_bytes = size({"_aws": aws, "service": record.get("service")})
    return fields_bytes, header_bytes, len(line.encode()) - fields_bytes - header_bytes


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"median": at(0.5), "p99": at(0.99), "max": round(ordered[-1], 3),
            "mean": round(statistics.fmean(ordered), 3)}


def _mean(values: list[float]) -> float:
    return round(statistics.fmean(values), 3) if values else 0.0


def _profile_top(handler: Callable[..., Any], make: Callable[[], Any], context: Any,
                 count: int = 200, top: int = 25) -> list[str]:
    """Where the CPU of ``count`` events goes (cProfile, own time), for finding levers."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    events = [make() for _ in range(count)]
    profiler.enable()
    for event in events:
        handler(event, context)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(top)
    lines = [line.rstrip() for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if "/" in line or "{" in line][:top]


def run_child(size: str, catalog_path: Path, events: int, seed: int,
              profile: bool = False) -> dict[str, Any]:
    memory: dict[str, Any] = {"python_start": memory_mark()}
    started = time.perf_counter()
    import app as app_module  # the Lambda init phase

    memory["after_import_app"] = memory_mark()
    box = build_container(catalog_path)
    compile_started = time.perf_counter()
    catalog = box["catalog"].get()
    compile_s = time.perf_counter() - compile_started
    memory["after_catalog_compile"] = memory_mark()
    assert not catalog.problems, catalog.problems[:3]
    wire: WireDynamo = box["wire"]
    clock = box["clock"]
    log_stream: io.StringIO = box["log_stream"]
    emf_lines: list[str] = box["emf_lines"]
    s2s: _S2SCounter = box["s2s"]
    handler: Callable[..., Any] = app_module.app
    context = _Context()
    gen = Events(size, seed)
    hist_rng = random.Random(seed + 5)

    def invoke(cookie: str | None) -> tuple[dict[str, Any], str | None]:
        answer = handler(proxy_event(gen.form(), cookie), context)
        body = json.loads(answer["body"])
        return answer, body.get("uuid")

    # Returning visitors: 5-40 earlier events each, over the last 60 days (oldest first).
    visitors: list[str] = []
    history_events = 0
    for _ in range(VISITORS):
        times = sorted(NOW0 - hist_rng.uniform(1, 60) * DAY for _ in range(hist_rng.randint(5, 40)))
        clock["now"] = times[0]
        _, uuid = invoke(None)
        assert uuid, "a new visitor got no UUID"
        for when in times[1:]:
            clock["now"] = when
            invoke(f"rtdcs_uuid={uuid}")
        history_events += len(times)
        visitors.append(uuid)
    clock["now"] = None
    memory["after_history"] = memory_mark()
    for i in range(50):  # warm-up
        invoke(f"rtdcs_uuid={visitors[i % VISITORS]}" if i % 2 else None)

    per_kind: dict[str, dict[str, list[float]]] = {
        kind: {"cpu_ms": [], "wall_ms": [], "log_bytes": [], "json_log_bytes": [],
               "event_fields_bytes": [], "emf_document_bytes": [], "emf_header_bytes": [],
               "emf_bytes": [], "other_output_bytes": [], "requests": [], "rru": [], "wru": [],
               "read_item_bytes": [], "write_item_bytes": [], "s2s_messages": [],
               "response_bytes": [], "get_items": [], "put_items": [], "other_requests": [],
               "fake_dynamodb_ms": []}
        for kind in ("returning", "new")}
    errors: dict[str, int] = {}
    statuses: set[int] = set()
    segments_per_event: list[int] = []
    cpu = time.process_time
    wall = time.perf_counter
    for i in range(events * 2):
        kind = "returning" if i % 2 == 0 else "new"
        cookie = f"rtdcs_uuid={visitors[(i // 2) % VISITORS]}" if kind == "returning" else None
        clock["now"] = None
        event = proxy_event(gen.form(), cookie)
        log_mark, emf_mark, req_mark, s2s_mark = (log_stream.tell(), len(emf_lines),
                                                  len(wire.requests), s2s.messages)
        fake_mark = wire.own_s
        stray = io.StringIO()
        with redirect_stdout(stray), redirect_stderr(stray):
            c0, w0 = cpu(), wall()
            answer = handler(event, context)
            w1, c1 = wall(), cpu()
        figures = per_kind[kind]
        fake_ms = (wire.own_s - fake_mark) * 1000
        figures["fake_dynamodb_ms"].append(fake_ms)
        figures["cpu_ms"].append((c1 - c0) * 1000 - fake_ms)
        figures["wall_ms"].append((w1 - w0) * 1000 - fake_ms)
        line = log_stream.getvalue()[log_mark:]
        json_bytes = len(line.encode())
        emf_bytes = sum(len(x.encode()) + 1 for x in emf_lines[emf_mark:])
        other = len(stray.getvalue().encode())
        figures["json_log_bytes"].append(json_bytes)
        fields_bytes, header_bytes, values_bytes = _split_line(line)
        figures["event_fields_bytes"].append(fields_bytes)
        if header_bytes:
            figures["emf_document_bytes"].append(header_bytes + values_bytes)
            figures["emf_header_bytes"].append(header_bytes)
        figures["emf_bytes"].append(emf_bytes)
        figures["other_output_bytes"].append(other)
        figures["log_bytes"].append(json_bytes + emf_bytes + other)
        done = wire.requests[req_mark:]
        figures["requests"].append(len(done))
        figures["get_items"].append(sum(r["op"] == "GetItem" for r in done))
        figures["put_items"].append(sum(r["op"] == "PutItem" for r in done))
        figures["other_requests"].append(sum(r["op"] not in ("GetItem", "PutItem") for r in done))
        figures["rru"].append(sum(r["rru"] for r in done))
        figures["wru"].append(sum(r["wru"] for r in done))
        figures["read_item_bytes"].append(sum(r["bytes"] for r in done if r["rru"]))
        figures["write_item_bytes"].append(sum(r["bytes"] for r in done if r["wru"]))
        figures["s2s_messages"].append(s2s.messages - s2s_mark)
        headers_bytes = sum(len(k) + len(str(v)) + 4
                            for k, v in answer.get("headers", {}).items())
        headers_bytes += sum(len(k) + len(v) + 4 for k, vs in
                             (answer.get("multiValueHeaders") or {}).items() for v in vs)
        figures["response_bytes"].append(len(answer["body"].encode()) + headers_bytes)
        statuses.add(answer["statusCode"])
        record = json.loads(line).get("message", {}) if line.strip() else {}
        for code in record.get("errors", []):
            errors[str(code)] = errors.get(str(code), 0) + 1
        segments_per_event.append(len(record.get("segments", [])))
    memory["after_events"] = memory_mark()
    profile_top = None
    if profile:
        with redirect_stdout(io.StringIO()):
            profile_top = _profile_top(
                handler, lambda: proxy_event(gen.form(),
                                             f"rtdcs_uuid={visitors[gen.rng.randrange(VISITORS)]}"),
                context)
    example_line = log_stream.getvalue().splitlines()[-1]
    example_emf = emf_lines[-1] if emf_lines else ""

    # A catalog change: the new version compiled while the old one is still held and served.
    source = box["source"]
    source.current = 2
    swap_started = time.perf_counter()
    box["catalog"]._checked_at = float("-inf")  # due now (refresh_seconds is 5 s)
    assert box["catalog"].get().version == 2
    swap_s = time.perf_counter() - swap_started
    memory["after_catalog_change"] = memory_mark()

    kinds: dict[str, Any] = {}
    for kind, figures in per_kind.items():
        kinds[kind] = {
            "events": len(figures["cpu_ms"]),
            "cpu_ms": _stats(figures["cpu_ms"]),
            "wall_ms": _stats(figures["wall_ms"]),
            "fake_dynamodb_ms_taken_out": _stats(figures["fake_dynamodb_ms"]),
            "log_bytes_per_event": {
                "json_line": _mean(figures["json_log_bytes"]),
                # The line without its EMF document, and the documents the window wrote
                # (RTDCS_METRICS_WINDOW_S; here the 100-value limit closes each window).
                "event_fields": _mean(figures["event_fields_bytes"]),
                "emf_documents": len(figures["emf_document_bytes"]),
                "emf_document_bytes": _mean(figures["emf_document_bytes"] or [0.0]),
                "emf_header_bytes": _mean(figures["emf_header_bytes"] or [0.0]),
                "events_per_emf_document": round(
                    len(figures["cpu_ms"]) / max(1, len(figures["emf_document_bytes"])), 1),
                "emf": _mean(figures["emf_bytes"]),
                "other_output": _mean(figures["other_output_bytes"]),
                "app_total": _mean(figures["log_bytes"]),
                "lambda_platform_lines_modelled": 0,
                "lambda_platform_lines_text_format": _platform_log_bytes(),
                "total": _mean(figures["log_bytes"]),
            },
            "dynamodb_per_event": {
                "requests": _mean(figures["requests"]),
                "get_item": _mean(figures["get_items"]),
                "put_item": _mean(figures["put_items"]),
                "other": _mean(figures["other_requests"]),
                "read_units": _mean(figures["rru"]),
                "write_units": _mean(figures["wru"]),
                "write_units_max": max(figures["wru"]),
                "read_item_bytes": _mean(figures["read_item_bytes"]),
                "write_item_bytes": _mean(figures["write_item_bytes"]),
                "write_item_bytes_max": max(figures["write_item_bytes"]),
            },
            "s2s_messages_per_event": _mean(figures["s2s_messages"]),
            "response_bytes": _mean(figures["response_bytes"]),
        }
    return {
        "size": size,
        "traits": len(catalog.traits),
        "segments": len(catalog.raw.get("segment", ())),
        "providers": len(catalog.providers),
        "compile_s": round(compile_s, 2),
        "catalog_change_s": round(swap_s, 2),
        "history_events": history_events,
        "kinds": kinds,
        "error_codes": errors,
        "http_statuses": sorted(statuses),
        "segments_per_event_median": statistics.median(segments_per_event),
        "memory_mb": memory,
        "peak_rss_mb": memory["after_events"]["vm_hwm_mb"],
        "peak_rss_with_catalog_change_mb": memory["after_catalog_change"]["vm_hwm_mb"],
        "example_log_line": example_line[:4000],
        "example_emf": example_emf[:600],
        "child_s": round(time.perf_counter() - started, 1),
        **({"profile_returning_tottime": profile_top} if profile_top else {}),
    }


# ---- the parent --------------------------------------------------------------------------------


def measure(sizes: list[str] | None = None, events: int = 600, seed: int = 7,
            timeout_s: float = 600, profile: bool = False,
            wires: tuple[str, ...] = ("http",)) -> dict[str, Any]:
    """Run one fresh process per catalog size and DynamoDB wire; the figures of each (see
    the docstring). ``sizes`` holds the first wire's (``http``: production's); with more
    wires, ``wire_comparison`` sets their medians side by side, runs alternating."""
    sizes = sizes or ["demo", "1000", "100000"]
    results: dict[str, Any] = {}
    by_wire: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rtdcs-event-cpu-") as tmp:
        for size in sizes:
            path = Path(tmp) / f"catalog-{size}.json"
            path.write_text(json.dumps(build_catalog(size, seed)), "utf-8")
            for wire in wires:
                env = dict(os.environ, **BENCH_ENV, PYTHONPATH=str(ROOT),
                           RTDCS_DYNAMODB_WIRE=wire)
                out = subprocess.run(
                    [sys.executable, "-m", "bench.event_cpu", "--child", size, "--catalog",
                     str(path), "--events", str(events), "--seed", str(seed),
                     *(["--profile"] if profile else [])],
                    cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
                if out.returncode != 0:
                    raise RuntimeError(f"event_cpu child {size} ({wire}) failed:\n"
                                       f"{out.stderr[-3000:]}")
                result = json.loads(out.stdout.strip().splitlines()[-1])
                by_wire.setdefault(size, {})[wire] = result
                print(f"event_cpu: {size} ({wire} wire) done in {result['child_s']} s",
                      file=sys.stderr)
            results[size] = by_wire[size][wires[0]]
    summary = {}
    for size, result in results.items():
        summary[size] = {
            "cpu_ms_median_returning": result["kinds"]["returning"]["cpu_ms"]["median"],
            "cpu_ms_p99_returning": result["kinds"]["returning"]["cpu_ms"]["p99"],
            "cpu_ms_median_new": result["kinds"]["new"]["cpu_ms"]["median"],
            "cpu_ms_p99_new": result["kinds"]["new"]["cpu_ms"]["p99"],
            "peak_rss_mb": result["peak_rss_mb"],
            "peak_rss_with_catalog_change_mb": result["peak_rss_with_catalog_change_mb"],
            "log_bytes_returning": result["kinds"]["returning"]["log_bytes_per_event"]["total"],
            "wru_returning": result["kinds"]["returning"]["dynamodb_per_event"]["write_units"],
            "rru_returning": result["kinds"]["returning"]["dynamodb_per_event"]["read_units"],
            "wru_new": result["kinds"]["new"]["dynamodb_per_event"]["write_units"],
        }
    return {
        "bench": "event_cpu",
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "events_per_kind": events,
        "seed": seed,
        "wire": wires[0],
        "targets": {"cpu_ms_median_100k": 2.0},
        "summary": summary,
        **({"wire_comparison": _wire_comparison(by_wire, wires)} if len(wires) > 1 else {}),
        "sizes": results,
        "total_s": round(time.perf_counter() - started, 1),
    }


def _wire_comparison(by_wire: dict[str, dict[str, Any]],
                     wires: tuple[str, ...]) -> dict[str, Any]:
    """Per size: each wire's CPU medians, and each one's ratio to the first wire's."""
    compared: dict[str, Any] = {}
    for size, runs in by_wire.items():
        row: dict[str, Any] = {}
        first = runs[wires[0]]["kinds"]
        for wire in wires:
            kinds = runs[wire]["kinds"]
            row[wire] = {kind: kinds[kind]["cpu_ms"]["median"] for kind in ("returning", "new")}
            if wire != wires[0]:
                row[f"{wire}_over_{wires[0]}"] = {
                    kind: round(kinds[kind]["cpu_ms"]["median"]
                                / first[kind]["cpu_ms"]["median"], 3)
                    for kind in ("returning", "new")}
        compared[size] = row
    return compared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.event_cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=600, help="measured events per kind")
    parser.add_argument("--sizes", default="demo,1000,100000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true",
                        help="add a cProfile of 200 returning-visitor events per size")
    parser.add_argument("--wires", default="http",
                        help="DynamoDB wires to measure, comma-separated (http, botocore); "
                             "the first is reported in sizes/summary, all in wire_comparison")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--catalog", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_child(args.child, Path(args.catalog), args.events, args.seed,
                                   args.profile)))
        return 0
    wires = tuple(w.strip() for w in args.wires.split(",") if w.strip())
    if not wires or any(w not in ("http", "botocore") for w in wires):
        parser.error("--wires takes http and/or botocore")
    print(json.dumps(measure(args.sizes.split(","), args.events, args.seed,
                             profile=args.profile, wires=wires), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
