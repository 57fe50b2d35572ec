"""chalicelib/core/records.py: the base of the slotted value classes (AST nodes, settings)."""

from __future__ import annotations

import pytest

from chalicelib.core.records import SlotRecord


class Pair(SlotRecord):
    __slots__ = ("left", "right")

    def __init__(self, left: int, right: int) -> None:
        self.left = left
        self.right = right


class OtherPair(Pair):
    __slots__ = ()


class Box(SlotRecord):
    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class Bag(SlotRecord, hashable=False):
    __slots__ = ("items",)

    def __init__(self, items: list[int]) -> None:
        self.items = items


def test_equal_by_value_and_exact_type() -> None:
    assert Pair(1, 2) == Pair(1, 2) and Pair(1, 2) != Pair(2, 1)
    assert Pair(1, 2) != OtherPair(1, 2)  # And(x, y) must never equal Or(x, y)
    assert Pair(1, 2) != (1, 2) and Box(1) != (1,)


def test_hash_follows_equality_and_type() -> None:
    assert hash(Pair(1, 2)) == hash(Pair(1, 2))
    assert len({Pair(1, 2), Pair(1, 2), Box(1), Box(1)}) == 2
    assert {Box("a"): 1}[Box("a")] == 1


def test_repr_names_every_slot() -> None:
    assert repr(Pair(1, 2)) == "Pair(left=1, right=2)"
    assert repr(Box("a")) == "Box(value='a')"


def test_a_mutable_record_compares_but_is_not_hashable() -> None:
    assert Bag([1]) == Bag([1]) and Bag([1]) != Bag([2])
    with pytest.raises(TypeError):
        hash(Bag([1]))
