"""Profile repository: one consistent read and one atomic update per event.

Item layout (one item per UUID, partition key ``uuid``); every per-object attribute is
top-level so that DynamoDB update expressions can change it atomically without the
read-modify-write races a nested map would need:

* ``r<sid>``  Number Set: realization stamps of trait ``sid`` in integer nanoseconds
  (microseconds x 1000 plus a random tie-breaker, so two concurrent realizations in the same
  microsecond stay two elements). Rule-based traits ``ADD`` to it; onboarded traits ``SET``
  it to their latest realization only (rules.md 1.5).
* ``rn<sid>`` Number: how many times trait ``sid`` was realized since its set was last
  started (``ADD 1`` per rule-based realization, ``SET 1`` when the set restarts: onboarded
  traits and re-realization after expiry; removed with the set). Unlike the set, which keeps
  only the newest 100 stamps, it counts every realization exactly, concurrent ones included.
* ``ev<hour>`` String Set: ids (``tid``) of the events applied in that hour that carried a
  counter ``ADD``. The update is conditional on its event id being absent, so a retried or
  replayed write cannot count twice. Buckets older than ``GUARD_WINDOW_HOURS`` are cleared by
  the next event that reads the profile.
* ``i<dpid>`` String: the visitor's id (DPUUID) in data source ``dpid``.
* ``pc<pid>`` Map: a cached provider answer ``{s: [segment ids], z: [removed ids], x: expiry,
  k: consent key, d: dpuuid}``.
* ``segs`` Number Set: stored segment membership; ``seen`` last activity (epoch s);
  ``expires_at`` the DynamoDB TTL attribute (last activity + 120 days).
* ``optout`` (epoch ms): the UUID is opted out. An opted-out item holds only ``uuid`` and
  ``optout`` and has no ``expires_at``, so the marker never expires while the data is gone.
  Every update is conditional on its absence: an event in flight, or a spooled one replayed
  later, never writes data back onto an opted-out profile.

Writes that fail (throttling, 5xx, timeouts) are retried with backoff inside the event's
budget; if they still fail, the changes go to the spool queue (see ``chalicelib/spool``) and
are applied later by :meth:`ProfileRepository.replay`.
"""

from __future__ import annotations

import random
import secrets
import time
from decimal import Decimal
from typing import Any, Callable, Iterable, Literal, Mapping, NamedTuple, Protocol

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.records import SlotRecord

PROFILE_LIFETIME_SECONDS = 120 * 86400
MAX_STAMPS_PER_TRAIT = 100
GUARD_BUCKET_SECONDS = 3600
# Event-id buckets kept: a replay within this many hours of its event is recognised exactly.
GUARD_WINDOW_HOURS = 24
_NS_PER_SECOND = 1_000_000_000
_THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
_CONDITION_FAILED = "ConditionalCheckFailedException"

WriteOutcome = Literal["written", "duplicate", "opted_out", "spooled", "replayed", "merged"]


def new_stamp(now: float) -> int:
    return int(now * 1_000_000) * 1000 + secrets.randbelow(1000)


def stamp_seconds(stamp: int | Decimal) -> float:
    return int(stamp) / _NS_PER_SECOND


def guard_bucket(now: float) -> int:
    """The hour bucket that records an event applied at ``now``."""
    return int(now // GUARD_BUCKET_SECONDS)


# Not dataclasses: import cost on a cold start (chalicelib/records.py).


class CachedAnswer(NamedTuple):
    segments: tuple[str, ...]
    removed: tuple[str, ...]
    expires_at: float
    consent_key: str
    dpuuid: str

    def usable(self, now: float, consent_key: str, dpuuid: str) -> bool:
        return now < self.expires_at and self.consent_key == consent_key and self.dpuuid == dpuuid


class Profile:
    __slots__ = ("uuid", "stamps", "synced_ids", "provider_cache", "segments", "last_seen",
                 "expired_attributes", "opted_out", "counts", "s2s_states")

    def __init__(
        self,
        uuid: str,
        stamps: dict[int, list[int]] | None = None,
        synced_ids: dict[int, str] | None = None,
        provider_cache: dict[int, CachedAnswer] | None = None,
        segments: frozenset[int] = frozenset(),
        last_seen: float | None = None,
        expired_attributes: tuple[str, ...] = (),
        opted_out: bool = False,
        counts: dict[int, int] | None = None,
        s2s_states: dict[int, dict[str, Any]] | None = None,
    ) -> None:
        self.uuid = uuid
        self.stamps = {} if stamps is None else stamps  # sid -> stamps (ns), ascending
        self.synced_ids = {} if synced_ids is None else synced_ids
        self.provider_cache = {} if provider_cache is None else provider_cache
        self.segments = segments
        self.last_seen = last_seen
        # Attributes the next update clears: all of a TTL-expired item, or stale ``ev<hour>``
        # replay-guard buckets of a live one.
        self.expired_attributes = expired_attributes
        self.opted_out = opted_out
        self.counts = {} if counts is None else counts  # sid -> realizations (``rn<sid>``)
        # destinationId -> what that S2S destination last received: {"s": [sids], "t": epoch s}
        self.s2s_states = {} if s2s_states is None else s2s_states

    @property
    def exists(self) -> bool:
        return self.last_seen is not None


class ProfileChanges(SlotRecord, hashable=False):
    """What one event changes; rendered as a single UpdateItem."""

    __slots__ = ("now", "event_id", "add_stamps", "replace_stamps", "remove_traits",
                 "cache_answers", "segments", "clear_attributes", "synced_ids", "keep_segments",
                 "s2s_states")

    def __init__(
        self,
        now: float,
        event_id: str = "",
        add_stamps: dict[int, int] | None = None,
        replace_stamps: dict[int, list[int]] | None = None,
        remove_traits: set[int] | None = None,
        cache_answers: dict[int, CachedAnswer] | None = None,
        segments: frozenset[int] = frozenset(),
        clear_attributes: tuple[str, ...] = (),
        synced_ids: dict[int, str] | None = None,
        keep_segments: bool = False,
        s2s_states: dict[int, dict[str, Any]] | None = None,
    ) -> None:
        self.now = now
        self.event_id = event_id
        self.add_stamps = {} if add_stamps is None else add_stamps  # rule-based: sid -> stamp
        self.replace_stamps = {} if replace_stamps is None else replace_stamps  # sid -> full set
        self.remove_traits = set() if remove_traits is None else remove_traits
        self.cache_answers = {} if cache_answers is None else cache_answers
        self.segments = segments
        self.clear_attributes = clear_attributes
        self.synced_ids = {} if synced_ids is None else synced_ids  # dpid -> latest DPUUID
        self.keep_segments = keep_segments  # /ibs: keep membership, refresh activity and ids
        self.s2s_states = {} if s2s_states is None else s2s_states  # ``s2s<id>`` to set


def _is_guard(name: str) -> bool:
    return name.startswith("ev") and name[2:].isdigit()


def _from_item(item: Mapping[str, Any], now: float) -> Profile:
    uuid = str(item["uuid"])
    if "optout" in item:
        return Profile(uuid=uuid, opted_out=True)
    expires_at = item.get("expires_at")
    if expires_at is not None and float(expires_at) <= now:
        # TTL passed but DynamoDB has not deleted it yet: an empty profile, whose stale
        # attributes the next update clears.
        stale = tuple(k for k in item if k != "uuid")
        return Profile(uuid=uuid, expired_attributes=stale)
    profile = Profile(uuid=uuid, last_seen=float(item.get("seen", now)))
    oldest_guard = guard_bucket(now) - GUARD_WINDOW_HOURS
    stale_guards: list[str] = []
    for name, value in item.items():
        if name.startswith("r") and name[1:].isdigit():
            profile.stamps[int(name[1:])] = sorted(int(v) for v in value)
        elif name.startswith("rn") and name[2:].isdigit():
            profile.counts[int(name[2:])] = int(value)
        elif _is_guard(name) and int(name[2:]) < oldest_guard:
            stale_guards.append(name)
        elif name.startswith("i") and name[1:].isdigit():
            profile.synced_ids[int(name[1:])] = str(value)
        elif name.startswith("s2s") and name[3:].isdigit():
            profile.s2s_states[int(name[3:])] = {
                "s": [int(s) for s in value.get("s", [])], "t": int(value.get("t", 0))}
        elif name.startswith("pc") and name[2:].isdigit():
            profile.provider_cache[int(name[2:])] = CachedAnswer(
                segments=tuple(str(s) for s in value.get("s", [])),
                removed=tuple(str(s) for s in value.get("z", [])),
                expires_at=float(value.get("x", 0)),
                consent_key=str(value.get("k", "")),
                dpuuid=str(value.get("d", "")),
            )
    profile.segments = frozenset(int(s) for s in item.get("segs", ()))
    profile.expired_attributes = tuple(sorted(stale_guards))
    return profile


class _Expression:
    """Builds an update expression with generated placeholder names."""

    def __init__(self) -> None:
        self.sets: list[str] = []
        self.adds: list[str] = []
        self.removes: list[str] = []
        self.conditions: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attribute: str) -> str:
        placeholder = f"#a{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def render(self) -> str:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.adds:
            parts.append("ADD " + ", ".join(self.adds))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        return " ".join(parts)

    def arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "UpdateExpression": self.render(),
            "ExpressionAttributeNames": self.names,
            "ExpressionAttributeValues": self.values,
        }
        if self.conditions:
            arguments["ConditionExpression"] = " AND ".join(f"({c})" for c in self.conditions)
        return arguments


def _cache_item(answer: CachedAnswer) -> dict[str, Any]:
    return {
        "s": list(answer.segments),
        "z": list(answer.removed),
        "x": Decimal(str(round(answer.expires_at, 3))),
        "k": answer.consent_key,
        "d": answer.dpuuid,
    }


def _seen_value(now: float) -> Decimal:
    return Decimal(str(round(now, 3)))


def counted_traits(changes: ProfileChanges) -> dict[int, bool]:
    """Traits this event realized -> whether their counter is ADDed (else SET to 1)."""
    counted = {sid: True for sid in changes.add_stamps}
    for sid, stamps in changes.replace_stamps.items():
        # A full set of stamps is a trim (one more realization); a single stamp restarts
        # the set (onboarded trait, or a rule-based one realized again after expiry).
        counted[sid] = len(stamps) > 1
    return counted


def _guard(expr: _Expression, changes: ProfileChanges, touched: set[str]) -> None:
    """Record the event id and make the update conditional on its absence."""
    attribute = f"ev{guard_bucket(changes.now)}"
    touched.add(attribute)
    name = expr.name(attribute)
    expr.adds.append(f"{name} {expr.value({changes.event_id})}")
    expr.conditions.append(f"NOT contains({name}, {expr.value(changes.event_id)})")


def _not_opted_out(expr: _Expression) -> None:
    expr.conditions.append(f"attribute_not_exists({expr.name('optout')})")


def build_update(
    changes: ProfileChanges, *, not_newer: bool = False, count: bool = True
) -> dict[str, Any]:
    """The UpdateItem arguments (minus Key/TableName) for one event's changes.

    Conditional on the profile not being opted out and, when the event ADDs to a counter,
    on its event id not being recorded yet. ``not_newer`` (replays) adds: no event newer
    than this one has written the profile. ``count`` False leaves counter ADDs out (a
    replay too old for the event-id guard).
    """
    expr = _Expression()
    touched: set[str] = set()
    clearing = set(changes.clear_attributes)
    expr.sets.append(f"{expr.name('seen')} = {expr.value(_seen_value(changes.now))}")
    expires = int(changes.now) + PROFILE_LIFETIME_SECONDS
    expr.sets.append(f"{expr.name('expires_at')} = {expr.value(expires)}")
    touched.update({"seen", "expires_at", "segs"})
    if changes.keep_segments:
        pass
    elif changes.segments:
        expr.sets.append(f"{expr.name('segs')} = {expr.value(set(changes.segments))}")
    else:
        expr.removes.append(expr.name("segs"))
    for sid, stamp in sorted(changes.add_stamps.items()):
        attribute = f"r{sid}"
        touched.add(attribute)
        if attribute in clearing:  # the stale set is being cleared: start it afresh
            expr.sets.append(f"{expr.name(attribute)} = {expr.value({stamp})}")
        else:
            expr.adds.append(f"{expr.name(attribute)} {expr.value({stamp})}")
    for sid, stamps in sorted(changes.replace_stamps.items()):
        attribute = f"r{sid}"
        touched.add(attribute)
        expr.sets.append(f"{expr.name(attribute)} = {expr.value(set(stamps))}")
    adds_counter = False
    for sid, add in sorted(counted_traits(changes).items()):
        attribute = f"rn{sid}"
        touched.add(attribute)
        if add and attribute not in clearing:
            if count:
                adds_counter = True
                expr.adds.append(f"{expr.name(attribute)} {expr.value(1)}")
        else:
            expr.sets.append(f"{expr.name(attribute)} = {expr.value(1)}")
    for sid in sorted(changes.remove_traits):
        for attribute in (f"r{sid}", f"rn{sid}"):
            if attribute not in touched:
                touched.add(attribute)
                expr.removes.append(expr.name(attribute))
    for dpid, dpuuid in sorted(changes.synced_ids.items()):
        attribute = f"i{dpid}"
        touched.add(attribute)
        expr.sets.append(f"{expr.name(attribute)} = {expr.value(dpuuid)}")
    for destination_id, state in sorted(changes.s2s_states.items()):
        attribute = f"s2s{destination_id}"
        touched.add(attribute)
        expr.sets.append(f"{expr.name(attribute)} = {expr.value(state)}")
    for pid, answer in sorted(changes.cache_answers.items()):
        attribute = f"pc{pid}"
        touched.add(attribute)
        expr.sets.append(f"{expr.name(attribute)} = {expr.value(_cache_item(answer))}")
    if adds_counter and changes.event_id:
        _guard(expr, changes, touched)
    for attribute in changes.clear_attributes:
        if attribute not in touched:
            touched.add(attribute)
            expr.removes.append(expr.name(attribute))
    _not_opted_out(expr)
    if not_newer:
        seen = expr.name("seen")
        expr.conditions.append(
            f"attribute_not_exists({seen}) OR {seen} <= {expr.value(_seen_value(changes.now))}"
        )
    return expr.arguments()


def event_stamp(changes: ProfileChanges, sid: int) -> int | None:
    """The stamp this event gave trait ``sid`` (the pipeline stamps one event once)."""
    if sid in changes.add_stamps:
        return changes.add_stamps[sid]
    micros = int(changes.now * 1_000_000)
    for stamp in changes.replace_stamps.get(sid, ()):
        if stamp // 1000 == micros:
            return stamp
    return None


def build_merge_update(changes: ProfileChanges, *, counters: bool = True) -> dict[str, Any] | None:
    """A late replay's commutative part, for a profile a newer event already wrote.

    The newer event's last-writer-wins state (segments, activity, cached answers, onboarded
    sets) stands; this event's realizations are added to the sets (a realization happened at
    its time whatever came later) and, with ``counters``, counted once (event-id guard).
    None if the event realized nothing.
    """
    expr = _Expression()
    touched: set[str] = set()
    for sid in sorted(counted_traits(changes)):
        stamp = event_stamp(changes, sid)
        if stamp is not None:
            touched.add(f"r{sid}")
            expr.adds.append(f"{expr.name(f'r{sid}')} {expr.value({stamp})}")
        if counters:
            touched.add(f"rn{sid}")
            expr.adds.append(f"{expr.name(f'rn{sid}')} {expr.value(1)}")
    if not expr.adds:
        return None
    if counters and changes.event_id:
        _guard(expr, changes, touched)
    _not_opted_out(expr)
    return expr.arguments()


class Metrics(Protocol):
    def count(self, name: str, value: float = 1) -> None: ...


class Spool(Protocol):
    def send(self, uuid: str, changes: ProfileChanges, reason: str) -> None: ...


class _NoMetrics:
    def count(self, name: str, value: float = 1) -> None:
        pass


class WritePolicy(NamedTuple):
    """Backoff for a failing profile write, bounded by a budget from the event's start."""

    max_attempts: int = 4
    base_delay_s: float = 0.010
    max_delay_s: float = 0.080
    budget_s: float = 0.600  # from ``changes.now``: no retry may start after that

    def delay(self, attempt: int, jitter: float) -> float:
        """Equal jitter: half the exponential step fixed, half random."""
        step = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return step / 2 + step / 2 * jitter


def is_retryable(exc: BaseException) -> bool:
    """Throttling, 5xx and transport errors (timeouts, resets) are worth another attempt."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code in _THROTTLE_CODES or status >= 500
    return isinstance(exc, BotoCoreError)


def error_reason(exc: BaseException) -> str:
    """A short, secret-free description of a storage error (for logs and spool messages)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{error.get('Code', 'ClientError')} ({status})"
    return type(exc).__name__


def _condition_failed(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and (
        exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED
    )


_DESERIALIZER = TypeDeserializer()


def _old_item(exc: ClientError) -> dict[str, Any]:
    """The item returned with a failed condition (ReturnValuesOnConditionCheckFailure)."""
    raw = exc.response.get("Item") or {}
    return {k: _DESERIALIZER.deserialize(v) for k, v in raw.items()}


def _recorded(item: Mapping[str, Any], changes: ProfileChanges) -> bool:
    guard = item.get(f"ev{guard_bucket(changes.now)}") or ()
    return bool(changes.event_id) and changes.event_id in guard


class ProfileRepository:
    """Profiles in DynamoDB: ``load`` (one consistent GetItem), ``apply`` (one UpdateItem,
    retried, spooled on failure) and ``replay`` (a spooled write, applied later).

    ``write_table`` (default ``table``) is the table object writes go through: production
    gives it a client without botocore retries, so the retries here are the only ones and
    stay inside the event's budget. ``spool`` None: a write that still fails raises.
    """

    def __init__(
        self,
        table: Any,
        *,
        write_table: Any = None,
        spool: Spool | None = None,
        metrics: Metrics | None = None,
        policy: WritePolicy | None = None,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._table = table
        self._write_table = table if write_table is None else write_table
        self._spool = spool
        self._metrics: Metrics = metrics or _NoMetrics()
        self._policy = policy or WritePolicy()
        self._now = wall_clock
        self._sleep = sleep
        self._jitter = jitter

    def load(self, uuid: str, now: float) -> Profile:
        item = self._table.get_item(Key={"uuid": uuid}, ConsistentRead=True).get("Item")
        return Profile(uuid=uuid) if item is None else _from_item(item, now)

    def apply(self, uuid: str, changes: ProfileChanges) -> None:
        """Write one event's changes; returns normally when they are written or spooled
        (the metrics count ``SpooledEvents``), raises when neither worked (see ``write``)."""
        self.write(uuid, changes)

    def write(self, uuid: str, changes: ProfileChanges) -> WriteOutcome:
        """Write one event's changes: ``written``, ``duplicate`` (a retry found its own
        earlier attempt applied), ``opted_out`` (nothing written) or ``spooled`` (DynamoDB
        kept failing; the changes are queued and applied later). Raises the storage error
        when the spool cannot take them either (the caller reports 201)."""
        deadline = changes.now + self._policy.budget_s
        try:
            return _outcome(self._update(uuid, changes, build_update(changes), deadline))
        except (ClientError, BotoCoreError) as exc:
            if self._spool is None:
                raise
            try:
                self._spool.send(uuid, changes, error_reason(exc))
            except Exception:
                self._metrics.count("SpoolSendFailures")
                raise exc from None
            self._metrics.count("SpooledEvents")
            return "spooled"

    def replay(self, uuid: str, changes: ProfileChanges, budget_s: float = 2.0) -> WriteOutcome:
        """Apply a spooled event's changes (idempotent; storage errors raise).

        ``replayed``: applied as a whole, no newer event had written the profile;
        ``merged``: a newer event had, so only the realizations were added; ``duplicate``:
        already applied; ``opted_out``: dropped. Counters are left out of a replay older than
        the event-id guard window (it can no longer tell whether they were counted).
        """
        deadline = self._now() + budget_s
        guarded = guard_bucket(changes.now) >= guard_bucket(self._now()) - GUARD_WINDOW_HOURS
        if not guarded:
            self._metrics.count("SpoolCountersSkipped")
        full = build_update(changes, not_newer=True, count=guarded)
        outcome = self._update(uuid, changes, full, deadline)
        if outcome != "stale":
            return "replayed" if outcome == "written" else _outcome(outcome)
        merge = build_merge_update(changes, counters=guarded)
        if merge is None:
            return "merged"
        outcome = self._update(uuid, changes, merge, deadline)
        return "merged" if outcome in ("written", "stale") else _outcome(outcome)

    def opt_out(self, uuid: str, now: float) -> Profile:
        """Replace the profile by an opt-out marker; returns what was stored before."""
        old = self._table.put_item(
            Item={"uuid": uuid, "optout": int(now * 1000)}, ReturnValues="ALL_OLD"
        ).get("Attributes")
        return Profile(uuid=uuid) if not old else _from_item(old, now)

    def is_opted_out(self, uuid: str) -> bool:
        """Only the opt-out marker of ``uuid`` (a ``d_uuid`` beside the visitor's cookie)."""
        item = self._table.get_item(Key={"uuid": uuid}, ConsistentRead=True,
                                    ProjectionExpression="optout").get("Item")
        return bool(item) and "optout" in item

    def raw_item(self, uuid: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"uuid": uuid}, ConsistentRead=True).get("Item")
        return None if item is None else dict(item)

    def delete(self, uuid: str) -> dict[str, Any] | None:
        """Delete the profile item (admin privacy API); returns what was stored, if anything.
        A spooled write of an earlier event replayed afterwards would create a new item with
        that event's data (no tombstone is kept)."""
        old = self._table.delete_item(Key={"uuid": uuid}, ReturnValues="ALL_OLD")
        attributes = old.get("Attributes")
        return None if not attributes else dict(attributes)

    # -- one conditional update, retried -------------------------------------------------
    def _update(
        self, uuid: str, changes: ProfileChanges, arguments: dict[str, Any], deadline: float
    ) -> str:
        """``written``, ``duplicate``, ``opted_out`` or ``stale`` (a replay's not-newer
        condition failed); raises the last error once retries or the budget run out."""
        attempt = 1
        while True:
            try:
                self._write_table.update_item(
                    Key={"uuid": uuid},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    **arguments,
                )
                return "written"
            except (ClientError, BotoCoreError) as exc:
                if _condition_failed(exc):
                    assert isinstance(exc, ClientError)
                    return _why_not(_old_item(exc), changes)
                self._metrics.count("DynamoDBErrors")
                delay = self._policy.delay(attempt, self._jitter())
                retry = (
                    is_retryable(exc)
                    and attempt < self._policy.max_attempts
                    and self._now() + delay < deadline
                )
                if not retry:
                    raise
                self._metrics.count("ProfileWriteRetries")
                self._sleep(delay)
                attempt += 1


def _why_not(item: Mapping[str, Any], changes: ProfileChanges) -> str:
    if "optout" in item:
        return "opted_out"
    if _recorded(item, changes):
        return "duplicate"
    return "stale"


def _outcome(name: str) -> WriteOutcome:
    """Map ``_update``'s answer outside the replay path, where ``stale`` cannot arise (no
    not-newer condition): a failed guard there means the event id is already recorded."""
    if name == "written":
        return "written"
    if name == "opted_out":
        return "opted_out"
    return "duplicate"


def trim_stamps(existing: Iterable[int], new: int) -> list[int]:
    """Keep the newest ``MAX_STAMPS_PER_TRAIT`` stamps, the new one included."""
    kept = sorted(existing)[-(MAX_STAMPS_PER_TRAIT - 1):]
    return sorted([*kept, new])
