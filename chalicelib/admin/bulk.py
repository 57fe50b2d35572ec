"""Bulk create/replace and catalog import (issue 12): up to 1,000 objects a request.

Everything is checked first, in request order, each object against the catalog *and the
objects before it in the request* (a segment may use a trait created three lines earlier).
Then, unless ``partial`` was asked for, either every object is written or none:

* an object that fails its checks fails the request before anything is written (400
  ``invalid_items``; every failure is listed with its index, field and rule position);
* the writes are chunks of objects, each one transaction conditioned on the catalog version
  (store/catalog.py), in request order. If another change lands between two chunks, the next
  chunk is checked again against the new catalog; if it no longer passes, the chunks already
  written are undone and the answer is 409 ``concurrent_change``.

An object with an id that exists is replaced; one with a new id (import: ids are kept) is
created with it, if it is above every id its kind has had (else ``id_reserved``); one
without an id gets a new one.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from chalicelib.admin import checks
from chalicelib.admin.body import MAX_BODY_BYTES, content_type_of
from chalicelib.admin.errors import ApiError, bad_request, conflict
from chalicelib.admin.schemas import BY_KIND, ResourceSpec
from chalicelib.admin.service import AdminService, present
from chalicelib.store.catalog import CatalogRepository, ConcurrentChange
from chalicelib.store.catalog_index import entries

EXPORT_PATH = "/v1/catalog/export"
MAX_BULK_OBJECTS = 1000
MAX_BULK_BYTES = 5 * 1024 * 1024  # under Lambda's 6 MB request limit
IMPORT_ORDER = ("datasource", "mergerule", "trait", "segment", "provider", "destination",
                "mapping")
_CHUNK_ACTIONS = 90  # index items and objects per transaction (the version bump is one more)
_BULK_TYPES = ("application/json", "application/x-ndjson", "application/jsonl")


class BulkEntry(NamedTuple):
    number: int  # its place in the request (0-based)
    spec: ResourceSpec
    raw: dict[str, Any]
    parent_id: int | None


class _Checked(NamedTuple):
    entry: BulkEntry
    object_id: int
    body: dict[str, Any]
    previous: dict[str, Any] | None  # the stored object it replaces


def parse_bulk_body(raw: bytes | None, headers: Mapping[str, str]) -> list[Any]:
    """A JSON array, or NDJSON (one JSON value a line). Errors name the line."""
    content_type = content_type_of(headers)
    if content_type and content_type not in _BULK_TYPES:
        raise ApiError(415, "unsupported_media_type", "the body must be a JSON array or NDJSON "
                       f"(application/json, application/x-ndjson), not {content_type}")
    data = raw or b""
    if len(data) > MAX_BULK_BYTES:
        raise ApiError(413, "payload_too_large", f"the body must be at most {MAX_BULK_BYTES} "
                       "bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request("invalid_json", "the body is not UTF-8") from exc
    stripped = text.strip()
    if stripped.startswith("["):
        values = _loads(stripped, None)
        if not isinstance(values, list):
            raise bad_request("invalid_body", "the body must be a JSON array of objects")
    else:
        values = [_loads(line, number) for number, line in enumerate(text.splitlines())
                  if line.strip()]
    if not values:
        raise bad_request("invalid_body", "the body holds no objects")
    if len(values) > MAX_BULK_OBJECTS:
        raise bad_request("too_many_objects", f"at most {MAX_BULK_OBJECTS} objects a request, "
                          f"got {len(values)}")
    return values


def _loads(text: str, line: int | None) -> Any:
    if len(text.encode("utf-8")) > MAX_BODY_BYTES and line is not None:
        raise bad_request("payload_too_large", f"line {line} is over {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        where = "the body" if line is None else f"line {line}"
        raise bad_request("invalid_json", f"{where} is not valid JSON: {exc}") from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def entries_for_kind(spec: ResourceSpec, values: Sequence[Any],
                     parent_id: int | None) -> list[BulkEntry]:
    out = []
    for index, value in enumerate(values):
        if not isinstance(value, dict):
            raise bad_request("invalid_body", f"object {index} is not a JSON object")
        out.append(BulkEntry(index, spec, value, parent_id))
    return out


def entries_for_import(values: Sequence[Any]) -> list[BulkEntry]:
    """Import lines ``{"kind": "trait", "object": {...}}`` (what the export writes)."""
    out = []
    for index, value in enumerate(values):
        if (not isinstance(value, dict) or value.get("kind") not in BY_KIND
                or not isinstance(value.get("object"), dict)):
            raise bad_request("invalid_body", f"line {index} must be "
                              '{"kind": <catalog kind>, "object": {...}}')
        spec = BY_KIND[value["kind"]]
        body = dict(value["object"])
        parent = body.get(spec.parent_field) if spec.parent_field else None
        if spec.parent_field is not None and not isinstance(parent, int):
            raise bad_request("invalid_body", f"line {index}: a mapping needs destinationId")
        out.append(BulkEntry(index, spec, body, parent if isinstance(parent, int) else None))
    order = {kind: n for n, kind in enumerate(IMPORT_ORDER)}
    return sorted(out, key=lambda e: (order[e.spec.kind], e.number))  # referenced kinds first


class _BatchView(checks.CatalogView):
    """The catalog plus the objects checked before, in this request."""

    def __init__(self, repository: CatalogRepository) -> None:
        super().__init__(repository)
        self._keys: dict[tuple[str, str], int] = {}
        self._released: set[tuple[str, str]] = set()
        self._created: dict[str, int] = {}  # new objects per kind checked in this request

    def add(self, kind: str, object_id: int, body: dict[str, Any],
            previous: Mapping[str, Any] | None) -> None:
        self._objects[(kind, object_id)] = body
        if previous is None:
            self._created[kind] = self._created.get(kind, 0) + 1
        if previous is not None:
            self._released.update((kind, key) for key in entries(kind, previous).keys)
        for key in entries(kind, body).keys:
            self._keys[(kind, key)] = object_id

    def count(self, kind: str) -> int:
        """Stored objects plus the new ones checked before in this request (a cap such as
        10 merge rules holds for a whole import, not per object)."""
        return super().count(kind) + self._created.get(kind, 0)

    def owner(self, kind: str, key: str) -> int | None:
        if (kind, key) in self._keys:
            return self._keys[(kind, key)]
        owner = super().owner(kind, key)
        return None if (kind, key) in self._released and owner is not None else owner


class BulkResult(NamedTuple):
    results: list[dict[str, Any]]  # per object, in request order
    written: int


class BulkWriter:
    def __init__(self, service: AdminService, repository: CatalogRepository) -> None:
        self._service = service
        self._repo = repository

    def write(self, batch: Sequence[BulkEntry], partial: bool = False) -> BulkResult:
        self._service.ensure_index()
        version = self._repo.version(consistent=True)
        checked, failures = self._check(batch)
        if failures and not partial:
            first = failures[min(failures)]
            raise _invalid_items(failures, len(batch), first)
        self._assign_ids(checked)
        self._commit(version, checked)
        results: list[dict[str, Any]] = [{} for _ in batch]
        for item in checked:
            results[item.entry.number] = {"index": item.entry.number, "status": (
                200 if item.previous is not None else 201),
                item.entry.spec.id_field: item.object_id}
        for index, error in failures.items():
            results[index] = {"index": index, "status": error.status, **error.body()}
        return BulkResult(results, len(checked))

    # ---- checks --------------------------------------------------------------------------------

    def _check(self, batch: Sequence[BulkEntry]) -> tuple[list[_Checked], dict[int, ApiError]]:
        view = _BatchView(self._repo)
        checked: list[_Checked] = []
        failures: dict[int, ApiError] = {}
        for entry in batch:
            try:
                checked.append(self._check_one(view, entry))
            except ApiError as exc:
                failures[entry.number] = exc
        return checked, failures

    def _check_one(self, view: _BatchView, entry: BulkEntry) -> _Checked:
        spec, parent_id = entry.spec, entry.parent_id
        explicit, fields = AdminService.split_read_only(spec, entry.raw, None, parent_id)
        if spec.parent_field is not None and view.get("destination", parent_id) is None:
            raise bad_request("invalid_reference", f"destination {parent_id} does not exist",
                              spec.parent_field)
        existing = view.get(spec.kind, explicit) if explicit is not None else None
        if existing is not None and spec.parent_field is not None and (
                existing.get(spec.parent_field) != parent_id):
            raise bad_request("invalid_value", f"{spec.kind} {explicit} belongs to another "
                              "destination", spec.parent_field)
        validated = spec.body.check(fields, "")
        ctx = checks.CheckContext(view, self._service.http_hosts, explicit if existing else None,
                                  existing, parent_id)
        final = checks.check(spec, validated, ctx)
        object_id = explicit if explicit is not None else -(entry.number + 1)  # assigned later
        now = self._service.now_ms()
        created = existing.get("createTime") if existing else None
        body = AdminService.stored_body(spec, object_id, parent_id, final,
                                    created if isinstance(created, int) else now, now)
        view.add(spec.kind, object_id, body, existing)
        return _Checked(entry, object_id, body, existing)

    # ---- ids and writes ------------------------------------------------------------------------

    def _assign_ids(self, checked: list[_Checked]) -> None:
        """New ids for objects without one; explicit new ids must be above every id so far."""
        by_kind: dict[str, list[int]] = {}
        for n, item in enumerate(checked):
            if item.previous is None:
                by_kind.setdefault(item.entry.spec.kind, []).append(n)
        for kind, positions in by_kind.items():
            explicit = [checked[n].object_id for n in positions if checked[n].object_id > 0]
            if explicit:
                high = self._repo.high_water(kind)
                if min(explicit) <= high or not self._repo.reserve_id(kind, max(explicit)):
                    raise conflict("id_reserved", f"{kind} ids must be above every {kind} id "
                                   f"so far ({high}) to be created with their id",
                                   BY_KIND[kind].id_field)
            fresh = [n for n in positions if checked[n].object_id < 0]
            if fresh:
                first = self._repo.allocate_ids(kind, len(fresh))
                for offset, n in enumerate(fresh):
                    item = checked[n]
                    body = {**item.body, item.entry.spec.id_field: first + offset}
                    checked[n] = item._replace(object_id=first + offset, body=body)

    def _commit(self, version: int, checked: list[_Checked]) -> None:
        written: list[_Checked] = []
        for chunk in _chunks(checked):
            while True:
                try:
                    version = self._repo.commit(
                        version,
                        puts=[(c.entry.spec.kind, c.object_id, c.body) for c in chunk],
                        previous={(c.entry.spec.kind, c.object_id): c.previous for c in chunk})
                    break
                except ConcurrentChange:
                    # Another change landed: this chunk must still pass against it.
                    version = self._repo.version(consistent=True)
                    rechecked, failures = self._check([c.entry for c in chunk])
                    fresh = {r.entry.number: r for r in rechecked}
                    if failures or any((fresh[c.entry.number].previous is None)
                                       != (c.previous is None) for c in chunk):
                        self._undo(written)
                        raise conflict("concurrent_change", "the catalog changed during this "
                                       "request and some objects no longer pass; nothing was "
                                       "written, retry") from None
                    # A replaced object may have changed meanwhile: its index items are
                    # computed from what is stored now.
                    chunk = [c if c.previous is None else fresh[c.entry.number]
                             for c in chunk]
            written += chunk

    def _undo(self, written: list[_Checked]) -> None:
        for item in reversed(written):
            kind, object_id = item.entry.spec.kind, item.object_id
            version = self._repo.version(consistent=True)
            if item.previous is None:
                self._repo.commit(version, deletes=[(kind, object_id)],
                                  previous={(kind, object_id): item.body})
            else:
                self._repo.commit(version, puts=[(kind, object_id, dict(item.previous))],
                                  previous={(kind, object_id): item.body})


def _chunks(checked: list[_Checked]) -> Iterable[list[_Checked]]:
    chunk: list[_Checked] = []
    actions = 0
    for item in checked:
        index = entries(item.entry.spec.kind, item.body)
        cost = 1 + len(index.keys) + len(index.refs)
        if chunk and actions + cost > _CHUNK_ACTIONS:
            yield chunk
            chunk, actions = [], 0
        chunk.append(item)
        actions += cost
    if chunk:
        yield chunk


def _invalid_items(failures: Mapping[int, ApiError], total: int, first: ApiError) -> ApiError:
    index = min(failures)
    error = ApiError(400, "invalid_items",
                     f"{len(failures)} of {total} objects failed their checks; nothing was "
                     f"written (first: object {index}: {first.message})", first.field,
                     first.position)
    error.extra = {"index": index, "errors": [
        {"index": i, "status": e.status, **e.body()["error"]} for i, e in sorted(failures.items())
    ]}
    return error


MAX_EXPORT_PAGE_BYTES = 4 * 1024 * 1024  # under Lambda's 6 MB answer, whatever the objects


def export_page(spec: ResourceSpec, bodies: Sequence[Mapping[str, Any]],
                max_bytes: int = MAX_EXPORT_PAGE_BYTES) -> tuple[str, str | None]:
    """The NDJSON of ``bodies`` up to ``max_bytes`` (at least one line), and the sort key to
    continue after when the page stopped early (None when every body fit)."""
    lines: list[str] = []
    size = 0
    for n, body in enumerate(bodies):
        line = export_line(spec, body) + "\n"
        if lines and size + len(line.encode("utf-8")) > max_bytes:
            return "".join(lines), str(bodies[n - 1][spec.id_field])
        lines.append(line)
        size += len(line.encode("utf-8"))
    return "".join(lines), None


def export_line(spec: ResourceSpec, body: Mapping[str, Any]) -> str:
    """One export line: the object as GET shows it, with its ``secretRef`` (a reference such as
    ``ssm:/x``, never the secret) so the import recreates it unchanged."""
    shown = present(spec, body)
    auth = body.get("auth")
    if isinstance(auth, dict) and "secretRef" in auth:
        shown["auth"] = dict(auth)
    return json.dumps({"kind": spec.kind, "object": shown}, separators=(",", ":"))
