"""Spool messages (codec) and the batch logic of the spool handler, without AWS."""

from __future__ import annotations

import json

import pytest

from chalicelib.spool.codec import FIELDS, BadMessage, decode, encode
from chalicelib.spool.replay import SpoolRecord, replay_batch
from chalicelib.store.profiles import CachedAnswer, ProfileChanges

NOW = 1_800_000_000.5


def _changes() -> ProfileChanges:
    return ProfileChanges(
        now=NOW, event_id="Qm9aXz1kR0U=", add_stamps={1001: 1_800_000_000_500_000_123},
        replace_stamps={2001: [5, 7]}, remove_traits={3001},
        cache_answers={1: CachedAnswer(("a",), ("b",), NOW + 60, "consent", "dp-1")},
        segments=frozenset({5001, 5002}), clear_attributes=("ev1",), synced_ids={900: "x"},
        keep_segments=True,
    )


def test_codec_round_trip_keeps_every_field() -> None:
    changes = _changes()
    decoded = decode(encode("u" * 38, changes, "ThrottlingException (400)", NOW))
    assert decoded.changes == changes
    assert decoded.uuid == "u" * 38 and decoded.reason == "ThrottlingException (400)"
    assert set(ProfileChanges.__slots__) == set(FIELDS), (
        "ProfileChanges grew a field: carry it in chalicelib/spool/codec.py")


@pytest.mark.parametrize("body", ["{not json", "[]", json.dumps({"v": 2}),
                                  json.dumps({"v": 1, "uuid": "u"})])
def test_bad_messages_are_reported_as_such(body: str) -> None:
    with pytest.raises(BadMessage):
        decode(body)


class _Profiles:
    def __init__(self, fail_for: str = "") -> None:
        self.applied: list[str] = []
        self.fail_for = fail_for

    def replay(self, uuid: str, changes: ProfileChanges) -> str:
        if uuid == self.fail_for:
            raise RuntimeError("boom")
        self.applied.append(uuid)
        return "replayed"


class _Counts:
    def __init__(self) -> None:
        self.counts: dict[str, float] = {}

    def count(self, name: str, value: float = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + value


def _record(uuid: str, receive_count: int = 1) -> SpoolRecord:
    return SpoolRecord(f"m-{uuid}", encode(uuid, _changes(), "r", NOW), receive_count)


def test_batch_reports_failures_and_keeps_going() -> None:
    profiles, counts = _Profiles(fail_for="b"), _Counts()
    report = replay_batch([_record("a"), _record("b", 5), _record("c")], profiles, counts)
    assert profiles.applied == ["a", "c"]
    assert report.outcomes == {"m-a": "replayed", "m-c": "replayed"}
    assert report.failures == {"m-b": "RuntimeError"}
    assert counts.counts == {"SpoolReplayed": 2, "SpoolReplayFailures": 1,
                             "SpoolDeadLettered": 1}

