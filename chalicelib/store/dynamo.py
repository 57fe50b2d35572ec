"""DynamoDB resources, one of each per container, created lazily and reused.

* the shared resource: reads, ID-map and catalog writes (botocore retries twice);
* the profile-write client: no botocore retries, because ProfileRepository retries profile
  writes itself, with an injected clock and sleep, inside the event's budget (botocore's own
  backoff can sleep about a second). A plain client, not a resource: the one PutItem of every
  event skips boto3's per-request walk of the operation model (``WireTable``).

The endpoint comes from botocore's own ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_DYNAMODB``
variables, so the local stack and tests point at moto without code of ours.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

from chalicelib.runtime import aws

_lock = threading.Lock()
_resources: dict[str, Any] = {}
_clients: dict[str, Any] = {}

# Short, explicit timeouts: a DynamoDB call must never hold an event for long.
_CONFIGS = {
    "shared": Config(
        connect_timeout=1,
        read_timeout=2,
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=32,
    ),
    "profile_writes": Config(
        connect_timeout=0.5,
        read_timeout=1,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=32,
    ),
}


# The plain clients serve only WireTable, whose every request is built by our code from
# boto3's serializer: botocore's client-side check of the parameters against the model is
# ~0.04 ms of CPU per request (issue 17) and finds nothing there. A request it would have
# refused is refused by DynamoDB instead (ValidationException, handled by ProfileRepository).
_WIRE_CONFIG = Config(parameter_validation=False)

# boto3's own converters, as the Table resource uses them (numbers as Decimal, bytes as Binary).
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _resource(kind: str) -> Any:
    resource = _resources.get(kind)
    if resource is None:
        with _lock:
            resource = _resources.get(kind)
            if resource is None:
                resource = aws.resource("dynamodb", config=_CONFIGS[kind])
                _resources[kind] = resource
    return resource


def dynamodb_resource() -> Any:
    return _resource("shared")


def table(name: str) -> Any:
    return dynamodb_resource().Table(name)


def _client(kind: str) -> Any:
    client = _clients.get(kind)
    if client is None:
        with _lock:
            client = _clients.get(kind)
            if client is None:
                client = aws.client("dynamodb", config=_CONFIGS[kind].merge(_WIRE_CONFIG))
                _clients[kind] = client
    return client


def profile_table(name: str) -> "WireTable":
    """The profiles table as seen by profile reads: ``get_item`` and ``put_item`` on a plain
    client of the shared configuration, the rest (``meta.client``: BatchGetItem) the Table's."""
    return WireTable(_client("shared"), name, table(name))


def write_table(name: str) -> "WireTable":
    """The profiles table as seen by profile writes (``put_item``; ``meta.client`` is the
    client that sends them)."""
    return WireTable(_client("profile_writes"), name)


def dynamodb_clients() -> list[Any]:
    """Every DynamoDB client the app uses (tests hook botocore events on all of them)."""
    return [_resource("shared").meta.client, _client("shared"), _client("profile_writes")]


def reset_for_tests() -> None:
    """Forget the cached resources (tests switch between moto backends)."""
    with _lock:
        _resources.clear()
        _clients.clear()
    aws.reset_for_tests()


class _Meta:
    __slots__ = ("client",)

    def __init__(self, client: Any) -> None:
        self.client = client


class WireTable:
    """``get_item`` and ``put_item`` of a boto3 Table (Python values in and out, the same
    serializer), on a plain client. A Table resource's client walks the operation's model on
    every request to (de)serialize, and deep-copies the parameters first: ~0.1 ms of CPU per
    request, a few percent of a warm event (issue 17). Only the parameters that hold
    attribute values are converted here (expressions are strings: no boto3 ``Attr``/``Key``
    conditions); the request sent is the one the Table would send. ``meta``: the Table's
    (``resource`` given), else the plain client's."""

    __slots__ = ("meta", "name", "_client")

    def __init__(self, client: Any, name: str, resource: Any = None) -> None:
        self._client = client
        self.meta = _Meta(client) if resource is None else resource.meta
        self.name = name

    def get_item(self, **params: Any) -> dict[str, Any]:
        response: dict[str, Any] = self._client.get_item(**self._request(params, "Key"))
        if "Item" in response:
            response["Item"] = _from_wire(response["Item"])
        return response

    def put_item(self, **params: Any) -> dict[str, Any]:
        response: dict[str, Any] = self._client.put_item(**self._request(params, "Item"))
        if "Attributes" in response:
            response["Attributes"] = _from_wire(response["Attributes"])
        return response

    def _request(self, params: Mapping[str, Any], values: str) -> dict[str, Any]:
        request = dict(params, TableName=self.name)
        request[values] = _to_wire(params[values])
        if "ExpressionAttributeValues" in params:
            request["ExpressionAttributeValues"] = _to_wire(params["ExpressionAttributeValues"])
        return request


def _to_wire(values: Mapping[str, Any]) -> dict[str, Any]:
    serialize = _SERIALIZER.serialize
    return {name: serialize(value) for name, value in values.items()}


def _from_wire(values: Mapping[str, Any]) -> dict[str, Any]:
    deserialize = _DESERIALIZER.deserialize
    return {name: deserialize(value) for name, value in values.items()}
