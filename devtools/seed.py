"""Seed the demo catalog (``devtools/demo_catalog.json``).

Two ways, same result:

* through the admin API (what the local stack does once ``chalice local`` is up):
  ``seed_via_api(dcs_url, token, sim_url)`` POSTs every object in file order, each with its
  id from the file (an explicit id is accepted on create when it is above every id of that
  kind so far, which holds on a fresh stack), then waits until the event path serves the new
  catalog version. It is idempotent and tolerates other writers: objects already there are
  kept, ``concurrent_change`` is retried, an id taken by something else is reported and
  skipped; it never raises for one object;

      python -m devtools.seed --api http://127.0.0.1:8000 --token $RTDCS_ADMIN_TOKEN \
          --sim-url http://127.0.0.1:8081

* through the store layer (route-test fixtures): ``seed(table, sim_url)``, one version bump;

      python -m devtools.seed --sim-url http://127.0.0.1:8081

  uses ``RTDCS_CATALOG_TABLE`` (or ``--table``) and ``AWS_ENDPOINT_URL`` (or
  ``--endpoint-url``).

Provider URLs carry the placeholder ``{sim}``, replaced by the provider simulator's base URL.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from chalicelib.store.catalog import CatalogRepository
from chalicelib.store.catalog_index import ID_FIELDS as CATALOG_ID_FIELDS

DEMO_CATALOG = Path(__file__).with_name("demo_catalog.json")
SIM_PLACEHOLDER = "{sim}"

# Catalog kind -> the admin-API field holding the object's id (dependency order).
ID_FIELDS = dict(CATALOG_ID_FIELDS)


def load_catalog(
    sim_url: str, catalog_path: Path | str = DEMO_CATALOG
) -> dict[str, list[dict[str, Any]]]:
    """The catalog file with ``{sim}`` in provider URLs replaced by ``sim_url``."""
    raw: dict[str, list[dict[str, Any]]] = json.loads(Path(catalog_path).read_text("utf-8"))
    unknown = sorted(set(raw) - set(ID_FIELDS))
    if unknown:
        raise ValueError(f"unknown catalog kinds in {catalog_path}: {', '.join(unknown)}")
    base = sim_url.rstrip("/")
    for provider in raw.get("provider", []):
        if isinstance(provider.get("url"), str):
            provider["url"] = provider["url"].replace(SIM_PLACEHOLDER, base)
    return raw


def seed(table: Any, sim_url: str, catalog_path: Path | str = DEMO_CATALOG) -> None:
    """Put every catalog object into ``table`` (a boto3 Table), then bump the version once."""
    catalog = load_catalog(sim_url, catalog_path)
    repo = CatalogRepository(table)
    objects: list[tuple[str, int, dict[str, Any]]] = []
    # Referenced kinds first (data sources before traits, traits before segments, ...).
    for kind, id_field in ID_FIELDS.items():
        for body in catalog.get(kind, []):
            if id_field not in body:
                raise ValueError(f"{kind} object without {id_field}: {body}")
            objects.append((kind, body[id_field], body))
    repo.put_many(objects)  # with the index items (store/catalog_index.py)
    repo.bump_version()


class SeedError(RuntimeError):
    """The admin API refused an object, or gave it another id than the file's."""


# Catalog kind -> admin API collection ({destinationId} from the object, for mappings).
COLLECTIONS = {
    "datasource": "/v1/datasources",
    "trait": "/v1/traits",
    "segment": "/v1/segments",
    "provider": "/v1/providers",
    "destination": "/v1/destinations",
    "mapping": "/v1/destinations/{destinationId}/mappings",
    "mergerule": "/v1/mergerules",
}


def _api_call(
    base_url: str, token: str, method: str, path: str, body: Any = None, timeout_s: float = 10.0
) -> tuple[int, Any]:
    """One admin API call on loopback (no proxy); (status, decoded JSON or None)."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(
        base_url.rstrip("/") + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout_s) as resp:
            status, raw = int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = int(exc.code), exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


class SeedReport:
    """What ``seed_via_api`` did: objects created, kept (already there with the file's
    content), skipped (with the reason), and the catalog version the event path serves (None
    if it did not catch up in time)."""

    __slots__ = ("created", "kept", "skipped", "version")

    def __init__(self) -> None:
        self.created: list[str] = []
        self.kept: list[str] = []
        self.skipped: list[str] = []
        self.version: int | None = None

    def summary(self) -> str:
        text = f"{len(self.created)} created, {len(self.kept)} already there"
        if self.skipped:
            text += f", {len(self.skipped)} skipped"
        return text


def _error_code(answer: Any) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return str(answer["error"].get("code", ""))
    return ""


def _same(wanted: dict[str, Any], existing: Any) -> bool:
    """Whether the stored object has every field of the file's object, with its value."""
    return isinstance(existing, dict) and all(existing.get(k) == v for k, v in wanted.items())


_TRAIT_REF = re.compile(r"([0-9]+)([Tt])")


class _IdMap:
    """File id -> the id the object got: the file's, unless something else had taken it."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, int], int] = {}

    def get(self, kind: str, file_id: Any) -> Any:
        return self.ids.get((kind, file_id), file_id) if isinstance(file_id, int) else file_id

    def rewrite(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` with its references to objects that moved rewritten."""
        out = dict(body)
        if kind in ("trait", "provider"):
            out["dataSourceId"] = self.get("datasource", out.get("dataSourceId"))
        if kind == "mergerule":
            out["crossDeviceDataSources"] = [self.get("datasource", ds)
                                             for ds in out.get("crossDeviceDataSources") or []]
        if kind == "segment" and out.get("mergeRuleId") is not None:
            out["mergeRuleId"] = self.get("mergerule", out["mergeRuleId"])
        if kind == "segment" and isinstance(out.get("segmentRule"), str):
            out["segmentRule"] = _TRAIT_REF.sub(
                lambda m: f"{self.get('trait', int(m.group(1)))}{m.group(2)}",
                out["segmentRule"])
        if kind == "mapping":
            out["sid"] = self.get("segment", out.get("sid"))
            out["destinationId"] = self.get("destination", out.get("destinationId"))
        return out


def _seed_one(dcs_url: str, token: str, kind: str, obj: dict[str, Any], ids: _IdMap,
              attempts: int, sleep: Callable[[float], None]) -> tuple[str, str]:
    """("created" | "kept" | "skipped", detail) for one catalog object."""
    id_field = ID_FIELDS[kind]
    file_id = obj[id_field]
    body = ids.rewrite(kind, obj)
    path = COLLECTIONS[kind]
    if kind == "mapping":
        path = path.replace("{destinationId}", str(body.pop("destinationId")))
    label = f"{kind} {file_id}"
    detail = "no answer"
    for attempt in range(attempts):
        if attempt:
            sleep(min(2.0, 0.05 * 2 ** attempt))
        try:
            status, answer = _api_call(dcs_url, token, "POST", path, body)
        except OSError as exc:  # the stack is still starting, or a request timed out
            detail = f"{type(exc).__name__}: {exc}"
            continue
        if status == 201 and isinstance(answer, dict):
            ids.ids[(kind, file_id)] = int(answer[id_field])
            if answer[id_field] == body.get(id_field, answer[id_field]) == file_id:
                return "created", label
            return "created", f"{label} (as {answer[id_field]}: its id was taken)"
        code = _error_code(answer)
        detail = f"{status} {code or answer}"
        if status >= 500 or code == "concurrent_change":
            continue  # another writer changed the catalog meanwhile: try again
        if code == "id_reserved" and id_field in body:
            # Already there (a second seed, or our own earlier try)? Else take a new id: the
            # file's is, or was, someone else's, and the objects referring to it follow.
            try:
                found, existing = _api_call(dcs_url, token, "GET", f"{path}/{file_id}")
            except OSError:
                found, existing = 0, None
            if found == 200 and _same({k: v for k, v in body.items() if k != id_field},
                                       existing):
                return "kept", label
            body.pop(id_field)
            continue
        return "skipped", f"{label}: {detail}"
    return "skipped", f"{label}: {detail} (gave up after {attempts} tries)"


def seed_via_api(
    dcs_url: str,
    token: str,
    sim_url: str,
    catalog_path: Path | str = DEMO_CATALOG,
    wait_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = 8,
) -> SeedReport:
    """Create every catalog object through the admin API, keeping the file's ids; then wait
    (at most ``wait_s``) until ``/event`` serves the resulting version.

    Idempotent and safe beside other writers: an object already there with the file's
    content is kept; ``concurrent_change`` and 5xx answers are retried with backoff; an object
    whose id something else took is created with a new id, and the objects that refer to it
    follow (rewritten ``dataSourceId``, ``NT`` in segment rules, mapping ``sid``); an object
    that cannot be created is reported in the result and skipped (the demo works with what
    it has). Never raises for one object."""
    catalog = load_catalog(sim_url, catalog_path)
    report = SeedReport()
    ids = _IdMap()
    for kind in ID_FIELDS:
        for obj in catalog.get(kind, []):
            outcome, detail = _seed_one(dcs_url, token, kind, obj, ids, attempts, sleep)
            getattr(report, outcome).append(detail)
    try:
        report.version = wait_until_served(dcs_url, token, wait_s, sleep)
    except (SeedError, OSError) as exc:
        report.skipped.append(f"catalog version: {exc}")
    return report


def wait_until_served(
    dcs_url: str, token: str, wait_s: float = 30.0, sleep: Callable[[float], None] = time.sleep
) -> int:
    """Poll ``GET /v1/catalog/version`` until the served version is the stored one."""
    deadline = time.monotonic() + wait_s
    answer: Any = None
    while True:
        status, answer = _api_call(dcs_url, token, "GET", "/v1/catalog/version")
        if status == 200 and answer["version"] == answer["storedVersion"]:
            return int(answer["version"])
        if time.monotonic() >= deadline:
            raise SeedError(f"the event path did not pick up the catalog in {wait_s} s: {answer}")
        sleep(0.2)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.seed", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sim-url", required=True, help="provider simulator base URL")
    parser.add_argument(
        "--table",
        default=os.environ.get("RTDCS_CATALOG_TABLE"),
        help="catalog table name (default: $RTDCS_CATALOG_TABLE)",
    )
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="DynamoDB endpoint, e.g. a moto server (default: $AWS_ENDPOINT_URL)",
    )
    parser.add_argument("--catalog", default=str(DEMO_CATALOG), help="catalog JSON file")
    parser.add_argument("--api", help="seed through the admin API at this base URL instead")
    parser.add_argument(
        "--token",
        default=os.environ.get("RTDCS_ADMIN_TOKEN"),
        help="admin token for --api (default: $RTDCS_ADMIN_TOKEN)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.api:
        if not args.token:
            print("no admin token: set RTDCS_ADMIN_TOKEN or pass --token", file=sys.stderr)
            return 2
        report = seed_via_api(args.api, args.token, args.sim_url, args.catalog)
        for detail in report.skipped:
            print(f"skipped {detail}", file=sys.stderr)
        print(f"seeded {args.catalog} through {args.api}: {report.summary()} "
              f"(catalog version {report.version})")
        return 1 if report.skipped else 0
    if not args.table:
        print("no catalog table: set RTDCS_CATALOG_TABLE or pass --table", file=sys.stderr)
        return 2
    import boto3

    session = boto3.session.Session()
    table = session.resource("dynamodb", endpoint_url=args.endpoint_url or None).Table(args.table)
    seed(table, args.sim_url, args.catalog)
    print(f"seeded {args.catalog} into {args.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
