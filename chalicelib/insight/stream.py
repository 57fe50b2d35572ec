"""DynamoDB Stream records as Lambda hands them over: images in DynamoDB JSON, binary values
base64-encoded. Turned into plain Python items (what ``profile_from_item`` reads)."""

from __future__ import annotations

import base64
from typing import Any, Mapping, NamedTuple

from boto3.dynamodb.types import TypeDeserializer

_DESERIALIZER = TypeDeserializer()


class StreamChange(NamedTuple):
    """One write of a profile item: what it held before and after (None: absent)."""

    event_name: str  # INSERT | MODIFY | REMOVE
    sequence: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


def _binary(value: Any) -> bytes:
    # Lambda's JSON carries base64 text; a boto3 client (the local poller) gives bytes.
    return bytes(value) if isinstance(value, (bytes, bytearray)) else base64.b64decode(value)


def _plain(typed: Mapping[str, Any]) -> Any:
    (tag, value), = typed.items()
    if tag == "B":
        return _DESERIALIZER.deserialize({"B": _binary(value)})
    if tag == "BS":
        return _DESERIALIZER.deserialize({"BS": [_binary(v) for v in value]})
    if tag == "M":
        return {k: _plain(v) for k, v in value.items()}
    if tag == "L":
        return [_plain(v) for v in value]
    return _DESERIALIZER.deserialize(typed)


def image(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not raw:
        return None
    return {name: _plain(typed) for name, typed in raw.items()}


def change_from_record(record: Mapping[str, Any]) -> StreamChange:
    """A Lambda DynamoDB Stream record (its dict form) as a :class:`StreamChange`."""
    dynamodb = record.get("dynamodb") or {}
    return StreamChange(
        event_name=str(record.get("eventName", "")),
        sequence=str(dynamodb.get("SequenceNumber", "")),
        old=image(dynamodb.get("OldImage")),
        new=image(dynamodb.get("NewImage")),
    )
