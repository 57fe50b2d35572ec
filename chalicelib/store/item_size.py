"""DynamoDB's own size rules for items and write requests, computed here.

moto does not size items the way DynamoDB does (numbers especially), so budgets are checked
against these functions, not against moto's behaviour. Rules, from the DynamoDB developer
guide ("DynamoDB item sizes and formats"):

* a String: UTF-8 bytes; a Binary: raw bytes (not base64); Null and Boolean: 1 byte;
* a Number: about 1 byte per two significant digits, plus 1 byte; leading and trailing zeros
  are trimmed. DynamoDB stores base-100 digit pairs aligned on the decimal point, so an odd
  digit on either side of the point takes a whole byte: this rounds that way (never under);
* a List or Map: 3 bytes plus its elements, plus 1 byte per element (a Map's keys count as
  attribute names);
* a Set: the sum of its elements;
* every top-level attribute: its name's UTF-8 bytes plus its value.

One write capacity unit covers 1 KB of the larger of the item before and after a write.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

KB = 1024
# DynamoDB's hard limits on one request.
MAX_ITEM_BYTES = 400 * KB
MAX_EXPRESSION_BYTES = 4 * KB  # each of the update, condition and projection expressions


def number_size(value: int | float | Decimal) -> int:
    """Bytes DynamoDB stores for a number (see the module comment on alignment)."""
    if type(value) is int:  # the common case (segment ids, versions, stamps): no Decimal
        return _int_size(value)
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if number == 0:
        return 1
    _, digits, exponent = number.normalize().as_tuple()
    assert isinstance(exponent, int)
    length = len(digits)
    if exponent % 2:  # pairs are aligned on the decimal point: pad a zero on the right
        length += 1
    return (length + 1) // 2 + 1


def _int_size(value: int) -> int:
    if value == 0:
        return 1
    text = str(abs(value))
    digits = text.rstrip("0")
    length = len(digits) + (len(text) - len(digits)) % 2  # trailing zeros: the exponent
    return (length + 1) // 2 + 1


def value_size(value: Any) -> int:
    """Bytes of one attribute value (without its name), by DynamoDB's rules."""
    if type(value) is int:  # the common case first (ids, versions, stamps; not a bool)
        return _int_size(value)
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if hasattr(value, "value") and isinstance(value.value, (bytes, bytearray)):
        return len(value.value)  # boto3's Binary wrapper, as items are read back
    if isinstance(value, (int, float, Decimal)):
        return number_size(value)
    if isinstance(value, Mapping):
        return 3 + sum(len(str(k).encode("utf-8")) + value_size(v) + 1 for k, v in value.items())
    if isinstance(value, (set, frozenset)):
        # A Number Set of ints (``segs``) is sized on every profile write: straight to ints.
        return sum(_int_size(v) if type(v) is int else value_size(v) for v in value)
    if isinstance(value, (list, tuple)):
        return 3 + sum(value_size(v) + 1 for v in value)
    raise TypeError(f"not a DynamoDB value: {type(value).__name__}")


def attribute_size(name: str, value: Any) -> int:
    return len(name.encode("utf-8")) + value_size(value)


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it (the 400 KB limit and capacity units)."""
    return sum(attribute_size(name, value) for name, value in item.items())


def write_units(old_bytes: int, new_bytes: int) -> int:
    """Write capacity units of a standard write: the larger item, per started KB."""
    size = max(old_bytes, new_bytes, 1)
    return -(-size // KB)


def expression_sizes(arguments: Mapping[str, Any]) -> dict[str, int]:
    """UTF-8 bytes of each expression in a request (each must stay within 4 KB)."""
    return {
        key: len(str(arguments[key]).encode("utf-8"))
        for key in ("UpdateExpression", "ConditionExpression", "ProjectionExpression",
                    "KeyConditionExpression", "FilterExpression")
        if key in arguments
    }
