"""Admin API at AAM scale (issue 12): single-create latency and DynamoDB capacity units per
create as the catalog grows, bulk import, compiled-catalog memory. Prints one JSON document.

    .venv/bin/python -m bench.admin_scale [--sizes 0,1000,10000,100000] [--creates 20]
        [--max-seconds 60] [--quick] [--no-memory] [--bulk-route PATH] [--seed 7]

Everything runs in this process: DynamoDB is ``moto.mock_aws`` (tables from the data stack
template, ``infra/bootstrap.py``), the app is driven through ``chalice.test.Client`` with the
admin token from ``RTDCS_ADMIN_TOKEN``, as in tests/routes/conftest.py. boto3 talks only to
moto (dummy credentials, endpoint variables removed).

Per catalog size (a fresh stack each): 3 data sources, ``size`` rule-based traits and
``size // 5`` segments over them, generated exactly as ``bench/rules.py`` generates its
accounts (same seed, so the 100,000-trait catalog is the one that bench compiles), written
through ``CatalogRepository.put_many`` (not the API), then one version bump. Before seeding, one
trait is created and deleted through the API so the handlers' imports are not timed. Then
``--creates`` new rule-based traits go through ``POST /v1/traits``, one at a time, each timed
from request to response; a size stops early once its creates took ``--max-seconds`` (at
least one always runs; ``creates`` says how many did).

Capacity units are COUNTED at the botocore layer, not asked of moto: a ``before-call.dynamodb``
handler on every DynamoDB client of the app (``chalicelib.store.dynamo.dynamodb_clients``, as
tests/ddb_hooks.py does) keeps the serialized request, an ``after-call.dynamodb`` handler the
raw response body; both are decoded after the timed request (wire format -> Python values with
boto3's TypeDeserializer) and sized with DynamoDB's own item-size rules
(``chalicelib/store/item_size.py``: attribute-name bytes + value bytes, strings as UTF-8,
numbers about one byte per two digits + 1, binary as raw bytes, maps/lists 3 + 1 per element).
With ``size(x)`` that item size, ``c`` = 1 for a strongly consistent read (``ConsistentRead``)
and 0.5 for an eventually consistent one, and ``ceil`` per call or item as stated:

* GetItem:            c * max(1, ceil(size(Item) / 4 KB))       (a miss still costs the minimum)
* Query, Scan:        c * max(1, ceil(sum of size(Items) / 4 KB)) per call (per page)
* BatchGetItem:       sum over returned items of c * max(1, ceil(size(item) / 4 KB))
* TransactGetItems:   sum over items of 2 * max(1, ceil(size(item) / 4 KB))
* PutItem:            max(1, ceil(size(Item) / 1 KB))
* UpdateItem, DeleteItem: max(1, ceil((size(Key) + size(ExpressionAttributeValues)) / 1 KB))
  -- a lower bound: the stored item is not visible at this layer (here they touch the small
  version and id counters, 1 unit in DynamoDB too)
* BatchWriteItem:     per request item as PutItem / DeleteItem
* TransactWriteItems: per item (Put, Update, Delete, ConditionCheck) 2 * the rule above

A KB is 1,024 bytes. Failed calls (a condition that fails) are counted too: DynamoDB charges
them. Reported per size: median / p90 / min / max ms per create, read and write units per
create (median and max), DynamoDB calls by operation, items and item bytes read per create
(medians), and across sizes ``t(largest)/t(1,000)`` on medians and the same ratio of read
units. Targets (issue 12): latency ratio <= 1.5, read units per create independent of size.

Time inside DynamoDB: the same hooks stamp each call (before-call -> after-call: moto's work
and botocore's parsing of the answer). ``in_dynamodb_ms`` is the wall time with at least one
call in flight (the union of the calls' intervals: the snapshot's queries run in parallel),
``outside_dynamodb_ms`` = create time minus that (the app's own work: checks, JSON, the test
client), ``dynamodb_ms_per_create_by_operation`` the summed call time per operation. They
matter because moto's own TransactWriteItems deep-copies the whole table before writing (its
rollback), so in moto a transaction slows down as the table grows although DynamoDB's cost
does not. The bench installs ``devtools/moto_patches.py`` (the local stack and the route tests
use it too), which backs up only the items a transaction touches; ``--moto-transactions`` keeps
moto's own. ``ratio_outside_dynamodb_ms_...`` is the latency ratio without DynamoDB's share.

Bulk import: the app's routes are searched at run time for a ``/v1`` path containing ``bulk``
or ``import``. None exists yet, and then the report says ``"bulk_import": "not available"``.
When one does, ``--bulk-traits`` traits + ``--bulk-segments`` segments (default 100,000 +
20,000; ``--quick``: 10,000 + 2,000) go through it into an empty stack, ``--bulk-chunk`` objects
a request as NDJSON lines ``{"kind": ..., "object": {...}}`` (``catalog_lines``; adjust
``encode_line`` to the route's real format), timed, with write units per object counted as
above; ``--bulk-route`` picks the path when there are several.

Memory (unless ``--no-memory``): the catalog of the largest size compiled once with
``compile_catalog`` under ``tracemalloc``, retained bytes after it returns and the peak
(bench/rules.py's method; it reported 189.5 MB at 100,000 traits). The compile time is taken
without tracemalloc.

``--quick``: sizes 0 and 1,000, 5 creates, a 20 s cap per size (a smoke run).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import os
import platform
import random
import statistics
import sys
import threading
import time
import tracemalloc
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from devtools.stack import DUMMY_AWS_ENV  # noqa: E402

os.environ.update(DUMMY_AWS_ENV)  # before any AWS client exists: moto only, never the network
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB",
              "AWS_ENDPOINT_URL_CLOUDFORMATION", "RTDCS_ADMIN_TOKEN_PARAMETER"):
    os.environ.pop(_name, None)

# moto's CloudFormation skips the alarms and dashboard of the data stack; the tables are all
# this bench needs.
warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
logging.getLogger("moto").addFilter(
    lambda record: not str(record.msg).startswith("No Moto CloudFormation support"))

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from boto3.dynamodb.types import TypeDeserializer  # noqa: E402
from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

from app import app  # noqa: E402
from bench.rules import Vocabulary, make_raw  # noqa: E402
from chalicelib.rules.catalog import compile_catalog  # noqa: E402
from chalicelib.runtime import services  # noqa: E402
from chalicelib.store.catalog import CatalogRepository  # noqa: E402
from chalicelib.store.dynamo import dynamodb_clients  # noqa: E402
from chalicelib.store.item_size import item_size, value_size  # noqa: E402
from devtools import moto_patches  # noqa: E402
from infra.bootstrap import create_data_stack, settings_env  # noqa: E402

KB = 1024
READ_BLOCK = 4 * KB
WRITE_BLOCK = 1 * KB
TOKEN = "bench-admin-token-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
TRAITS_PATH = "/v1/traits"
DATASOURCES = [{"dataSourceId": i, "name": f"Source {i}", "idType": "COOKIE"} for i in (1, 2, 3)]
DEFAULT_SIZES = (0, 1000, 10_000, 100_000)
TARGET_RATIO = 1.5
TARGET_BULK_S = 600.0
TARGET_MEMORY_MB = 128.0
_deserializer = TypeDeserializer()
MOTO_NOTE = ("moto's TransactWriteItems deep-copies every table it names before writing (its "
             "rollback), so in moto a transaction's time grows with the table even when its "
             "capacity units do not; in_dynamodb_ms / dynamodb_ms_per_create_by_operation show "
             "it, and outside_dynamodb_ms is the app's own time")


def log(message: str) -> None:
    print(f"[admin_scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- the catalog ---------------------------------------------------------------------------------


def make_catalog(traits: int, segments: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    """The account bench/rules.py generates for ``traits`` (same seed, same rules), plus the
    three data sources its traits name."""
    rng = random.Random(seed * 1_000_003 + traits)
    vocab = Vocabulary(random.Random(seed), scale=traits / 10_000)
    raw = make_raw(traits, segments, rng, vocab) if traits else {"trait": [], "segment": []}
    return {"datasource": [dict(d) for d in DATASOURCES], **raw}


_ID_FIELDS = {"datasource": "dataSourceId", "trait": "sid", "segment": "sid"}


def store_objects(catalog: dict[str, list[dict[str, Any]]],
                  kinds: Iterable[str]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    for kind in kinds:
        for body in catalog.get(kind, []):
            yield kind, int(body[_ID_FIELDS[kind]]), body


# ---- capacity units, counted at the botocore layer -----------------------------------------------


class Call(NamedTuple):
    operation: str
    request: bytes
    response: bytes
    status: int
    started: float  # perf_counter at before-call
    ended: float  # perf_counter at after-call


class Recorder:
    """Keeps every DynamoDB call the app's clients make while recording (request and response
    bodies as sent and received); sizing happens later, outside the timed part."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._on = False
        self._lock = threading.Lock()
        self._unique = f"bench-admin-scale-{id(self)}"
        self._clients: list[Any] = []

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any],
                **_: Any) -> None:
        body = params.get("body", b"")
        context["bench_request"] = body if isinstance(body, bytes) else str(body).encode()
        context["bench_started"] = time.perf_counter()

    def _after(self, model: Any, http_response: Any, context: dict[str, Any],
               **_: Any) -> None:
        if not self._on:
            return
        ended = time.perf_counter()
        call = Call(model.name, context.get("bench_request", b""), http_response.content or b"",
                    int(http_response.status_code), context.get("bench_started", ended), ended)
        with self._lock:
            self._calls.append(call)

    @contextmanager
    def hooked(self) -> Iterator[Recorder]:
        self._clients = dynamodb_clients()
        for client in self._clients:
            client.meta.events.register("before-call.dynamodb", self._before,
                                        unique_id=self._unique + "-before")
            client.meta.events.register("after-call.dynamodb", self._after,
                                        unique_id=self._unique + "-after")
        try:
            yield self
        finally:
            for client in self._clients:
                client.meta.events.unregister("before-call.dynamodb",
                                              unique_id=self._unique + "-before")
                client.meta.events.unregister("after-call.dynamodb",
                                              unique_id=self._unique + "-after")

    def start(self) -> None:
        with self._lock:
            self._calls = []
        self._on = True

    def stop(self) -> list[Call]:
        self._on = False
        with self._lock:
            calls, self._calls = self._calls, []
        return calls


def _plain(wire: dict[str, Any] | None) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in (wire or {}).items()}


def _size(wire: dict[str, Any] | None) -> int:
    return item_size(_plain(wire))


def _blocks(size: int, block: int) -> int:
    return max(1, math.ceil(size / block))


def _key_and_values(request: dict[str, Any]) -> int:
    values = _plain(request.get("ExpressionAttributeValues"))
    return _size(request.get("Key")) + sum(value_size(v) for v in values.values())


class Units(NamedTuple):
    read: float
    write: float
    items_read: int
    bytes_read: int


def units(call: Call) -> Units:
    """Capacity units of one call, by the rules in the module docstring."""
    op = call.operation
    request = json.loads(call.request or b"{}")
    response = json.loads(call.response or b"{}") if call.response else {}
    if call.status >= 300:
        response = {}
    factor = 1.0 if request.get("ConsistentRead") else 0.5
    if op == "GetItem":
        size = _size(response.get("Item")) if response.get("Item") else 0
        return Units(factor * _blocks(size, READ_BLOCK), 0, int("Item" in response), size)
    if op in ("Query", "Scan"):
        sizes = [_size(item) for item in response.get("Items", [])]
        return Units(factor * _blocks(sum(sizes), READ_BLOCK), 0, len(sizes), sum(sizes))
    if op == "BatchGetItem":
        read, count, total = 0.0, 0, 0
        for table, items in response.get("Responses", {}).items():
            table_factor = 1.0 if request.get("RequestItems", {}).get(table, {}).get(
                "ConsistentRead") else 0.5
            for item in items:
                size = _size(item)
                read += table_factor * _blocks(size, READ_BLOCK)
                count, total = count + 1, total + size
        return Units(read, 0, count, total)
    if op == "TransactGetItems":
        read, count, total = 0.0, 0, 0
        for entry in response.get("Responses", []):
            size = _size(entry.get("Item")) if entry.get("Item") else 0
            read += 2 * _blocks(size, READ_BLOCK)
            count, total = count + int(bool(entry.get("Item"))), total + size
        return Units(read, 0, count, total)
    if op == "PutItem":
        return Units(0, _blocks(_size(request.get("Item")), WRITE_BLOCK), 0, 0)
    if op in ("UpdateItem", "DeleteItem"):
        return Units(0, _blocks(_key_and_values(request), WRITE_BLOCK), 0, 0)
    if op == "BatchWriteItem":
        write = 0
        for entries in request.get("RequestItems", {}).values():
            for entry in entries:
                if "PutRequest" in entry:
                    write += _blocks(_size(entry["PutRequest"].get("Item")), WRITE_BLOCK)
                else:
                    write += _blocks(_size(entry.get("DeleteRequest", {}).get("Key")),
                                     WRITE_BLOCK)
        return Units(0, write, 0, 0)
    if op == "TransactWriteItems":
        write = 0
        for entry in request.get("TransactItems", []):
            if "Put" in entry:
                write += 2 * _blocks(_size(entry["Put"].get("Item")), WRITE_BLOCK)
            else:
                part: dict[str, Any] = next(iter(entry.values()), {})
                write += 2 * _blocks(_key_and_values(part), WRITE_BLOCK)
        return Units(0, write, 0, 0)
    return Units(0, 0, 0, 0)  # DescribeTable and friends


def summarize_calls(calls: list[Call]) -> dict[str, Any]:
    read = write = 0.0
    items = size = 0
    by_op: dict[str, int] = {}
    ms_by_op: dict[str, float] = {}
    for call in calls:
        u = units(call)
        read, write = read + u.read, write + u.write
        items, size = items + u.items_read, size + u.bytes_read
        by_op[call.operation] = by_op.get(call.operation, 0) + 1
        ms_by_op[call.operation] = (ms_by_op.get(call.operation, 0.0)
                                    + (call.ended - call.started) * 1000)
    return {"read_units": read, "write_units": write, "items_read": items,
            "item_bytes_read": size, "calls": by_op, "ms_by_op": ms_by_op,
            "in_dynamodb_ms": in_flight_seconds(calls) * 1000}


def in_flight_seconds(calls: list[Call]) -> float:
    """Wall time with at least one call in flight (load_all's queries run in parallel)."""
    total, end = 0.0, float("-inf")
    for call in sorted(calls, key=lambda c: c.started):
        if call.started > end:
            total += call.ended - call.started
            end = call.ended
        elif call.ended > end:
            total += call.ended - end
            end = call.ended
    return total


# ---- the stack -----------------------------------------------------------------------------------


class Stack(NamedTuple):
    tables: dict[str, str]
    client: Any
    repository: CatalogRepository


@contextmanager
def stack() -> Iterator[Stack]:
    """A fresh moto data stack, the app's settings pointed at it, a test client."""
    saved = dict(os.environ)
    with mock_aws():
        services.reset()
        try:
            tables = create_data_stack(boto3.client("cloudformation"), boto3.client("dynamodb"))
            os.environ.update(settings_env(tables))
            os.environ.update({"RTDCS_STAGE": "local", "RTDCS_ADMIN_TOKEN": TOKEN})
            repository = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
            with Client(app, stage_name="local") as client:
                yield Stack(tables, client, repository)
        finally:
            services.reset()
            os.environ.clear()
            os.environ.update(saved)


def request(client: Any, method: str, path: str, body: Any = None, *,
            raw: bytes | None = None, content_type: str = "application/json") -> Any:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    return client.http.request(method, path, headers={**HEADERS, "Content-Type": content_type},
                               body=data)


def warm_up(client: Any) -> None:
    """One create and delete through the API: the handlers load on the first admin request."""
    answer = request(client, "POST", TRAITS_PATH, new_trait("warmup", 0))
    if answer.status_code != 201:
        raise RuntimeError(f"warm-up create failed: {answer.status_code} {answer.body[:300]!r}")
    sid = json.loads(answer.body)["sid"]
    answer = request(client, "DELETE", f"{TRAITS_PATH}/{sid}")
    if answer.status_code != 204:
        raise RuntimeError(f"warm-up delete failed: {answer.status_code} {answer.body[:300]!r}")


def new_trait(tag: str, i: int) -> dict[str, Any]:
    return {"name": f"Bench trait {tag}-{i}", "traitType": "RULE_BASED_TRAIT",
            "dataSourceId": 1 + i % 3, "ttl": 120,
            "traitRule": f'c_bench == "{tag}-{i}" AND d_device != "tv"'}


# ---- single creates ------------------------------------------------------------------------------


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_size(size: int, creates: int, max_seconds: float, seed: int) -> dict[str, Any]:
    segments = size // 5
    catalog = make_catalog(size, segments, seed)
    with stack() as st:
        started = time.perf_counter()
        st.repository.put_many(store_objects(catalog, ["datasource"]))
        warm_up(st.client)
        st.repository.put_many(store_objects(catalog, ["trait", "segment"]))
        version = st.repository.bump_version()
        seed_s = time.perf_counter() - started
        log(f"size {size}: seeded {size} traits + {segments} segments in {seed_s:.1f} s "
            f"(version {version})")
        del catalog
        gc.collect()
        recorder = Recorder()
        times: list[float] = []
        per_create: list[dict[str, Any]] = []
        errors: list[str] = []
        with recorder.hooked():
            spent = 0.0
            for i in range(creates):
                if i and spent >= max_seconds:
                    break
                recorder.start()
                t0 = time.perf_counter()
                answer = request(st.client, "POST", TRAITS_PATH, new_trait(str(size), i))
                elapsed = time.perf_counter() - t0
                calls = recorder.stop()
                spent += elapsed
                if answer.status_code != 201:
                    errors.append(f"{answer.status_code} {answer.body[:200]!r}")
                    break
                times.append(elapsed)
                per_create.append(summarize_calls(calls))
                per_create[-1]["outside_dynamodb_ms"] = (elapsed * 1000
                                                         - per_create[-1]["in_dynamodb_ms"])
                if not calls:
                    raise RuntimeError("no DynamoDB call was seen: the hooks are not on the "
                                       "app's clients")
                log(f"size {size}: create {i + 1}/{creates} {elapsed * 1000:.1f} ms, "
                    f"{per_create[-1]['read_units']} RU, {per_create[-1]['write_units']} WU")
    if not times:
        return {"traits": size, "segments": segments, "errors": errors}
    ms = [t * 1000 for t in times]
    outside = [c["outside_dynamodb_ms"] for c in per_create]
    inside = [c["in_dynamodb_ms"] for c in per_create]
    reads = [c["read_units"] for c in per_create]
    writes = [c["write_units"] for c in per_create]
    ops = sorted({op for c in per_create for op in c["calls"]})
    return {
        "traits": size,
        "segments": segments,
        "datasources": len(DATASOURCES),
        "seed_s": round(seed_s, 1),
        "creates": len(times),
        "creates_requested": creates,
        "capped_by_max_seconds": len(times) < creates and not errors,
        "create_ms": {"median": round(statistics.median(ms), 2), "p90": round(_q(ms, 0.9), 2),
                      "min": round(min(ms), 2), "max": round(max(ms), 2)},
        "in_dynamodb_ms": {"median": round(statistics.median(inside), 2)},
        "outside_dynamodb_ms": {"median": round(statistics.median(outside), 2),
                                "p90": round(_q(outside, 0.9), 2)},
        "dynamodb_ms_per_create_by_operation": {
            op: round(statistics.median(c["ms_by_op"].get(op, 0.0) for c in per_create), 2)
            for op in ops},
        "read_units_per_create": {"median": statistics.median(reads), "max": max(reads)},
        "write_units_per_create": {"median": statistics.median(writes), "max": max(writes)},
        "items_read_per_create": statistics.median(c["items_read"] for c in per_create),
        "item_kb_read_per_create": round(
            statistics.median(c["item_bytes_read"] for c in per_create) / KB, 1),
        "dynamodb_calls_per_create": {
            op: statistics.median(c["calls"].get(op, 0) for c in per_create) for op in ops},
        **({"errors": errors} if errors else {}),
    }


# ---- bulk import ---------------------------------------------------------------------------------


def bulk_routes() -> list[str]:
    """The app's /v1 paths that look like a bulk or import route (none before issue 12)."""
    return sorted(path for path in app.routes
                  if path.startswith("/v1") and ("bulk" in path.lower()
                                                 or "import" in path.lower()))


def catalog_lines(catalog: dict[str, list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """Every object in dependency order (data sources, traits, segments), one line each."""
    for kind in ("datasource", "trait", "segment"):
        for body in catalog.get(kind, []):
            yield {"kind": kind, "object": body}


def encode_line(line: dict[str, Any]) -> bytes:
    return json.dumps(line, separators=(",", ":")).encode()


def bulk_import(client: Any, path: str, lines: Iterable[dict[str, Any]], chunk: int = 1000,
                encode: Callable[[dict[str, Any]], bytes] = encode_line) -> dict[str, Any]:
    """POST ``lines`` to ``path`` as NDJSON, ``chunk`` a request; time it and count units."""
    recorder = Recorder()
    seconds = 0.0
    objects = requests = 0
    failures: list[str] = []
    totals = {"read_units": 0.0, "write_units": 0.0}
    batch: list[bytes] = []

    def send() -> None:
        nonlocal seconds, requests
        recorder.start()
        t0 = time.perf_counter()
        answer = request(client, "POST", path, raw=b"\n".join(batch) + b"\n",
                         content_type="application/x-ndjson")
        seconds += time.perf_counter() - t0
        summary = summarize_calls(recorder.stop())
        totals["read_units"] += summary["read_units"]
        totals["write_units"] += summary["write_units"]
        requests += 1
        if answer.status_code >= 300 and len(failures) < 5:
            failures.append(f"{answer.status_code} {answer.body[:300]!r}")
        batch.clear()

    with recorder.hooked():
        for line in lines:
            batch.append(encode(line))
            objects += 1
            if len(batch) >= chunk:
                send()
                if requests % 10 == 0:
                    log(f"bulk: {objects} objects in {seconds:.1f} s")
        if batch:
            send()
    return {
        "route": path,
        "objects": objects,
        "requests": requests,
        "seconds": round(seconds, 1),
        "objects_per_s": round(objects / seconds, 1) if seconds else None,
        "write_units_per_object": round(totals["write_units"] / max(1, objects), 3),
        "read_units_per_object": round(totals["read_units"] / max(1, objects), 3),
        "target_s": TARGET_BULK_S,
        **({"failures": failures} if failures else {}),
    }


def measure_bulk(route: str | None, traits: int, segments: int, chunk: int,
                 seed: int) -> dict[str, Any]:
    found = bulk_routes()
    if not found:
        return {"bulk_import": "not available",
                "note": "no /v1 route containing 'bulk' or 'import' in app.routes"}
    path = route or next((p for p in found if "import" in p), found[0])
    if "{" in path:
        return {"bulk_import": "not run", "routes": found,
                "note": f"{path} has path parameters; pass --bulk-route"}
    catalog = make_catalog(traits, segments, seed)
    with stack() as st:
        request(st.client, "GET", TRAITS_PATH)  # loads the admin handlers; the stack is empty
        log(f"bulk: {traits} traits + {segments} segments through {path}")
        result = bulk_import(st.client, path, catalog_lines(catalog), chunk)
        result["stored_version"] = st.repository.version(consistent=True)
        result["stored_traits"] = len(st.repository.list_kind("trait"))
        result["stored_segments"] = len(st.repository.list_kind("segment"))
    return {"bulk_import": result, "routes": found}


# ---- memory --------------------------------------------------------------------------------------


def measure_memory(size: int, seed: int) -> dict[str, Any]:
    catalog: dict[str, Any] = make_catalog(size, size // 5, seed)
    started = time.perf_counter()
    compiled = compile_catalog(catalog, 1)
    compile_s = time.perf_counter() - started
    problems = len(compiled.problems)
    del compiled
    gc.collect()
    tracemalloc.start()
    compiled = compile_catalog(catalog, 1)
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del compiled
    return {"traits": size, "segments": size // 5, "compile_s": round(compile_s, 2),
            "memory_mb": round(retained / 2**20, 1), "memory_peak_mb": round(peak / 2**20, 1),
            "problems": problems, "target_mb": TARGET_MEMORY_MB,
            "method": "tracemalloc around compile_catalog (bench/rules.py)"}


# ---- main ----------------------------------------------------------------------------------------


def _ratio(results: dict[int, dict[str, Any]], largest: int, field: str) -> float | None:
    base, top = results.get(1000), results.get(largest)
    if not base or not top or field not in base or field not in top or largest == 1000:
        return None
    low, high = base[field]["median"], top[field]["median"]
    return round(high / low, 2) if low else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.admin_scale",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None,
                        help="catalog sizes in traits, comma-separated (0,1000,10000,100000)")
    parser.add_argument("--creates", type=int, default=None, help="timed creates per size (20)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="stop a size's creates once they took this long (60)")
    parser.add_argument("--quick", action="store_true",
                        help="sizes 0,1000, 5 creates, 20 s a size (smoke run)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory figure")
    parser.add_argument("--bulk-route", default=None, help="the bulk import path to time")
    parser.add_argument("--bulk-traits", type=int, default=None)
    parser.add_argument("--bulk-segments", type=int, default=None)
    parser.add_argument("--bulk-chunk", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--moto-transactions", action="store_true",
                        help="keep moto's own TransactWriteItems (copies the table each time)")
    args = parser.parse_args(argv)
    if not args.moto_transactions:
        moto_patches.install()
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    else:
        sizes = [0, 1000] if args.quick else list(DEFAULT_SIZES)
    creates = args.creates or (5 if args.quick else 20)
    max_seconds = args.max_seconds or (20.0 if args.quick else 60.0)
    bulk_traits = args.bulk_traits if args.bulk_traits is not None else (
        10_000 if args.quick else 100_000)
    bulk_segments = args.bulk_segments if args.bulk_segments is not None else bulk_traits // 5

    wall = time.perf_counter()
    results: dict[int, dict[str, Any]] = {}
    for size in sizes:
        results[size] = measure_size(size, creates, max_seconds, args.seed)
        gc.collect()
    largest = max(sizes)
    report: dict[str, Any] = {
        "benchmark": "admin_scale",
        "command": "python -m bench.admin_scale " + " ".join(sys.argv[1:] if argv is None
                                                             else argv),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "machine": platform.machine(),
                    "load_avg_1m_at_start": round(os.getloadavg()[0], 2)},
        "setup": {"store": "moto.mock_aws in-process" + (
                      "" if args.moto_transactions else
                      " (devtools/moto_patches.py: transactions back up only what they touch)"),
                  "client": "chalice.test.Client",
                  "route": f"POST {TRAITS_PATH}", "creates_per_size": creates,
                  "max_seconds_per_size": max_seconds,
                  "catalog": "bench/rules.py generator (same seed), segments = traits // 5, "
                             "3 data sources",
                  "units": "counted at botocore before-call/after-call, DynamoDB's rules "
                           "(module docstring)"},
        "sizes": [results[s] for s in sizes],
    }
    ratio_ms = _ratio(results, largest, "create_ms")
    ratio_outside = _ratio(results, largest, "outside_dynamodb_ms")
    ratio_ru = _ratio(results, largest, "read_units_per_create")
    report[f"ratio_median_ms_{largest}_over_1000"] = ratio_ms
    report[f"ratio_read_units_{largest}_over_1000"] = ratio_ru
    report[f"ratio_outside_dynamodb_ms_{largest}_over_1000"] = ratio_outside
    report["note_moto"] = MOTO_NOTE
    report["targets"] = {"latency_ratio": TARGET_RATIO,
                         "read_units": "independent of catalog size"}
    report["meets_targets"] = {
        "latency_ratio": None if ratio_ms is None else ratio_ms <= TARGET_RATIO,
        "read_units_constant": None if ratio_ru is None else ratio_ru <= 1.0,
    }
    report.update(measure_bulk(args.bulk_route, bulk_traits, bulk_segments, args.bulk_chunk,
                               args.seed))
    if args.no_memory:
        report["memory"] = "skipped (--no-memory)"
    else:
        log(f"memory: compiling the {largest}-trait catalog")
        report["memory"] = measure_memory(largest, args.seed)
    report["wall_s"] = round(time.perf_counter() - wall, 1)
    report["machine"]["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
