"""Seed the demo catalog (``devtools/demo_catalog.json``).

Two ways, same result:

* through the admin API (what the local stack does once ``chalice local`` is up):
  ``seed_via_api(dcs_url, token, sim_url)`` POSTs every object in file order, each with its
  id from the file (an explicit id is accepted on create when it is above every id of that
  kind so far, which holds on a fresh stack), checks that the server kept that id, then waits
  until the event path serves the new catalog version;

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
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from chalicelib.store.catalog import CatalogRepository

DEMO_CATALOG = Path(__file__).with_name("demo_catalog.json")
SIM_PLACEHOLDER = "{sim}"

# Catalog kind -> the admin-API field holding the object's id.
ID_FIELDS = {
    "datasource": "dataSourceId",
    "trait": "sid",
    "segment": "sid",
    "provider": "pid",
    "destination": "destinationId",
    "mapping": "mappingId",
}


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
    # Referenced kinds first (data sources before traits, traits before segments, ...).
    for kind, id_field in ID_FIELDS.items():
        for body in catalog.get(kind, []):
            if id_field not in body:
                raise ValueError(f"{kind} object without {id_field}: {body}")
            repo.put(kind, body[id_field], body)
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


def seed_via_api(
    dcs_url: str,
    token: str,
    sim_url: str,
    catalog_path: Path | str = DEMO_CATALOG,
    wait_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Create every catalog object through the admin API, keeping the file's ids; then wait
    (at most ``wait_s``) until ``/event`` serves the resulting version. Returns that version."""
    catalog = load_catalog(sim_url, catalog_path)
    for kind, id_field in ID_FIELDS.items():
        for obj in catalog.get(kind, []):
            body = dict(obj)
            path = COLLECTIONS[kind]
            if kind == "mapping":
                path = path.replace("{destinationId}", str(body.pop("destinationId")))
            status, answer = _api_call(dcs_url, token, "POST", path, body)
            if status != 201:
                raise SeedError(f"POST {path} {obj.get(id_field)}: {status} {answer}")
            if answer.get(id_field) != obj[id_field]:
                raise SeedError(
                    f"{kind} {obj[id_field]} was created as {answer.get(id_field)}: the "
                    "catalog was not empty"
                )
    return wait_until_served(dcs_url, token, wait_s, sleep)


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
        version = seed_via_api(args.api, args.token, args.sim_url, args.catalog)
        print(f"seeded {args.catalog} through {args.api} (catalog version {version})")
        return 0
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
