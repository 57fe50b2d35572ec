"""The profile item: one conditional PutItem per event over the state it read, packed traits,
a bounded replay guard, retries, spooling and permanent refusals."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError, ReadTimeoutError

from chalicelib.store.compaction import KEEP_ALL, MAX_STAMPS_PER_TRAIT
from chalicelib.store.item_size import item_size
from chalicelib.store.packed import Guard, Realizations, encode_guard, encode_traits
from chalicelib.store.profiles import (
    PROFILE_LIFETIME_SECONDS,
    CachedAnswer,
    Profile,
    ProfileChanges,
    ProfileRepository,
    ProfileWriteRejected,
    WritePolicy,
    apply_changes,
    consent_key,
    profile_from_item,
    write_condition,
)

NOW = 1_800_000_000.0
_SERIALIZER = TypeSerializer()


class _FakeTable:
    """Records calls; get_item returns ``item``; put_item raises the queued errors first."""

    def __init__(self, item: dict | None = None, errors: list[BaseException] | None = None) -> None:  # type: ignore[type-arg]
        self.item = item
        self.errors = list(errors or [])
        self.calls: list[tuple[str, dict]] = []  # type: ignore[type-arg]

    def get_item(self, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(("get_item", kwargs))
        return {"Item": self.item} if self.item else {}

    def put_item(self, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(("put_item", kwargs))
        if self.errors:
            raise self.errors.pop(0)
        self.item = kwargs["Item"]
        return {}


class _Retention:
    def __init__(self, kept: dict[int, int] | None = None, ttl: dict[int, float] | None = None):
        self.kept = kept or {}
        self.ttl = ttl or {}

    def stamps_kept(self, sid: int) -> int:
        return self.kept.get(sid, 1)

    def expired(self, sid: int, latest: float, now: float) -> bool:
        return sid in self.ttl and now >= latest + self.ttl[sid]


def _wire(item: dict[str, Any]) -> dict[str, Any]:
    """An item as DynamoDB returns it with a failed condition (typed JSON)."""
    return {k: _SERIALIZER.serialize(v) for k, v in item.items()}


def _client_error(code: str, status: int, item: dict | None = None) -> ClientError:  # type: ignore[type-arg]
    response: dict = {"Error": {"Code": code, "Message": "x"},  # type: ignore[type-arg]
                      "ResponseMetadata": {"HTTPStatusCode": status}}
    if item is not None:
        response["Item"] = _wire(item)
    return ClientError(response, "PutItem")  # type: ignore[arg-type]


def _conflict(item: dict) -> ClientError:  # type: ignore[type-arg]
    return _client_error("ConditionalCheckFailedException", 400, item)


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class _Spool:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, ProfileChanges, str]] = []
        self.fail = fail

    def send(self, uuid: str, changes: ProfileChanges, reason: str) -> None:
        if self.fail:
            raise RuntimeError("sqs down")
        self.sent.append((uuid, changes, reason))


class _Counts:
    def __init__(self) -> None:
        self.counts: dict[str, float] = {}

    def count(self, name: str, value: float = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + value


def _repository(table: _FakeTable, clock: _Clock | None = None, spool: _Spool | None = None,
                policy: WritePolicy | None = None) -> tuple[ProfileRepository, _Counts]:
    clock = clock or _Clock(NOW)
    counts = _Counts()
    repo = ProfileRepository(table, spool=spool, metrics=counts, policy=policy or WritePolicy(),
                             wall_clock=clock.time, sleep=clock.sleep, jitter=lambda: 1.0)
    return repo, counts


def _stored(table: _FakeTable) -> Profile:
    assert table.item is not None
    return profile_from_item(table.item, NOW)


# ---- applying changes --------------------------------------------------------------------


def test_rule_realizations_add_and_count_onboarded_keep_only_the_latest() -> None:
    base = Profile("u", {7: Realizations([100, 200], 5), 8: Realizations([50], 1)},
                   last_seen=NOW - 10)
    state = apply_changes(base, ProfileChanges(now=NOW, event_id="e", add_stamps={7: int(NOW)},
                                               replace_stamps={8: [int(NOW)]},
                                               segments=frozenset({5})), KEEP_ALL)
    assert state.traits[7] == Realizations([100, 200, int(NOW)], 6)
    assert state.traits[8] == Realizations([int(NOW)], 1)
    assert state.segments == {5} and state.last_seen == NOW and "e" in state.guard
    assert base.traits[7].count == 5  # the state read is left as it was (re-applied on conflict)


def test_stamps_are_trimmed_to_what_the_rules_read_and_expired_traits_go() -> None:
    base = Profile("u", {7: Realizations(list(range(1000, 1150)), 150),
                         8: Realizations([10, 20, 30], 3), 9: Realizations([5], 1)},
                   last_seen=NOW - 10)
    state = apply_changes(base, ProfileChanges(now=NOW, add_stamps={7: int(NOW)}),
                          _Retention(kept={7: 100, 8: 2}, ttl={9: 60}))
    assert len(state.traits[7].stamps) == MAX_STAMPS_PER_TRAIT and state.traits[7].count == 151
    assert state.traits[7].stamps[-1] == int(NOW) and state.traits[7].stamps[0] == 1051
    assert state.traits[8] == Realizations([20, 30], 3)  # count kept, stamps trimmed
    assert 9 not in state.traits  # expired


def test_a_late_replay_adds_realizations_but_newer_state_stands() -> None:
    base = Profile("u", {8: Realizations([int(NOW) + 5], 1)}, segments=frozenset({1}),
                   last_seen=NOW + 5, synced_ids={900: "new"})
    changes = ProfileChanges(now=NOW, add_stamps={7: int(NOW)}, replace_stamps={8: [int(NOW)]},
                             segments=frozenset({2}), synced_ids={900: "old", 901: "x"},
                             remove_traits={8})
    state = apply_changes(base, changes, KEEP_ALL, late=True)
    assert state.traits[7].count == 1 and state.traits[8].latest == int(NOW) + 5
    assert state.segments == {1} and state.last_seen == NOW + 5
    assert state.synced_ids == {900: "new", 901: "x"}


def test_an_unvouched_replay_skips_stamps_already_stored_and_counts_nothing() -> None:
    base = Profile("u", {7: Realizations([int(NOW)], 4)}, last_seen=NOW)
    state = apply_changes(base, ProfileChanges(now=NOW, add_stamps={7: int(NOW), 8: int(NOW)}),
                          KEEP_ALL, counted=False)
    assert state.traits[7] == Realizations([int(NOW)], 4) and state.traits[8].count == 1


def test_stamps_from_the_previous_layout_are_read_as_seconds() -> None:
    legacy_ns = int(NOW) * 1_000_000_000 + 123
    state = apply_changes(Profile("u"), ProfileChanges(now=NOW, add_stamps={7: legacy_ns}))
    assert state.traits[7].stamps == [int(NOW)]


# ---- the item and its condition ------------------------------------------------------------


def test_a_new_visitor_is_one_put_conditional_on_no_item() -> None:
    table = _FakeTable()
    repo, _ = _repository(table)
    assert repo.write("u", ProfileChanges(now=NOW, event_id="e", add_stamps={1: int(NOW)}),
                      Profile("u")) == "written"
    (call,) = table.calls
    assert call[0] == "put_item" and call[1]["ConditionExpression"] == "attribute_not_exists(#u)"
    item = call[1]["Item"]
    assert item["v"] == 1 and item["expires_at"] == int(NOW) + PROFILE_LIFETIME_SECONDS
    assert _stored(table).traits[1].count == 1


def test_a_repeat_event_is_one_read_and_one_put_on_the_version_read() -> None:
    table = _FakeTable()
    repo, _ = _repository(table)
    repo.write("u", ProfileChanges(now=NOW, event_id="a", add_stamps={1: int(NOW)}), Profile("u"))
    table.calls.clear()
    stored = repo.load("u", NOW + 1)
    repo.apply("u", ProfileChanges(now=NOW + 1, event_id="b", add_stamps={1: int(NOW) + 1}),
               stored)
    assert [c[0] for c in table.calls] == ["get_item", "put_item"]
    assert table.calls[0][1]["ConsistentRead"] is True
    put = table.calls[1][1]
    assert put["ConditionExpression"] == "#v = :v AND #s = :s AND attribute_not_exists(#o)"
    assert put["ExpressionAttributeValues"] == {":v": 1, ":s": Decimal(str(NOW))}
    assert put["Item"]["v"] == 2
    assert _stored(table).traits[1].count == 2


def test_a_legacy_item_is_conditioned_on_its_seen_value() -> None:
    legacy = profile_from_item({"uuid": "u", "seen": Decimal("12.5"),
                                "expires_at": Decimal(str(NOW + 10))}, NOW)
    condition = write_condition(legacy)
    assert condition["ConditionExpression"].startswith("attribute_not_exists(#v)")
    assert condition["ExpressionAttributeValues"] == {":s": Decimal("12.5")}


def test_a_lost_race_is_applied_again_on_the_returned_item_without_a_read() -> None:
    winner = {"uuid": "u", "v": 4, "seen": Decimal(str(NOW)), "expires_at": int(NOW) + 99,
              "t": encode_traits({1: Realizations([int(NOW)], 9)})}
    table = _FakeTable(errors=[_conflict(winner)])
    repo, counts = _repository(table)
    stored = Profile("u", {1: Realizations([int(NOW) - 5], 8)}, last_seen=NOW - 5, version=3,
                     stored="current")
    assert repo.write("u", ProfileChanges(now=NOW, event_id="e", add_stamps={1: int(NOW)}),
                      stored) == "written"
    assert [c[0] for c in table.calls] == ["put_item", "put_item"]
    assert table.calls[1][1]["ExpressionAttributeValues"] == {":v": 4, ":s": Decimal(str(NOW))}
    assert _stored(table).traits[1].count == 10  # the winner's 9, plus this event: exact
    assert counts.counts["ProfileWriteConflicts"] == 1


def test_a_retry_that_finds_its_own_write_is_a_duplicate_not_a_double() -> None:
    applied = {"uuid": "u", "v": 1, "seen": Decimal(str(NOW)), "expires_at": int(NOW) + 9,
               "g": encode_guard(Guard([(int(NOW), "t")]))}
    table = _FakeTable(errors=[_client_error("InternalServerError", 500),  # applied, answer lost
                               _conflict(applied)])
    repo, _ = _repository(table, spool=_Spool())
    assert repo.write("u", ProfileChanges(now=NOW, event_id="t", add_stamps={1: 2}),
                      Profile("u")) == "duplicate"


def test_opted_out_profile_is_not_written() -> None:
    table = _FakeTable(errors=[_conflict({"uuid": "u", "optout": 1})])
    spool = _Spool()
    repo, _ = _repository(table, spool=spool)
    assert repo.write("u", ProfileChanges(now=NOW, add_stamps={1: 2}), Profile("u")) == "opted_out"
    assert spool.sent == [] and len(table.calls) == 1


def test_without_the_state_read_the_write_reads_it_first() -> None:
    table = _FakeTable({"uuid": "u", "v": 2, "seen": Decimal(str(NOW)), "expires_at": int(NOW)})
    repo, _ = _repository(table)
    repo.write("u", ProfileChanges(now=NOW + 1, synced_ids={900: "x"}, keep_segments=True))
    assert [c[0] for c in table.calls] == ["get_item", "put_item"]
    assert table.item is not None and table.item["i900"] == "x"


# ---- reading both layouts (the migration) -----------------------------------------------------


def test_a_previous_layout_item_is_read_with_stamps_counts_ids_cache_and_guard() -> None:
    hour = int(NOW // 3600)
    ns = int(NOW) * 1_000_000_000
    item = {"uuid": "u", "seen": Decimal(str(NOW)), "expires_at": Decimal(str(NOW + 10)),
            "r7": {Decimal(ns + 7), Decimal(ns - 10**9 + 3)}, "rn7": Decimal(250),
            "r8": {Decimal(ns)}, "i900": "dp", "segs": {Decimal(5)},
            "pc1": {"s": ["a"], "z": [], "x": Decimal(str(NOW + 5)), "k": "", "d": ""},
            f"ev{hour}": {"a"}, f"ev{hour - 30}": {"old"},
            "s2s4": {"s": [Decimal(5)], "t": Decimal(9)}}
    profile = profile_from_item(item, NOW)
    assert profile.traits[7] == Realizations([int(NOW) - 1, int(NOW)], 250)
    assert profile.traits[8].count == 1 and profile.synced_ids == {900: "dp"}
    assert profile.segments == {5} and profile.provider_cache[1].segments == ("a",)
    assert profile.s2s_states == {4: {"s": [5], "t": 9}}
    assert "a" in profile.guard and "old" not in profile.guard
    assert profile.stored == "legacy" and profile.version == 0


def test_a_previous_layout_item_is_rewritten_in_the_new_one() -> None:
    ns = int(NOW) * 1_000_000_000
    legacy = {"uuid": "u", "seen": Decimal(str(NOW - 1)), "expires_at": Decimal(str(NOW + 10)),
              "r7": {Decimal(ns - 10**9)}, "rn7": Decimal(3), f"ev{int(NOW // 3600)}": {"a"}}
    table = _FakeTable(dict(legacy))
    repo, _ = _repository(table)
    repo.write("u", ProfileChanges(now=NOW, event_id="b", add_stamps={7: int(NOW)}))
    put = table.calls[-1][1]
    assert put["ExpressionAttributeValues"] == {":s": Decimal(str(NOW - 1))}
    assert not {k for k in put["Item"] if k.startswith(("r", "ev"))}
    profile = _stored(table)
    assert profile.traits[7].count == 4 and {"a", "b"} <= {e for _, e in profile.guard.entries}


def test_an_expired_item_is_read_empty_and_replaced_on_its_version() -> None:
    item = {"uuid": "u", "v": 7, "seen": Decimal(1), "expires_at": Decimal(str(NOW - 1)),
            "t": encode_traits({7: Realizations([1], 1)}), "i900": "x"}
    profile = profile_from_item(item, NOW)
    assert profile.traits == {} and not profile.exists and profile.version == 7


def test_load_of_a_missing_profile_is_absent() -> None:
    profile = ProfileRepository(_FakeTable()).load("u", NOW)
    assert profile.stored == "absent" and not profile.exists


def test_cached_answer_usable_only_with_same_consent_and_id() -> None:
    answer = CachedAnswer(("a",), (), NOW + 10, consent_key("consent"), "dp")
    assert answer.usable(NOW, consent_key("consent"), "dp")
    assert not answer.usable(NOW, consent_key("other"), "dp")
    assert not answer.usable(NOW, consent_key("consent"), "new-dp")
    assert not answer.usable(NOW + 11, consent_key("consent"), "dp")
    assert len(consent_key("C" * 4000)) == 16 and consent_key("") == ""


# ---- retries, spool and refusals -------------------------------------------------------------


def test_throttling_and_5xx_are_retried_with_backoff_then_written() -> None:
    table = _FakeTable(errors=[_client_error("ProvisionedThroughputExceededException", 400),
                               _client_error("InternalServerError", 500),
                               ReadTimeoutError(endpoint_url="http://127.0.0.1")])
    clock = _Clock(NOW)
    repo, counts = _repository(table, clock, _Spool())
    assert repo.write("u", ProfileChanges(now=NOW, event_id="t", add_stamps={1: 2}),
                      Profile("u")) == "written"
    assert len(table.calls) == 4
    assert clock.sleeps == [0.01, 0.02, 0.04]  # exponential (jitter pinned at its maximum)
    assert counts.counts == {"DynamoDBErrors": 3, "ProfileWriteRetries": 3}


def test_retries_stop_at_the_event_budget_and_the_changes_are_spooled() -> None:
    table = _FakeTable(errors=[_client_error("ThrottlingException", 400) for _ in range(10)])
    clock = _Clock(NOW + 0.55)  # the event started at NOW; 50 ms of its 600 ms budget left
    spool = _Spool()
    repo, counts = _repository(table, clock, spool)
    changes = ProfileChanges(now=NOW, event_id="t", add_stamps={1: 2})
    repo.apply("u", changes, Profile("u"))  # returns normally: the event succeeds, spooled
    assert len(table.calls) == 3 and clock.sleeps == [0.01, 0.02]
    assert spool.sent == [("u", changes, "ThrottlingException (400)")]
    assert counts.counts["SpooledEvents"] == 1


def test_a_validation_error_is_never_spooled_compacted_once_then_reported() -> None:
    table = _FakeTable(errors=[_client_error("ValidationException", 400)] * 2)
    spool = _Spool()
    repo, counts = _repository(table, spool=spool)
    try:
        repo.write("u", ProfileChanges(now=NOW, add_stamps={1: 2}), Profile("u"))
    except ProfileWriteRejected:
        pass
    else:
        raise AssertionError("a refused write must reach the caller (201)")
    assert spool.sent == [] and len(table.calls) == 2  # written again once, compacted
    assert counts.counts["ProfileWriteValidationErrors"] == 2
    assert counts.counts["ProfileWritesRejected"] == 1


def test_a_validation_error_then_a_smaller_item_is_written() -> None:
    t = int(NOW)
    big = {sid: Realizations([t - 2_000_000 - sid * 7, t - 900_000 - sid * 3, t - sid], 3)
           for sid in range(1, 30_000, 3)}
    table = _FakeTable(errors=[_client_error("ValidationException", 400)])
    repo, _ = _repository(table)
    stored = Profile("u", big, last_seen=NOW - 1, version=1, stored="current")
    assert repo.write("u", ProfileChanges(now=NOW), stored) == "written"
    first, second = (item_size(c[1]["Item"]) for c in table.calls)
    assert second <= 64 * 1024 < first <= 128 * 1024  # half the budget the second time
    assert len(_stored(table).traits) < len(big)


def test_a_profile_that_cannot_fit_is_rejected_not_spooled() -> None:
    table = _FakeTable()
    spool = _Spool()
    counts = _Counts()
    repo = ProfileRepository(table, spool=spool, metrics=counts, budget_bytes=200)
    ids = {dpid: "x" * 200 for dpid in range(5)}
    try:
        repo.write("u", ProfileChanges(now=NOW, synced_ids=ids), Profile("u"))
    except ProfileWriteRejected:
        pass
    else:
        raise AssertionError("an item over budget without traits must be rejected")
    assert spool.sent == [] and table.calls == []
    assert counts.counts["ProfileWritesRejected"] == 1


def test_when_the_spool_fails_too_the_storage_error_reaches_the_caller() -> None:
    table = _FakeTable(errors=[_client_error("InternalServerError", 500) for _ in range(4)])
    repo, counts = _repository(table, spool=_Spool(fail=True))
    try:
        repo.apply("u", ProfileChanges(now=NOW), Profile("u"))
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "InternalServerError"
    else:
        raise AssertionError("apply() must raise when neither DynamoDB nor the spool took it")
    assert counts.counts["SpoolSendFailures"] == 1 and "SpooledEvents" not in counts.counts


def test_endless_conflicts_end_in_the_spool() -> None:
    winner = {"uuid": "u", "v": 4, "seen": Decimal(str(NOW)), "expires_at": int(NOW) + 99}
    table = _FakeTable(errors=[_conflict(winner) for _ in range(10)])
    spool = _Spool()
    repo, _ = _repository(table, spool=spool, policy=WritePolicy(max_conflicts=3))
    assert repo.write("u", ProfileChanges(now=NOW, event_id="e"), Profile("u")) == "spooled"
    assert len(table.calls) == 4 and len(spool.sent) == 1


# ---- replays ---------------------------------------------------------------------------------


def test_replay_of_a_stale_event_merges_only_its_realizations() -> None:
    newer = {"uuid": "u", "v": 3, "seen": Decimal(str(NOW + 5)), "expires_at": int(NOW) + 99,
             "segs": {9}}
    table = _FakeTable(dict(newer))
    repo, _ = _repository(table, _Clock(NOW + 10))
    changes = ProfileChanges(now=NOW, event_id="t", add_stamps={1: int(NOW)},
                             segments=frozenset({2}))
    assert repo.replay("u", changes) == "merged"
    profile = _stored(table)
    assert profile.traits[1].count == 1 and profile.segments == {9}
    assert profile.last_seen == NOW + 5
    assert repo.replay("u", changes) == "duplicate"


def test_replay_the_guard_cannot_vouch_for_skips_counters() -> None:
    guard = Guard([(int(NOW) + 100, "later")], since=int(NOW) + 50)  # older entries dropped
    item = {"uuid": "u", "v": 3, "seen": Decimal(str(NOW + 100)), "expires_at": int(NOW) + 999,
            "t": encode_traits({1: Realizations([int(NOW)], 5)}), "g": encode_guard(guard)}
    table = _FakeTable(dict(item))
    repo, counts = _repository(table, _Clock(NOW + 200))
    changes = ProfileChanges(now=NOW, event_id="t", add_stamps={1: int(NOW), 2: int(NOW)})
    repo.replay("u", changes)
    profile = _stored(table)
    assert profile.traits[1].count == 5  # its stamp is stored: taken as applied, not counted
    assert profile.traits[2].count == 1
    assert counts.counts["SpoolCountersSkipped"] == 1


def test_delete_leaves_a_marker_that_drops_older_writes() -> None:
    class _Marking(_FakeTable):
        def put_item(self, **kwargs):  # type: ignore[no-untyped-def]
            if "deleted" in kwargs["Item"]:
                self.calls.append(("put_item", kwargs))
                old, self.item = self.item, kwargs["Item"]
                return {"Attributes": old} if old else {}
            return super().put_item(**kwargs)

    table = _Marking({"uuid": "u", "v": 1, "seen": Decimal(str(NOW)), "expires_at": 1})
    repo, counts = _repository(table, _Clock(NOW + 10))
    assert repo.delete("u") == {"uuid": "u", "v": 1, "seen": Decimal(str(NOW)), "expires_at": 1}
    assert table.item is not None and table.item["deleted"] == int((NOW + 10) * 1000)
    assert repo.raw_item("u") is None  # nothing to export
    older = ProfileChanges(now=NOW + 5, event_id="old", add_stamps={1: int(NOW)})
    assert repo.replay("u", older) == "deleted" and "seen" not in table.item
    assert counts.counts["ProfileWritesAfterDeletion"] == 1
    newer = ProfileChanges(now=NOW + 20, event_id="new", add_stamps={1: int(NOW) + 20})
    assert repo.write("u", newer) == "written"
    assert table.item["deleted"] == int((NOW + 10) * 1000)  # kept: later replays still see it
    assert _stored(table).traits[1].count == 1


def test_items_read_back_through_boto3_decode() -> None:
    from boto3.dynamodb.types import Binary

    item = {"uuid": "u", "v": Decimal(1), "seen": Decimal(str(NOW)),
            "expires_at": Decimal(int(NOW) + 9),
            "t": Binary(encode_traits({3: Realizations([int(NOW)], 2)})),
            "g": Binary(base64.b64decode(base64.b64encode(encode_guard(Guard([(1, "x")])))))}
    profile = profile_from_item(item, NOW)
    assert profile.traits[3].count == 2 and "x" in profile.guard


# ---- regressions from the review of this layout ----------------------------------------------


def test_a_live_event_that_lost_to_a_slightly_later_clock_keeps_its_ids_caches_and_s2s() -> None:
    winner = {"uuid": "u", "v": 2, "seen": Decimal(str(NOW + 0.005)), "expires_at": int(NOW) + 9,
              "i5": "old-dpuuid"}
    table = _FakeTable(errors=[_conflict(winner)])
    repo, _ = _repository(table)
    answer = CachedAnswer(("m",), (), NOW + 60, "", "")
    changes = ProfileChanges(now=NOW, event_id="e", synced_ids={5: "new-dpuuid"},
                             cache_answers={7: answer}, s2s_states={42: {"s": [1], "t": 1}})
    assert repo.write("u", changes, Profile("u")) == "written"
    assert table.item is not None
    assert table.item["i5"] == "new-dpuuid" and "pc7" in table.item and "s2s42" in table.item
    assert float(table.item["seen"]) == NOW + 0.005  # the later of the two


def test_a_replay_that_loses_a_race_is_applied_again_not_given_up() -> None:
    stored = {"uuid": "u", "v": 2, "seen": Decimal(str(NOW)), "expires_at": int(NOW) + 99_999}
    winner = {**stored, "v": 3}
    table = _FakeTable(dict(stored), errors=[_conflict(winner)])
    repo, _ = _repository(table, _Clock(NOW + 3 * 3600))  # replayed three hours later
    changes = ProfileChanges(now=NOW - 5, event_id="old", add_stamps={1: int(NOW) - 5})
    assert repo.replay("u", changes) == "merged"
    assert _stored(table).traits[1].count == 1


def test_exhausted_conflicts_without_a_spool_are_a_write_failure_the_event_reports() -> None:
    from chalicelib.store.profiles import ProfileWriteFailed

    winner = {"uuid": "u", "v": 4, "seen": Decimal(str(NOW)), "expires_at": int(NOW) + 99}
    table = _FakeTable(errors=[_conflict(winner) for _ in range(5)])
    repo, _ = _repository(table, policy=WritePolicy(max_conflicts=2))
    try:
        repo.write("u", ProfileChanges(now=NOW, event_id="e"), Profile("u"))
    except ProfileWriteFailed:
        pass
    else:
        raise AssertionError("must raise a ProfileWriteFailed (the pipeline's 201)")


def test_a_legacy_item_without_guard_buckets_vouches_for_nothing_older_than_a_day() -> None:
    item = {"uuid": "u", "seen": Decimal(str(NOW)), "expires_at": Decimal(str(NOW + 10)),
            "r1": {Decimal((int(NOW) - 2 * 86400) * 1_000_000_000)}, "rn1": Decimal(1)}
    profile = profile_from_item(item, NOW)
    assert not profile.guard.proves(NOW - 2 * 86400)


def test_attributes_an_old_container_added_to_a_migrated_item_are_merged() -> None:
    ns = int(NOW) * 1_000_000_000
    item = {"uuid": "u", "v": 3, "seen": Decimal(str(NOW)), "expires_at": int(NOW) + 99,
            "t": encode_traits({1: Realizations([int(NOW) - 50], 5)}),
            "r1": {Decimal(ns)}, "rn1": Decimal(1)}
    assert profile_from_item(item, NOW).traits[1] == Realizations([int(NOW) - 50, int(NOW)], 6)


def test_fit_budget_drops_about_what_is_needed_when_old_traits_are_heavy() -> None:
    from chalicelib.store.profiles import fit_budget

    t = int(NOW)
    heavy_old = {sid: Realizations(list(range(t - 10**6 - 100, t - 10**6)), 100)
                 for sid in range(1, 400)}
    light_new = {sid: Realizations([t - sid], 1) for sid in range(1000, 3000)}
    state = Profile("u", {**heavy_old, **light_new}, last_seen=NOW)
    size = fit_budget(state.copy(), 1, 10**7).size
    budget = size - 5_000
    fitted = fit_budget(state, 1, budget)
    assert fitted.size <= budget
    assert fitted.traits_dropped <= 60  # 5 KB of ~100-byte traits: about 50, not thousands
    assert set(light_new) <= set(state.traits)  # the recent ones stay


def test_a_cached_answer_of_the_previous_layout_is_dropped_on_read() -> None:
    item = {"uuid": "u", "seen": Decimal(str(NOW)), "expires_at": Decimal(str(NOW + 10)),
            "pc1": {"s": ["a"], "z": [], "x": Decimal(str(NOW + 5)), "k": "CO" + "A" * 500,
                    "d": ""}}
    assert profile_from_item(item, NOW).provider_cache == {}


def test_remembered_links_give_way_before_a_write_is_refused() -> None:
    from chalicelib.store.profiles import fit_budget

    state = Profile("u", last_seen=NOW)
    state.linked = {dpid: [f"{dpid}-{i}-" + "x" * 240 for i in range(10)] for dpid in range(20)}
    fitted = fit_budget(state, 1, 16 * 1024)  # 20 x 10 x 250 bytes would be about 50 KB
    assert fitted.size <= 16 * 1024
    assert all(ids == [f"{dpid}-9-" + "x" * 240] for dpid, ids in state.linked.items())
