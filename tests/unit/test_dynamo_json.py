"""Issue 17: ``chalicelib.store.dynamo_json`` converts Python values to and from DynamoDB's
JSON exactly as boto3's ``TypeSerializer``/``TypeDeserializer`` plus botocore's base64 of
binaries do, on generated values (Hypothesis), errors included."""

from __future__ import annotations

import base64
import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.store.dynamo_json import from_json_value, from_json_values, to_json_value

SERIALIZER = TypeSerializer()
DESERIALIZER = TypeDeserializer()


def _botocore_json(wire: Any) -> Any:
    """boto3's serialized value as botocore puts it on the wire (binaries in base64)."""
    if isinstance(wire, (bytes, bytearray)):
        return base64.b64encode(wire).decode()
    if isinstance(wire, Binary):
        return base64.b64encode(wire.value).decode()
    if isinstance(wire, list):
        return [_botocore_json(v) for v in wire]
    if isinstance(wire, dict):
        return {k: _botocore_json(v) for k, v in wire.items()}
    return wire


def _botocore_parsed(wire: Any) -> Any:
    """An answer's value as botocore's parser gives it to boto3 (binaries as bytes)."""
    if isinstance(wire, dict):
        return {k: (base64.b64decode(v) if k == "B" else
                    [base64.b64decode(x) for x in v] if k == "BS" else _botocore_parsed(v))
                for k, v in wire.items()}
    if isinstance(wire, list):
        return [_botocore_parsed(v) for v in wire]
    return wire


def _outcome(convert: Any, value: Any) -> Any:
    try:
        return ("ok", convert(value))
    except Exception as exc:  # noqa: BLE001 - the same refusal is part of the contract
        return ("error", type(exc))


def _boto3_way(value: Any) -> Any:
    return _botocore_json(SERIALIZER.serialize(value))


ints = st.one_of(st.integers(min_value=-(10**40), max_value=10**40),
                 st.sampled_from([0, -1, 10**37, 10**38 - 1, 10**38, -(10**38) + 1, -(10**38)]))
decimals = st.decimals(allow_nan=True, allow_infinity=True, places=None)
scalars = st.one_of(
    st.text(), ints, decimals, st.binary(), st.builds(Binary, st.binary()), st.booleans(),
    st.none(), st.floats(allow_nan=False), st.just(bytearray(b"\x00\x01")),
)
sets = st.one_of(
    st.sets(ints), st.frozensets(ints), st.sets(st.text()), st.sets(st.binary()),
    st.sets(decimals.filter(lambda d: d.is_finite())),
)
values = st.recursive(
    st.one_of(scalars, sets),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_values_are_serialized_as_boto3_and_botocore_serialize_them(value: Any) -> None:
    assert _outcome(to_json_value, value) == _outcome(_boto3_way, value)


@settings(max_examples=400, deadline=None)
@given(values)
def test_answers_are_read_as_botocore_and_boto3_read_them(value: Any) -> None:
    try:
        wire = json.loads(json.dumps(_boto3_way(value)))  # what DynamoDB would send back
    except Exception:  # noqa: BLE001 - a value boto3 refuses is never stored
        return
    if "NaN" in json.dumps(wire):
        return  # boto3 lets "-NaN" through (DynamoDB refuses it), and NaN != NaN
    expected = DESERIALIZER.deserialize(_botocore_parsed(copy.deepcopy(wire)))
    assert from_json_value(wire) == expected
    assert from_json_values({"a": wire}) == {"a": expected}


def test_the_fast_paths_give_boto3s_types() -> None:
    item = {"s": "é", "n": 7, "big": 10**37, "b": b"\x00\xff", "m": {"l": [1, "x", b"\x01"]},
            "ns": {3, 1, 2}, "d": Decimal("1.50"), "t": True, "z": None, "bin": Binary(b"\x02")}
    wire = {k: to_json_value(v) for k, v in item.items()}
    assert wire["n"] == {"N": "7"} and wire["b"] == {"B": "AP8="}
    assert wire["m"] == {"M": {"l": {"L": [{"N": "1"}, {"S": "x"}, {"B": "AQ=="}]}}}
    assert sorted(wire["ns"]["NS"]) == ["1", "2", "3"] and wire["d"] == {"N": "1.50"}
    back = {k: from_json_value(v) for k, v in json.loads(json.dumps(wire)).items()}
    assert back["b"] == Binary(b"\x00\xff") and isinstance(back["b"], Binary)
    assert back["n"] == Decimal(7) and isinstance(back["n"], Decimal)
    assert back["ns"] == {Decimal(1), Decimal(2), Decimal(3)} and back["t"] is True
    assert back["z"] is None and back["d"] == Decimal("1.50")


@pytest.mark.parametrize("refused", [1.5, float("nan"), 10**38, {1.5}, [Decimal("NaN")]])
def test_what_boto3_refuses_is_refused(refused: Any) -> None:
    with pytest.raises(TypeError if not isinstance(refused, int) else Exception):
        to_json_value(refused)


@pytest.mark.parametrize("bad", [{}, {"X": 1}, {"": "a"}])
def test_a_malformed_answer_value_is_refused_as_boto3_refuses_it(bad: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        DESERIALIZER.deserialize(bad)
    with pytest.raises(TypeError):
        from_json_value(bad)


@pytest.mark.parametrize("odd", [{"S": "a", "N": "1"}, {"s": "a"}, {"ns": ["1", "2"]},
                                 {"Null": True}])
def test_odd_answer_values_are_read_as_boto3_reads_them(odd: dict[str, Any]) -> None:
    assert from_json_value(odd) == DESERIALIZER.deserialize(odd)
