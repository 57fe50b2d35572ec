"""store/catalog_index.py: the unique keys and references each kind of object indexes."""

from __future__ import annotations

from chalicelib.store.catalog import index_change
from chalicelib.store.catalog_index import Ref, entries, parse_user, unique_key


def test_each_kind_indexes_its_unique_keys_and_references() -> None:
    assert entries("datasource", {"integrationCode": "crm"}).keys == {"integrationCode=crm"}
    trait = entries("trait", {"dataSourceId": 9, "integrationCode": "a",
                              "providerSegmentId": "s1"})
    assert trait.keys == {"ds=9|integrationCode=a", "ds=9|providerSegmentId=s1"}
    assert trait.refs == {Ref("datasource", 9)}
    segment = entries("segment", {"dataSourceId": 9, "segmentRule": "(12T OR 7t) AND 3T > 2"})
    assert segment.refs == {Ref("datasource", 9), Ref("trait", 12), Ref("trait", 7),
                            Ref("trait", 3)} and not segment.keys
    assert entries("provider", {"dataSourceId": 9}).keys == {"dataSourceId=9"}
    mapping = entries("mapping", {"destinationId": 52, "sid": 5001})
    assert mapping.keys == {"destination=52|sid=5001"}
    assert mapping.refs == {Ref("destination", 52), Ref("segment", 5001)}


def test_long_values_are_keyed_by_their_hash() -> None:
    key = unique_key("datasource", "integrationCode", "x" * 5000)
    assert key.startswith("integrationCode=sha256:") and len(key) < 100


def test_a_change_adds_and_removes_only_the_difference() -> None:
    change = index_change("segment", 5, {"segmentRule": "1T OR 2T"}, {"segmentRule": "2T OR 3T"})
    assert [i["pk"] for i in change.put] == ["ref#trait#3"]
    assert [k["pk"] for k in change.delete] == ["ref#trait#1"]
    assert all(i["sk"] == "segment#5" for i in change.put + change.delete)


def test_user_sort_keys_parse_back() -> None:
    assert parse_user("segment#5001") == Ref("segment", 5001)
    assert parse_user("nonsense#x") is None
