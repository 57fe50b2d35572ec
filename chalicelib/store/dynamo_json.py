"""Python values to and from DynamoDB's JSON wire form, for the ``http`` wire, in one pass.

What boto3's ``TypeSerializer`` then botocore's JSON serializer make of a value (binaries in
base64), and what botocore's parser then ``TypeDeserializer`` make of an answer (numbers as
``Decimal`` in DynamoDB's context, binaries as ``Binary``), without the intermediate form:
about half the CPU of the two steps on a profile item (issue 17). The types a profile item
holds take a fast path (``str``, ``int`` within 38 digits, ``bytes``, ``dict``, ``list``, a
non-empty set of such ints); anything else goes through boto3's own serializer, so its
checks and errors stay the same (floats refused, ``Decimal`` in DynamoDB's context, ...).
``tests/unit/test_dynamo_json.py`` compares both ways with boto3's on generated values.
"""

from __future__ import annotations

import base64
from typing import Any, Mapping

from boto3.dynamodb.types import DYNAMODB_CONTEXT, Binary, TypeSerializer

_SERIALIZER = TypeSerializer()
_LIMIT = 10**38  # an int of more digits is refused by DynamoDB's context (boto3's path)


def _b64(value: bytes | bytearray) -> str:
    return base64.b64encode(value).decode("ascii")


def _encode_binaries(wire: dict[str, Any]) -> dict[str, Any]:
    """boto3's serialized value with its binaries in base64 (as botocore sends them)."""
    if "B" in wire:
        return {"B": _b64(wire["B"])}
    if "BS" in wire:
        return {"BS": [_b64(v) for v in wire["BS"]]}
    if "M" in wire:
        return {"M": {k: _encode_binaries(v) for k, v in wire["M"].items()}}
    if "L" in wire:
        return {"L": [_encode_binaries(v) for v in wire["L"]]}
    return wire


def to_json_value(value: Any) -> dict[str, Any]:
    """One attribute value in DynamoDB's JSON form."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is int and -_LIMIT < value < _LIMIT:
        return {"N": str(value)}
    if kind is bytes:
        return {"B": _b64(value)}
    if kind is dict:
        return {"M": {k: to_json_value(v) for k, v in value.items()}}
    if kind is list:
        return {"L": [to_json_value(v) for v in value]}
    if (kind is set or kind is frozenset) and value and all(
            type(v) is int and -_LIMIT < v < _LIMIT for v in value):
        return {"NS": [str(v) for v in value]}
    return _encode_binaries(_SERIALIZER.serialize(value))


def to_json_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """An item, a key or expression values in DynamoDB's JSON form."""
    return {name: to_json_value(value) for name, value in values.items()}


def from_json_value(value: Mapping[str, Any]) -> Any:
    """One attribute value from DynamoDB's JSON form, as the boto3 Table returns it (its
    first key names the type, in either case, as boto3 reads it)."""
    if not value:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    kind = next(iter(value))
    inner = value[kind]
    if kind == "S":
        return inner
    if kind == "N":
        return DYNAMODB_CONTEXT.create_decimal(inner)
    if kind == "B":
        return Binary(base64.b64decode(inner))
    if kind == "M":
        return {k: from_json_value(v) for k, v in inner.items()}
    if kind == "L":
        return [from_json_value(v) for v in inner]
    if kind == "NS":
        return set(map(DYNAMODB_CONTEXT.create_decimal, inner))
    if kind == "SS":
        return set(inner)
    if kind == "BS":
        return {Binary(base64.b64decode(v)) for v in inner}
    if kind == "BOOL":
        return inner
    if kind == "NULL":
        return None
    if isinstance(kind, str) and kind.upper() != kind:
        return from_json_value({kind.upper(): inner})
    raise TypeError(f"Dynamodb type {kind} is not supported")


def from_json_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """An item from DynamoDB's JSON form, as the boto3 Table returns it."""
    return {name: from_json_value(value) for name, value in values.items()}
