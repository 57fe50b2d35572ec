"""Seed the demo catalog (``devtools/demo_catalog.json``) into the catalog table.

Writes through the application's own store layer (``CatalogRepository``), so the seeded
items have exactly the shape the event path reads. Provider URLs carry the placeholder
``{sim}``, replaced by the provider simulator's base URL.

    python -m devtools.seed --sim-url http://127.0.0.1:8081

uses ``RTDCS_CATALOG_TABLE`` (or ``--table``) and ``AWS_ENDPOINT_URL`` (or ``--endpoint-url``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
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
