"""DynamoDB resources, one of each per container, created lazily and reused.

* the shared resource: reads, ID-map and catalog writes (botocore retries twice);
* the profile-write client: no botocore retries, because ProfileRepository retries profile
  writes itself, with an injected clock and sleep, inside the event's budget (botocore's own
  backoff can sleep about a second). A plain client, not a resource: the one PutItem of every
  event skips boto3's per-request walk of the operation model (``WireTable``).

The endpoint comes from botocore's own ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_DYNAMODB``
variables, so the local stack and tests point at moto without code of ours.

The profile path's ``get_item``/``put_item`` (``WireTable``) go through one of two wires,
``RTDCS_DYNAMODB_WIRE`` (``config.dynamodb_wire``):

* ``http``: ``dynamo_http.DynamoHttpClient``, the same requests without botocore's
  per-request machinery (~1 ms of CPU per event less; issue 17), on botocore's endpoint,
  region and credentials;
* ``botocore``: the plain botocore clients;
* ``auto`` (the default): ``http`` inside Lambda (``AWS_LAMBDA_FUNCTION_NAME``) or when an
  endpoint is configured (``AWS_ENDPOINT_URL*``: the local stack's moto server), else
  ``botocore`` -- so an in-process ``moto.mock_aws`` (route tests, in-process benches), which
  intercepts botocore only, keeps working, and nothing of a test ever leaves for AWS. A proxy
  in the environment (``HTTPS_PROXY``...) also means ``botocore``, which honours it.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from urllib3 import Timeout

from chalicelib.config import aws_ca_bundle, dynamodb_wire
from chalicelib.runtime import aws
from chalicelib.store.dynamo_http import DynamoHttpClient
from chalicelib.store.dynamo_json import from_json_values, to_json_values

_lock = threading.Lock()
_http_lock = threading.Lock()  # building the http wire's clients (taken before _lock)
_resources: dict[str, Any] = {}
_clients: dict[str, Any] = {}
_http_clients: dict[str, Any] = {}
_http_pool: Any = None

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


def profile_table(name: str, pool: Any = None) -> "WireTable":
    """The profiles table as seen by profile reads: ``get_item`` and ``put_item`` on the
    wire of the shared configuration, the rest (``meta.client``: BatchGetItem) the Table's.
    ``pool``: the urllib3-like pool of the ``http`` wire (tests and benches answer from
    memory); default, the container's."""
    return WireTable(_wire("shared", pool), name, table(name))


def write_table(name: str, pool: Any = None) -> "WireTable":
    """The profiles table as seen by profile writes (``put_item``; ``meta.client`` is the
    client that sends them)."""
    return WireTable(_wire("profile_writes", pool), name)


def _wire(kind: str, pool: Any) -> Any:
    if dynamodb_wire() == "botocore" and pool is None:
        return _client(kind)
    if pool is not None:
        return _http_client(kind, pool) or _client(kind)
    client = _http_clients.get(kind)
    if client is None:
        # Its own lock, taken before _lock (which _http_client takes): a reset_for_tests
        # cannot slip between building a client and caching it.
        with _http_lock:
            client = _http_clients.get(kind)
            if client is None:
                client = _http_client(kind, _shared_http_pool())
                if client is None:  # no credentials: botocore's client says so (not cached)
                    return _client(kind)
                _http_clients[kind] = client
    return client


def _http_client(kind: str, pool: Any) -> DynamoHttpClient | None:
    """A ``DynamoHttpClient`` with ``kind``'s timeouts and attempts, on the endpoint and
    region botocore resolved for the shared resource (created anyway: BatchGetItem, the ID
    map), with the session's credentials; None when there are none (botocore's client then
    raises NoCredentialsError, as before)."""
    credentials = aws.credentials()
    if credentials is None:
        return None
    resolved = _resource("shared").meta.client.meta
    config = _CONFIGS[kind]
    retries = config.retries or {}
    attempts = int(retries.get("total_max_attempts") or retries.get("max_attempts", 0) + 1)
    return DynamoHttpClient(
        resolved.endpoint_url, resolved.region_name, credentials, pool,
        timeout=Timeout(connect=config.connect_timeout, read=config.read_timeout),
        max_attempts=attempts)


def _shared_http_pool() -> Any:
    """The container's keep-alive connections to DynamoDB (both clients share them), TLS
    verified against the CA bundle botocore uses (``AWS_CA_BUNDLE`` first)."""
    global _http_pool
    with _lock:
        if _http_pool is None:
            from botocore.httpsession import get_cert_path
            from urllib3 import PoolManager

            _http_pool = PoolManager(
                num_pools=4, maxsize=_CONFIGS["shared"].max_pool_connections, block=False,
                retries=False,
                ca_certs=aws_ca_bundle() or get_cert_path(True))
        return _http_pool


def dynamodb_clients() -> list[Any]:
    """Every botocore DynamoDB client the app uses (tests hook botocore events on all of
    them; the ``http`` wire sends the profile path's requests without them)."""
    return [_resource("shared").meta.client, _client("shared"), _client("profile_writes")]


def reset_for_tests() -> None:
    """Forget the cached resources, and close the http wire's connections (tests switch
    between moto backends)."""
    global _http_pool
    with _http_lock, _lock:
        _resources.clear()
        _clients.clear()
        _http_clients.clear()
        if _http_pool is not None:
            _http_pool.clear()
        _http_pool = None
    aws.reset_for_tests()


class _Meta:
    __slots__ = ("client",)

    def __init__(self, client: Any) -> None:
        self.client = client


class WireTable:
    """``get_item`` and ``put_item`` of a boto3 Table (Python values in and out, converted as
    the Table converts them), on a plain client. A Table resource's client walks the
    operation's model on every request to (de)serialize, and deep-copies the parameters
    first: ~0.1 ms of CPU per request, a few percent of a warm event (issue 17). Only the
    parameters that hold attribute values are converted here (expressions are strings: no
    boto3 ``Attr``/``Key`` conditions); the request sent is the one the Table would send.

    On a botocore client the values go through boto3's serializer; on the ``http`` wire's
    client straight to and from DynamoDB's JSON (``dynamo_json``: half the CPU). ``meta``:
    the Table's (``resource`` given), else the plain client's."""

    __slots__ = ("meta", "name", "_client", "_http", "_encode", "_decode")

    def __init__(self, client: Any, name: str, resource: Any = None) -> None:
        self._client = client
        self.meta = _Meta(client) if resource is None else resource.meta
        self.name = name
        self._http = isinstance(client, DynamoHttpClient)
        self._encode = to_json_values if self._http else _to_wire
        self._decode = from_json_values if self._http else _from_wire

    def get_item(self, **params: Any) -> dict[str, Any]:
        return self._send("GetItem", "get_item", params, sent="Key", returned="Item")

    def put_item(self, **params: Any) -> dict[str, Any]:
        return self._send("PutItem", "put_item", params, sent="Item", returned="Attributes")

    def _send(self, operation: str, method: str, params: Mapping[str, Any], *, sent: str,
              returned: str) -> dict[str, Any]:
        """``params`` with ``sent`` (and any expression values) converted for the wire; the
        answer with ``returned`` converted back to Python values."""
        request = dict(params, TableName=self.name)
        request[sent] = self._encode(params[sent])
        if "ExpressionAttributeValues" in params:
            request["ExpressionAttributeValues"] = self._encode(
                params["ExpressionAttributeValues"])
        response: dict[str, Any] = (self._client.call(operation, request) if self._http
                                    else getattr(self._client, method)(**request))
        if returned in response:
            response[returned] = self._decode(response[returned])
        return response


def _to_wire(values: Mapping[str, Any]) -> dict[str, Any]:
    serialize = _SERIALIZER.serialize
    return {name: serialize(value) for name, value in values.items()}


def _from_wire(values: Mapping[str, Any]) -> dict[str, Any]:
    deserialize = _DESERIALIZER.deserialize
    return {name: deserialize(value) for name, value in values.items()}
