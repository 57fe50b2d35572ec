"""Admin operations on catalog resources: list, get, create, replace, delete.

Each change reads the catalog version, then only what its checks need (checks.CatalogView),
then commits one transaction that writes the object and its index items and bumps the version,
conditioned on the version it read (store/catalog.py). If another change landed in between,
the change is redone after a short random pause (jittered exponential backoff), for up to
``retry_seconds``; only then does it answer 409 ``concurrent_change``. A retry costs a few
point reads, whatever the size of the catalog.
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable, Mapping, TypeVar

from chalicelib.admin import checks
from chalicelib.admin.errors import ApiError, bad_request, conflict, not_found
from chalicelib.admin.fields import MAX_ID
from chalicelib.admin.schemas import WRITE_ONLY_AUTH_FIELD, ResourceSpec
from chalicelib.dcs.numbers import is_ascii_digits
from chalicelib.store.catalog import CatalogRepository, ConcurrentChange
from chalicelib.store.catalog_index import order_pk

Result = TypeVar("Result")
DEFAULT_PAGE_SIZE = 100
RETRY_SECONDS = 10.0  # a change keeps retrying a lost race this long
_BACKOFF_START_S = 0.005
_BACKOFF_MAX_S = 0.25

MAX_PAGE_SIZE = 1000
_TIME_FIELDS = ("createTime", "updateTime")


def parse_id(raw: str | None, what: str) -> int:
    """A path id; anything but a positive 32-bit integer names nothing (404)."""
    text = raw or ""
    if not is_ascii_digits(text) or len(text) > 10 or not 1 <= int(text) <= MAX_ID:
        raise not_found(what)
    return int(text)


def parse_paging(query: Mapping[str, str] | None) -> tuple[int, int]:
    query = query or {}

    def number(name: str, default: int, low: int, high: int) -> int:
        raw = query.get(name)
        if raw is None or raw == "":
            return default
        if not is_ascii_digits(raw) or len(raw) > 9 or not low <= int(raw) <= high:
            raise bad_request("out_of_range", f"{name} must be an integer from {low} to {high}",
                              name)
        return int(raw)

    page = number("page", 0, 0, 10**6)
    size = number("pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    return page, size


def parse_after(query: Mapping[str, str] | None) -> int | None:
    """``after``: the id the previous page ended with (its ``next``)."""
    raw = (query or {}).get("after")
    if raw is None or raw == "":
        return None
    if not is_ascii_digits(raw) or len(raw) > 10 or not 0 <= int(raw) <= MAX_ID:
        raise bad_request("out_of_range", f"after must be an id from 0 to {MAX_ID}", "after")
    return int(raw)


def present(spec: ResourceSpec, body: Mapping[str, Any]) -> dict[str, Any]:
    """The response form of a stored object: ids first, fields in schema order, times last,
    write-only secrets left out."""
    out: dict[str, Any] = {}
    for key in (spec.id_field, spec.parent_field):
        if key is not None and key in body:
            out[key] = body[key]
    for key in spec.body.fields:
        if key in body:
            out[key] = body[key]
    for key, value in body.items():  # objects written outside the API may hold more
        if key not in out and key not in _TIME_FIELDS:
            out[key] = value
    auth = out.get("auth")
    if isinstance(auth, dict):
        out["auth"] = {k: v for k, v in auth.items() if k != WRITE_ONLY_AUTH_FIELD}
    for key in _TIME_FIELDS:
        value = body.get(key)
        out[key] = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return out


class AdminService:
    def __init__(
        self,
        repository: CatalogRepository,
        http_hosts: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
        retry_seconds: float = RETRY_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._repo = repository
        self._http_hosts = http_hosts
        self._clock = clock
        self._retry_seconds = retry_seconds
        self._sleep = sleep
        self._rng = rng or random.Random()

    @property
    def http_hosts(self) -> tuple[str, ...]:
        return self._http_hosts

    # ---- reads ---------------------------------------------------------------------------------

    def list(self, spec: ResourceSpec, page: int, page_size: int,
             parent_id: int | None = None, after: int | None = None) -> dict[str, Any]:
        """One page in id order, from the order items (store/catalog_index.py): the page's keys
        and objects and the kind's count are read, not the kind. ``after`` (an id, from the
        previous page's ``next``) reads only the page; ``page`` skips ``page * pageSize`` keys."""
        if spec.parent_field is not None:
            self._require_parent(parent_id)
        self.ensure_index()
        partition = order_pk(spec.kind, {spec.parent_field: parent_id} if spec.parent_field
                             else {})
        ids = self._repo.ordered_ids(partition, page * page_size, page_size, after)
        bodies = self._repo.get_many(spec.kind, ids)
        items = [present(spec, bodies[i]) for i in ids if i in bodies]
        answer: dict[str, Any] = {
            "items": items,
            "page": page,
            "pageSize": page_size,
            "total": self._repo.count(partition),
        }
        if len(ids) == page_size:
            answer["next"] = ids[-1]  # ?after=<next> reads the following page only
        return answer

    def get(self, spec: ResourceSpec, object_id: int,
            parent_id: int | None = None) -> dict[str, Any]:
        body = self._repo.get(spec.kind, object_id)
        if body is None or not _under_parent(spec, body, parent_id):
            if spec.parent_field is not None:
                self._require_parent(parent_id)
            raise not_found(f"{spec.kind} {object_id}")
        return present(spec, body)

    def _require_parent(self, parent_id: int | None) -> None:
        if parent_id is None or self._repo.get("destination", parent_id) is None:
            raise not_found(f"destination {parent_id}")

    # ---- changes -------------------------------------------------------------------------------

    def create(self, spec: ResourceSpec, raw: dict[str, Any],
               parent_id: int | None = None) -> dict[str, Any]:
        explicit_id, fields = self.split_read_only(spec, raw, None, parent_id)
        validated = spec.body.check(fields, "")
        object_id: int | None = None

        def attempt(version: int, view: checks.CatalogView) -> dict[str, Any]:
            nonlocal object_id
            if spec.parent_field is not None and view.get("destination", parent_id) is None:
                raise not_found(f"destination {parent_id}")
            ctx = checks.CheckContext(view, self._http_hosts, parent_id=parent_id)
            final = checks.check(spec, dict(validated), ctx)
            if object_id is None:  # ids are taken only once the body is known to be good
                object_id = self._new_id(spec, explicit_id)
            now = self.now_ms()
            body = self.stored_body(spec, object_id, parent_id, final, now, now)
            self._repo.commit(version, puts=[(spec.kind, object_id, body)])
            return present(spec, body)

        return self._with_retries(attempt)

    def replace(self, spec: ResourceSpec, object_id: int, raw: dict[str, Any],
                parent_id: int | None = None) -> dict[str, Any]:
        def attempt(version: int, view: checks.CatalogView) -> dict[str, Any]:
            existing = self._existing(spec, view, object_id, parent_id)
            _, fields = self.split_read_only(spec, raw, object_id, parent_id)
            fields = _keep_secret_ref(fields, existing)
            validated = spec.body.check(fields, "")
            ctx = checks.CheckContext(view, self._http_hosts, object_id, existing, parent_id)
            final = checks.check(spec, validated, ctx)
            created = existing.get("createTime")
            now = self.now_ms()
            body = self.stored_body(spec, object_id, parent_id, final,
                                created if isinstance(created, int) else now, now)
            self._repo.commit(version, puts=[(spec.kind, object_id, body)],
                              previous={(spec.kind, object_id): existing})
            return present(spec, body)

        return self._with_retries(attempt)

    def delete(self, spec: ResourceSpec, object_id: int, parent_id: int | None = None) -> None:
        def attempt(version: int, view: checks.CatalogView) -> None:
            existing = self._existing(spec, view, object_id, parent_id)
            blocker = checks.delete_blocker(spec, object_id, view)
            if blocker is not None:
                raise blocker
            self._repo.commit(version, deletes=[(spec.kind, object_id)],
                              previous={(spec.kind, object_id): existing})

        self._with_retries(attempt)

    # ---- helpers -------------------------------------------------------------------------------

    def _with_retries(self, attempt: Callable[[int, checks.CatalogView], Result]) -> Result:
        """Run ``attempt`` on the current version until it commits; between lost races, a
        random pause that doubles up to 250 ms, for up to ``retry_seconds``."""
        self.ensure_index()
        deadline = self._clock() + self._retry_seconds
        pause = _BACKOFF_START_S
        while True:
            version = self._repo.version(consistent=True)  # first: every later read is newer
            try:
                return attempt(version, checks.CatalogView(self._repo))
            except ConcurrentChange:
                if self._clock() + pause > deadline:
                    raise self._busy() from None
                self._sleep(self._rng.uniform(0, pause))
                pause = min(pause * 2, _BACKOFF_MAX_S)

    def ensure_index(self) -> None:
        """Index items of objects written before the index existed are completed first (once
        per table; checking costs one read)."""
        if not self._repo.index_ready() and not self._repo.build_index():
            raise self._busy()

    def _existing(self, spec: ResourceSpec, view: checks.CatalogView, object_id: int,
                  parent_id: int | None) -> dict[str, Any]:
        if spec.parent_field is not None and view.get("destination", parent_id) is None:
            raise not_found(f"destination {parent_id}")
        existing = view.get(spec.kind, object_id)
        if existing is None or not _under_parent(spec, existing, parent_id):
            raise not_found(f"{spec.kind} {object_id}")
        return existing

    @staticmethod
    def split_read_only(spec: ResourceSpec, raw: dict[str, Any], path_id: int | None,
                         parent_id: int | None) -> tuple[int | None, dict[str, Any]]:
        """Take the read-only fields out of a body. On create the id may be given (imports,
        seeding); on replace it must match the path. createTime/updateTime are ignored, so a
        GET body can be edited and PUT back."""
        fields = dict(raw)
        explicit = fields.pop(spec.id_field, None)
        if explicit is not None:
            if path_id is not None and _id_value(explicit, spec.id_field) != path_id:
                raise bad_request("invalid_value", f"{spec.id_field} must match the path",
                                  spec.id_field)
        if spec.parent_field is not None and spec.parent_field in fields:
            parent = _id_value(fields.pop(spec.parent_field), spec.parent_field)
            if parent != parent_id:
                raise bad_request("invalid_value", f"{spec.parent_field} must match the path",
                                  spec.parent_field)
        for key in _TIME_FIELDS:
            fields.pop(key, None)
        if explicit is not None:
            explicit = _id_value(explicit, spec.id_field)
        return explicit, fields

    def _new_id(self, spec: ResourceSpec, explicit: int | None) -> int:
        if explicit is None:
            object_id = self._repo.allocate_id(spec.kind)
            if object_id > MAX_ID:
                raise conflict("ids_exhausted", f"no {spec.kind} ids are left")
            return object_id
        if not self._repo.reserve_id(spec.kind, explicit):
            raise conflict(
                "id_reserved",
                f"{spec.id_field} {explicit} is, or was, in use; an explicit id must be above "
                f"every {spec.kind} id so far ({self._repo.high_water(spec.kind)})",
                spec.id_field,
            )
        return explicit

    @staticmethod
    def stored_body(spec: ResourceSpec, object_id: int, parent_id: int | None,
                fields: Mapping[str, Any], created: int, updated: int) -> dict[str, Any]:
        body: dict[str, Any] = {spec.id_field: object_id}
        if spec.parent_field is not None:
            body[spec.parent_field] = parent_id
        body.update(fields)
        body["createTime"] = created
        body["updateTime"] = updated
        return body

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    @staticmethod
    def _busy() -> ApiError:
        return conflict("concurrent_change", "the catalog kept changing during this request; "
                        "retry")


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _id_value(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request("invalid_type", f"{field} must be an integer", field)
    if not 1 <= value <= MAX_ID:
        raise bad_request("out_of_range", f"{field} must be between 1 and {MAX_ID}", field)
    return value


def _under_parent(spec: ResourceSpec, body: Mapping[str, Any], parent_id: int | None) -> bool:
    return spec.parent_field is None or _as_int(body.get(spec.parent_field)) == parent_id


def _keep_secret_ref(fields: dict[str, Any], existing: Mapping[str, Any]) -> dict[str, Any]:
    """``auth.secretRef`` is write-only: a PUT that leaves it out keeps the stored one (same
    auth type), so a GET body can be edited and sent back."""
    auth, old = fields.get("auth"), existing.get("auth")
    if (
        isinstance(auth, dict)
        and WRITE_ONLY_AUTH_FIELD not in auth
        and isinstance(old, dict)
        and old.get("type") == auth.get("type")
        and WRITE_ONLY_AUTH_FIELD in old
    ):
        return {**fields, "auth": {**auth, WRITE_ONLY_AUTH_FIELD: old[WRITE_ONLY_AUTH_FIELD]}}
    return fields
