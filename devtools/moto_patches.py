"""Make moto's TransactWriteItems cost what the transaction touches, not the whole table.

moto backs up every table a transaction names with ``copy.deepcopy`` before applying it,
once per action: a five-action transaction on a catalog of 100,000 traits copies the table five
times, so every admin change in the local stack, the tests and ``bench/admin_scale.py`` took
time in proportion to the catalog, which DynamoDB does not. This replacement keeps
DynamoDB's semantics (all conditions are evaluated against the state before the transaction,
then every action is applied or none is) and backs up only the items it changes.

Used by the local stack's moto server (devtools/moto_server.py), the route tests' in-process
moto (tests/routes/conftest.py) and the admin benchmark. ``install()`` is idempotent.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend

_MAX_ACTIONS = 100
_ACTIONS = ("ConditionCheck", "Put", "Delete", "Update")


def _key(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _condition_error(op: dict[str, Any], current: Any) -> tuple[str, str, Any] | None:
    expression = op.get("ConditionExpression")
    if expression is None:
        return None
    condition = get_filter_expression(expression, op.get("ExpressionAttributeNames"),
                                      op.get("ExpressionAttributeValues"))
    if condition.expr(current):
        return None
    old = None
    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current is not None:
        old = current.to_json()["Attributes"]
    return ("ConditionalCheckFailed", "The conditional request failed", old)


def _apply(backend: Any, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    if op_type == "Put":
        backend.put_item(op["TableName"], op["Item"])
    elif op_type == "Delete":
        backend.delete_item(op["TableName"], key)
    elif op_type == "Update":
        backend.update_item(op["TableName"], key, update_expression=op["UpdateExpression"],
                            expression_attribute_names=names,
                            expression_attribute_values=values)


def _restore(backend: Any, table_name: str, key: dict[str, Any], old: Any) -> None:
    if old is None:
        if backend.get_item(table_name, key) is not None:
            backend.delete_item(table_name, key)
    else:
        backend.put_item(table_name, old.to_json()["Attributes"])


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > _MAX_ACTIONS:
        raise TooManyTransactionsException()
    plans: list[tuple[str, dict[str, Any], dict[str, Any], Any]] = []
    errors: list[Any] = []
    seen: set[tuple[str, str]] = set()
    for entry in transact_items:
        if len(entry) != 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in _ACTIONS:
            raise ValueError("Unsupported transaction operation")
        key = _key(self, op_type, op)
        marker = (str(op["TableName"]), str(sorted(key.items())))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = self.get_item(op["TableName"], key)
        errors.append(_condition_error(op, current) or (None, None, None))
        plans.append((op_type, op, key, copy.deepcopy(current)))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    applied: list[tuple[str, dict[str, Any], Any]] = []
    try:
        for op_type, op, key, old in plans:
            if op_type == "ConditionCheck":
                continue
            applied.append((op["TableName"], key, old))
            _apply(self, op_type, op, key)
    except MockValidationException:
        for table_name, key, old in reversed(applied):
            _restore(self, table_name, key, old)
        raise
    except Exception as exc:  # noqa: BLE001 - reported as a cancelled transaction, like moto
        for table_name, key, old in reversed(applied):
            _restore(self, table_name, key, old)
        raise TransactionCanceledException([(type(exc).__name__, str(exc), None)]) from exc


def install() -> None:
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
