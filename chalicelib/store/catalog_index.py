"""What the catalog indexes about one object (issue 12): its unique keys and its references.

An admin change reads only what its checks need. Two lookups would otherwise need the whole
catalog, so the catalog table keeps, beside every object, items that answer them:

* **key items** (``pk = "key#<kind>"``, ``sk`` = the key, attribute ``id``): who owns a value
  that must be unique (a data source's ``integrationCode``; a trait's ``integrationCode`` or
  ``providerSegmentId`` within its data source; the one provider of a data source; the mapping
  of a segment to a destination);
* **reference items** (``pk = "ref#<kind>#<id>"``, ``sk = "<kind>#<id>"`` of the user): who uses
  an object (traits, segments, providers and S2S destinations use a data source; segments use
  traits; mappings use a destination and a segment). A delete and a trait-type change read
  them instead of every segment;
* **order items** (``pk = "order#<kind>"``, or ``"order#mapping#<destinationId>"``, ``sk`` = the
  id zero-padded to 10 digits) and a count (``pk = "meta"``, ``sk = "count#" + that pk``): a list
  page reads the page's keys and objects and the count, never the whole kind.

Every admin change commits the object, its index items and the catalog version in one
transaction conditioned on the version it read (store/catalog.py), so the index is exactly as
current as the objects. This module is pure: it derives the entries from a body.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Mapping, NamedTuple

# A trait reference in a segment rule: digits then T (rules.md 2.1). Every such token counts,
# a superset of what the parser finds, so a trait in use is never taken for unused.
_TRAIT_REF = re.compile(r"(?<![A-Za-z0-9_])([0-9]+)[Tt](?![A-Za-z0-9_])")
_MAX_KEY_VALUE_CHARS = 200  # longer values are keyed by their hash (sort keys: 1,024 bytes)
ID_FIELDS: Mapping[str, str] = {
    "datasource": "dataSourceId",
    "mergerule": "mergeRuleId",  # after data sources, before the segments that name one
    "trait": "sid",
    "segment": "sid",
    "provider": "pid",
    "destination": "destinationId",
    "mapping": "mappingId",
}


class Ref(NamedTuple):
    kind: str
    object_id: int


class IndexEntries(NamedTuple):
    keys: frozenset[str]  # key item sort keys this object owns
    refs: frozenset[Ref]  # the objects it uses


def int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def key_value(value: Any) -> str:
    text = str(value)
    if len(text) <= _MAX_KEY_VALUE_CHARS:
        return text
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def unique_key(kind: str, field: str, value: Any, scope: Any = None) -> str:
    """The sort key of a key item: ``<field>=<value>``, within a scope when the uniqueness is
    per data source or per destination."""
    prefix = "" if scope is None else f"{scope}|"
    return f"{prefix}{field}={key_value(value)}"


def trait_references(rule: Any) -> frozenset[int]:
    return frozenset(int(m.group(1)) for m in _TRAIT_REF.finditer(str(rule or "")))


def entries(kind: str, body: Mapping[str, Any]) -> IndexEntries:
    keys: set[str] = set()
    refs: set[Ref] = set()
    ds = int_or_none(body.get("dataSourceId"))
    if kind == "datasource":
        if body.get("integrationCode") is not None:
            keys.add(unique_key(kind, "integrationCode", body["integrationCode"]))
    elif kind == "trait":
        for field in ("integrationCode", "providerSegmentId"):
            if body.get(field) is not None and ds is not None:
                keys.add(unique_key(kind, field, body[field], scope=f"ds={ds}"))
    elif kind == "segment":
        refs.update(Ref("trait", sid) for sid in trait_references(body.get("segmentRule")))
        merge_rule = int_or_none(body.get("mergeRuleId"))
        if merge_rule is not None:
            refs.add(Ref("mergerule", merge_rule))
    elif kind == "mergerule":
        sources = body.get("crossDeviceDataSources")
        for source in sources if isinstance(sources, list) else ():
            if int_or_none(source) is not None:
                refs.add(Ref("datasource", int(source)))
        if body.get("default") is True:
            keys.add(unique_key(kind, "default", "true"))  # one default merge rule
    elif kind == "provider":
        if ds is not None:
            keys.add(unique_key(kind, "dataSourceId", ds))
    elif kind == "mapping":
        destination, sid = int_or_none(body.get("destinationId")), int_or_none(body.get("sid"))
        if destination is not None:
            refs.add(Ref("destination", destination))
        if sid is not None:
            refs.add(Ref("segment", sid))
            if destination is not None:
                keys.add(unique_key(kind, "sid", sid, scope=f"destination={destination}"))
    if ds is not None and kind in ("trait", "segment", "provider", "destination"):
        refs.add(Ref("datasource", ds))
    return IndexEntries(frozenset(keys), frozenset(refs))


def key_pk(kind: str) -> str:
    return f"key#{kind}"


def ref_pk(ref: Ref) -> str:
    return f"ref#{ref.kind}#{ref.object_id}"


def user_sk(kind: str, object_id: int) -> str:
    return f"{kind}#{object_id}"


def parse_user(sk: str) -> Ref | None:
    kind, _, raw = sk.partition("#")
    object_id = int_or_none(raw)
    return Ref(kind, object_id) if kind in ID_FIELDS and object_id is not None else None


def uses(kind: str, body: Mapping[str, Any], ref: Ref) -> bool:
    """Whether ``body`` (a ``kind`` object) still uses ``ref``: reference items of a change
    that never committed are recognised this way and ignored."""
    return ref in entries(kind, body).refs


def order_pk(kind: str, body: Mapping[str, Any]) -> str:
    """The partition that lists ``kind`` in id order (mappings: per destination)."""
    if kind == "mapping":
        return f"order#mapping#{int_or_none(body.get('destinationId'))}"
    return f"order#{kind}"


def order_sk(object_id: int) -> str:
    return f"{object_id:010d}"


def count_sk(order_partition: str) -> str:
    return f"count#{order_partition}"
