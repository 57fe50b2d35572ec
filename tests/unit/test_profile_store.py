"""The profile item: one update expression per event, atomic per attribute."""

from __future__ import annotations

from decimal import Decimal

from chalicelib.store.profiles import (
    MAX_STAMPS_PER_TRAIT,
    PROFILE_LIFETIME_SECONDS,
    CachedAnswer,
    ProfileChanges,
    ProfileRepository,
    build_update,
    new_stamp,
    stamp_seconds,
    trim_stamps,
)

NOW = 1_800_000_000.0


class _FakeTable:
    """Records calls; returns a stored item (test double with the boto3 Table surface used)."""

    def __init__(self, item: dict | None = None) -> None:  # type: ignore[type-arg]
        self.item = item
        self.calls: list[tuple[str, dict]] = []  # type: ignore[type-arg]

    def get_item(self, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(("get_item", kwargs))
        return {"Item": self.item} if self.item else {}

    def update_item(self, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(("update_item", kwargs))
        return {}


def test_update_adds_rule_stamps_and_replaces_onboarded() -> None:
    changes = ProfileChanges(now=NOW, add_stamps={7: 11}, replace_stamps={8: [12]},
                             remove_traits={9}, segments=frozenset({5}))
    update = build_update(changes)
    expression = update["UpdateExpression"]
    names = update["ExpressionAttributeNames"]
    values = update["ExpressionAttributeValues"]
    assert expression.startswith("SET ") and " ADD " in expression and " REMOVE " in expression
    by_attribute = {v: k for k, v in names.items()}
    assert f"{by_attribute['r7']} :" in expression.split(" ADD ")[1]
    assert {11} in values.values() and {12} in values.values() and {5} in values.values()
    assert int(NOW) + PROFILE_LIFETIME_SECONDS in values.values()
    assert "r9" in names.values()


def test_empty_segment_set_is_removed_not_set() -> None:
    update = build_update(ProfileChanges(now=NOW))
    assert "segs" in update["ExpressionAttributeNames"].values()
    assert "REMOVE" in update["UpdateExpression"]
    assert set() not in update["ExpressionAttributeValues"].values()


def test_stamps_are_unique_and_convert_back_to_seconds() -> None:
    stamps = {new_stamp(NOW) for _ in range(50)}
    assert len(stamps) > 40  # random tie-breaker below the microsecond
    assert abs(stamp_seconds(next(iter(stamps))) - NOW) < 0.001


def test_trim_keeps_the_newest() -> None:
    kept = trim_stamps(range(150), 1000)
    assert len(kept) == MAX_STAMPS_PER_TRAIT and kept[0] == 51 and kept[-1] == 1000


def test_load_parses_item_and_ignores_expired_profiles() -> None:
    item = {"uuid": "u", "seen": Decimal("1"), "expires_at": Decimal(str(NOW + 10)),
            "r7": {Decimal(3), Decimal(1)}, "i900": "dp", "segs": {Decimal(5)},
            "pc1": {"s": ["a"], "z": [], "x": Decimal(str(NOW + 5)), "k": "", "d": ""}}
    profile = ProfileRepository(_FakeTable(item)).load("u", NOW)
    assert profile.stamps == {7: [1, 3]} and profile.synced_ids == {900: "dp"}
    assert profile.segments == {5} and profile.provider_cache[1].segments == ("a",)
    expired = ProfileRepository(_FakeTable({**item, "expires_at": Decimal(str(NOW - 1))}))
    stale = expired.load("u", NOW)
    assert stale.stamps == {} and not stale.exists and "r7" in stale.expired_attributes


def test_cached_answer_usable_only_with_same_consent_and_id() -> None:
    answer = CachedAnswer(("a",), (), NOW + 10, "consent", "dp")
    assert answer.usable(NOW, "consent", "dp")
    assert not answer.usable(NOW, "other", "dp")
    assert not answer.usable(NOW, "consent", "new-dp")
    assert not answer.usable(NOW + 11, "consent", "dp")


def test_one_consistent_read_one_update() -> None:
    table = _FakeTable()
    repository = ProfileRepository(table)
    repository.load("u", NOW)
    repository.apply("u", ProfileChanges(now=NOW, add_stamps={1: 2}))
    assert [c[0] for c in table.calls] == ["get_item", "update_item"]
    assert table.calls[0][1]["ConsistentRead"] is True


# ---- counters, event-id guard, opt-out condition ---------------------------------------

from botocore.exceptions import ClientError, ReadTimeoutError  # noqa: E402

from chalicelib.store.profiles import (  # noqa: E402
    GUARD_WINDOW_HOURS,
    WritePolicy,
    build_merge_update,
    event_stamp,
    guard_bucket,
)


def _names(update: dict) -> dict:  # type: ignore[type-arg]
    return {v: k for k, v in update["ExpressionAttributeNames"].items()}


def test_rule_realization_adds_counter_guarded_by_event_id() -> None:
    changes = ProfileChanges(now=NOW, event_id="tid1", add_stamps={7: 11})
    update = build_update(changes)
    by_attr = _names(update)
    adds = update["UpdateExpression"].split(" ADD ")[1]
    assert f"{by_attr['rn7']} :" in adds
    guard = f"ev{guard_bucket(NOW)}"
    assert f"{by_attr[guard]} :" in adds
    condition = update["ConditionExpression"]
    assert f"NOT contains({by_attr[guard]}," in condition
    assert f"attribute_not_exists({by_attr['optout']})" in condition
    assert {"tid1"} in update["ExpressionAttributeValues"].values()


def test_set_restart_sets_counter_without_guard_and_removal_drops_it() -> None:
    onboarded = build_update(ProfileChanges(now=NOW, event_id="t", replace_stamps={8: [12]},
                                            remove_traits={9}))
    by_attr = _names(onboarded)
    assert f"{by_attr['rn8']} = :" in onboarded["UpdateExpression"]
    assert "rn9" in by_attr and "r9" in by_attr
    assert not any(a.startswith("ev") for a in by_attr)  # nothing to guard: SET is idempotent
    assert "contains" not in onboarded["ConditionExpression"]
    trimmed = build_update(ProfileChanges(now=NOW, event_id="t",
                                          replace_stamps={8: list(range(100))}))
    assert f"{_names(trimmed)['rn8']} :" in trimmed["UpdateExpression"].split(" ADD ")[1]


def test_counter_of_a_cleared_item_restarts() -> None:
    update = build_update(ProfileChanges(now=NOW, event_id="t", add_stamps={7: 11},
                                         clear_attributes=("r7", "rn7", "segs", "i900")))
    by_attr = _names(update)
    sets = update["UpdateExpression"].split(" ADD ")[0]
    assert f"{by_attr['rn7']} = " in sets and f"{by_attr['r7']} = " in sets
    assert "i900" in by_attr  # the other stale attributes are still removed


def test_replay_too_old_for_the_guard_leaves_counter_adds_out() -> None:
    update = build_update(ProfileChanges(now=NOW, event_id="t", add_stamps={7: 11}),
                          not_newer=True, count=False)
    assert "rn7" not in _names(update) and "contains" not in update["ConditionExpression"]
    assert "<=" in update["ConditionExpression"]


def test_load_reads_counts_and_lists_stale_guard_buckets() -> None:
    hour = guard_bucket(NOW)
    item = {"uuid": "u", "seen": Decimal(str(NOW)), "expires_at": Decimal(str(NOW + 10)),
            "rn7": Decimal(250), f"ev{hour}": {"a"}, f"ev{hour - GUARD_WINDOW_HOURS}": {"b"},
            f"ev{hour - GUARD_WINDOW_HOURS - 1}": {"c"}}
    profile = ProfileRepository(_FakeTable(item)).load("u", NOW)
    assert profile.counts == {7: 250}
    assert profile.expired_attributes == (f"ev{hour - GUARD_WINDOW_HOURS - 1}",)
    assert profile.exists


def test_merge_update_adds_only_this_events_stamps_and_counts() -> None:
    stamp = new_stamp(NOW)
    changes = ProfileChanges(now=NOW, event_id="t", add_stamps={7: stamp},
                             replace_stamps={8: [stamp], 9: [*range(99), stamp]},
                             segments=frozenset({5}))
    assert event_stamp(changes, 9) == stamp
    merge = build_merge_update(changes)
    assert merge is not None
    by_attr = _names(merge)
    assert {"r7", "r8", "r9", "rn7", "rn8", "rn9"} <= set(by_attr)
    assert "segs" not in by_attr and "seen" not in by_attr
    assert merge["UpdateExpression"].startswith("ADD ")
    assert build_merge_update(ProfileChanges(now=NOW, event_id="t")) is None


# ---- retries and spool -------------------------------------------------------------------


def _client_error(code: str, status: int, item: dict | None = None) -> ClientError:  # type: ignore[type-arg]
    response: dict = {"Error": {"Code": code, "Message": "x"},  # type: ignore[type-arg]
                      "ResponseMetadata": {"HTTPStatusCode": status}}
    if item is not None:
        response["Item"] = item
    return ClientError(response, "UpdateItem")  # type: ignore[arg-type]


class _FailingTable(_FakeTable):
    """Raises the queued errors, one per update_item call, then succeeds."""

    def __init__(self, errors: list[BaseException]) -> None:
        super().__init__()
        self.errors = list(errors)

    def update_item(self, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(("update_item", kwargs))
        if self.errors:
            raise self.errors.pop(0)
        return {}


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


def _repository(table: _FakeTable, clock: _Clock, spool: _Spool | None = None,
                policy: WritePolicy | None = None) -> tuple[ProfileRepository, _Counts]:
    counts = _Counts()
    repo = ProfileRepository(table, spool=spool, metrics=counts, policy=policy or WritePolicy(),
                             wall_clock=clock.time, sleep=clock.sleep, jitter=lambda: 1.0)
    return repo, counts


def test_throttling_and_5xx_are_retried_with_backoff_then_written() -> None:
    table = _FailingTable([_client_error("ProvisionedThroughputExceededException", 400),
                           _client_error("InternalServerError", 500),
                           ReadTimeoutError(endpoint_url="http://127.0.0.1")])
    clock = _Clock(NOW)
    repo, counts = _repository(table, clock, _Spool())
    assert repo.write("u", ProfileChanges(now=NOW, event_id="t", add_stamps={1: 2})) == "written"
    assert len(table.calls) == 4
    assert clock.sleeps == [0.01, 0.02, 0.04]  # exponential (jitter pinned at its maximum)
    assert counts.counts == {"DynamoDBErrors": 3, "ProfileWriteRetries": 3}


def test_retries_stop_at_the_event_budget_and_the_changes_are_spooled() -> None:
    errors = [_client_error("ThrottlingException", 400) for _ in range(10)]
    table = _FailingTable(errors)
    clock = _Clock(NOW + 0.55)  # the event started at NOW; 50 ms of its 600 ms budget left
    spool = _Spool()
    repo, counts = _repository(table, clock, spool)
    changes = ProfileChanges(now=NOW, event_id="t", add_stamps={1: 2})
    repo.apply("u", changes)  # returns normally: the event succeeds, spooled
    assert len(table.calls) == 3 and clock.sleeps == [0.01, 0.02]
    assert spool.sent == [("u", changes, "ThrottlingException (400)")]
    assert counts.counts["SpooledEvents"] == 1


def test_non_retryable_error_is_spooled_at_once() -> None:
    table = _FailingTable([_client_error("ValidationException", 400)])
    spool = _Spool()
    repo, _ = _repository(table, _Clock(NOW), spool)
    assert repo.write("u", ProfileChanges(now=NOW)) == "spooled"
    assert len(table.calls) == 1 and spool.sent[0][2] == "ValidationException (400)"


def test_when_the_spool_fails_too_the_storage_error_reaches_the_caller() -> None:
    table = _FailingTable([_client_error("InternalServerError", 500) for _ in range(4)])
    repo, counts = _repository(table, _Clock(NOW), _Spool(fail=True))
    try:
        repo.apply("u", ProfileChanges(now=NOW))
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "InternalServerError"
    else:
        raise AssertionError("apply() must raise when neither DynamoDB nor the spool took it")
    assert counts.counts["SpoolSendFailures"] == 1 and "SpooledEvents" not in counts.counts


def test_a_retry_that_finds_its_own_write_is_a_duplicate_not_a_double() -> None:
    guard = {f"ev{guard_bucket(NOW)}": {"SS": ["t"]}}
    table = _FailingTable([_client_error("InternalServerError", 500),  # applied, answer lost
                           _client_error("ConditionalCheckFailedException", 400, guard)])
    repo, _ = _repository(table, _Clock(NOW), _Spool())
    assert repo.write("u", ProfileChanges(now=NOW, event_id="t", add_stamps={1: 2})) == "duplicate"


def test_opted_out_profile_is_not_written() -> None:
    table = _FailingTable([_client_error("ConditionalCheckFailedException", 400,
                                         {"uuid": {"S": "u"}, "optout": {"N": "1"}})])
    spool = _Spool()
    repo, _ = _repository(table, _Clock(NOW), spool)
    assert repo.write("u", ProfileChanges(now=NOW, add_stamps={1: 2})) == "opted_out"
    assert spool.sent == []


def test_replay_of_a_stale_event_merges_only_its_realizations() -> None:
    newer = {"uuid": {"S": "u"}, "seen": {"N": str(NOW + 5)}}
    table = _FailingTable([_client_error("ConditionalCheckFailedException", 400, newer)])
    repo, _ = _repository(table, _Clock(NOW + 10))
    changes = ProfileChanges(now=NOW, event_id="t", add_stamps={1: new_stamp(NOW)})
    assert repo.replay("u", changes) == "merged"
    first, second = table.calls[0][1], table.calls[1][1]
    assert "<=" in first["ConditionExpression"]
    assert second["UpdateExpression"].startswith("ADD ")
    assert "seen" not in second["ExpressionAttributeNames"].values()


def test_replay_past_the_guard_window_skips_counters() -> None:
    table = _FailingTable([])
    clock = _Clock(NOW + (GUARD_WINDOW_HOURS + 2) * 3600)
    repo, counts = _repository(table, clock)
    assert repo.replay("u", ProfileChanges(now=NOW, event_id="t", add_stamps={1: 2})) == "replayed"
    assert "rn1" not in table.calls[0][1]["ExpressionAttributeNames"].values()
    assert counts.counts["SpoolCountersSkipped"] == 1


def test_delete_returns_what_was_stored() -> None:
    class _Deleting(_FakeTable):
        def delete_item(self, **kwargs):  # type: ignore[no-untyped-def]
            self.calls.append(("delete_item", kwargs))
            return {"Attributes": {"uuid": "u", "seen": 1}} if self.item else {}

    table = _Deleting({"uuid": "u"})
    assert ProfileRepository(table).delete("u") == {"uuid": "u", "seen": 1}
    assert table.calls == [("delete_item", {"Key": {"uuid": "u"}, "ReturnValues": "ALL_OLD"})]
    assert ProfileRepository(_Deleting()).delete("u") is None
