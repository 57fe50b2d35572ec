"""``GetItem`` and ``PutItem`` of DynamoDB's JSON protocol over urllib3, signed with SigV4.

Every event reads and writes one profile. Through a botocore client those two requests cost
about 1 ms of CPU (bench/event_cpu.py, issue 17): a dozen hook emits, the endpoint
ruleset, the operation model walked to serialize and to parse, SigV4 with four HMACs to
derive its key. This client sends the same request (the same JSON body, the same
signature) with none of that. ``WireTable`` (``dynamo.py``) calls it:

* ``call(operation, params)``: ``params`` already in DynamoDB's JSON form (``dynamo_json``
  converts the item, binaries in base64); the answer's JSON as sent (binaries in base64,
  read back by ``dynamo_json``) with ``ResponseMetadata`` as botocore fills it;
* errors: ``botocore.exceptions.ClientError`` with the ``Error`` code and message botocore's
  JSON parser reads (the ``__type`` after ``#``), and the modeled fields (a failed
  condition's ``Item``, its binaries as bytes, as botocore parses them: what
  ``ProfileRepository`` deserializes); transport failures as botocore's own exceptions
  (``ConnectTimeoutError``, ``ReadTimeoutError``, ``EndpointConnectionError``,
  ``ConnectionClosedError``), so ``ProfileRepository`` retries and spools as before;
* retries: up to ``max_attempts`` on throttling, 500/502/503/504, transport errors (TLS
  included) and
  a response whose ``x-amz-crc32`` does not match, after a jittered pause of 0-25 ms, then
  0-50 ms (botocore's standard mode waits up to 1 s, then 2 s: beyond an event's budget),
  drawing on botocore's retry quota (500 units per client; 5 a retry, 10 after a timeout);
* a broken answer (a 2xx that is not a JSON object, an unknown ``Content-Encoding``) and any
  other failure of the send are ``HTTPClientError`` (retried), never a bare exception;
* the endpoint, region and credentials are botocore's (``client.meta.endpoint_url``, the
  session's credentials, refreshed as botocore refreshes them), so ``AWS_ENDPOINT_URL*``
  and Lambda's role work unchanged; TLS is verified against botocore's CA bundle.

Only what the profile path sends is supported; anything else is botocore's job.
"""

from __future__ import annotations

import base64
import json
import random
import socket
import threading
import time
from binascii import crc32
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import urlsplit

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
    SSLError,
)
from urllib3 import Timeout
from urllib3.exceptions import ConnectTimeoutError as Urllib3ConnectTimeout
from urllib3.exceptions import NewConnectionError, ProtocolError
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout
from urllib3.exceptions import SSLError as Urllib3SSLError

from chalicelib.store.sigv4 import Credentials, SigV4Signer, amz_date

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
USER_AGENT = "rtdcs-dynamo-http/1"
# botocore's throttling codes for DynamoDB (retries/standard.py, and the legacy _retry.json).
THROTTLE_CODES = frozenset({
    "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "Throttling", "ThrottledException", "RequestThrottledException", "SlowDown",
    "TransactionInProgressException", "RequestThrottled", "BandwidthLimitExceeded",
    "LimitExceededException", "TooManyRequestsException", "PriorRequestNotComplete",
    "EC2ThrottledException",
})
# botocore's standard mode also retries these codes (retries/standard.py), and 5xx answers.
TRANSIENT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException",
                             "PriorRequestNotComplete"})
_TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
# botocore's retry quota (retries/standard.py, quota.py).
RETRY_COST = 5
TIMEOUT_RETRY_COST = 10
NO_RETRY_INCREMENT = 1
_TIMEOUTS = (ConnectTimeoutError, ReadTimeoutError)


class Response(Protocol):
    status: int
    headers: Mapping[str, str]
    data: bytes


class Pool(Protocol):
    """urllib3's ``PoolManager`` (or a stand-in answering from memory: bench, tests)."""

    def urlopen(self, method: str, url: str, **kwargs: Any) -> Response: ...


class CredentialSource(Protocol):
    """botocore's credentials: ``get_frozen_credentials()`` refreshes when they expire."""

    def get_frozen_credentials(self) -> Credentials: ...


def _decode_binaries(values: dict[str, Any]) -> dict[str, Any]:
    """An item from the wire with its ``B``/``BS`` values as bytes, as botocore's parser
    returns them (nested ``M``/``L`` included). Changes ``values`` in place."""
    for value in values.values():
        _decode_value(value)
    return values


def _decode_value(value: dict[str, Any]) -> None:
    if "B" in value:
        value["B"] = base64.b64decode(value["B"])
    elif "BS" in value:
        value["BS"] = [base64.b64decode(v) for v in value["BS"]]
    elif "M" in value:
        for inner in value["M"].values():
            _decode_value(inner)
    elif "L" in value:
        for inner in value["L"]:
            _decode_value(inner)


def _is_generic_error(status: int, body: bytes) -> bool:
    """An error page that is not DynamoDB's JSON (a proxy's, the edge's): botocore reads
    only its status."""
    return status >= 500 and (not body.strip() or body.strip().startswith(b"<html>"))


def error_response(status: int, headers: Mapping[str, str], body: bytes, retries: int,
                   last: bool) -> dict[str, Any]:
    """What botocore's JSON parser makes of an error answer (``ClientError.response``)."""
    parsed: dict[str, Any] = {}
    generic = _is_generic_error(status, body)
    if not generic:
        try:
            loaded = json.loads(body)
            parsed = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            parsed = {"message": body.decode("utf-8", "replace")}
        code = str(parsed.get("__type", status))
        code = code.split(":", 1)[0] if ":" in code else code
        code = code.rsplit("#", 1)[1] if "#" in code else code
        message = parsed.get("message", parsed.get("Message", ""))
    else:  # botocore's generic error: an HTML page or nothing (a proxy, a 503 from the edge)
        from http.client import responses

        code, message = str(status), responses.get(status, "")
    answer: dict[str, Any] = {"Error": {"Message": message, "Code": code},
                              "ResponseMetadata": _metadata(status, headers, retries, last,
                                                            generic)}
    # The modeled fields of the exception (ConditionalCheckFailedException's Item).
    if isinstance(parsed.get("Item"), dict):
        answer["Item"] = _decode_binaries(parsed["Item"])
    return answer


def _metadata(status: int, headers: Mapping[str, str], retries: int,
              last: bool = False, generic: bool = False) -> dict[str, Any]:
    """``ResponseMetadata`` as botocore's parser and standard mode fill it: the request id
    when the answer has one and is DynamoDB's (not a generic HTML or empty error), and
    ``MaxAttemptsReached`` when it came on the last attempt allowed, whatever it was."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    metadata: dict[str, Any] = {}
    if "x-amzn-requestid" in lowered and not generic:
        metadata["RequestId"] = lowered["x-amzn-requestid"]
    metadata.update(HTTPStatusCode=status, HTTPHeaders=lowered, RetryAttempts=retries)
    if last:
        metadata["MaxAttemptsReached"] = True
    return metadata


class DynamoHttpClient:
    """GetItem and PutItem on one endpoint (see the module's docstring)."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        credentials: CredentialSource,
        pool: Pool,
        *,
        timeout: Timeout,
        max_attempts: int = 1,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        retry_pause_s: float = 0.025,
        retry_quota: "RetryQuota | None" = None,
    ) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an HTTP(S) endpoint: {endpoint_url!r}")
        default_port = 443 if parts.scheme == "https" else 80
        self.endpoint_url = endpoint_url
        # The Host botocore signs: lowercased, no user info, the port unless the default.
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self._host = host if parts.port in (None, default_port) else f"{host}:{parts.port}"
        self._path = parts.path or "/"
        self._url = f"{parts.scheme}://{self._host}{self._path}"
        self._signer = SigV4Signer("dynamodb", region)
        self._credentials = credentials
        self._pool = pool
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._pause = retry_pause_s
        self._quota = RetryQuota() if retry_quota is None else retry_quota

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``operation`` (``GetItem``, ``PutItem``) with ``params`` in DynamoDB's JSON form;
        the answer's JSON as sent (binaries in base64), ``ResponseMetadata`` added."""
        body = json.dumps(params, separators=(",", ":")).encode()
        attempt = 0
        acquired = 0  # retry quota taken by the latest retry (given back on success)
        while True:
            attempt += 1
            last = attempt >= self._max_attempts
            try:
                status, headers, data = self._send(operation, body)
                if status < 301:  # botocore's cut-off
                    answer = _json_object(data)
                    answer["ResponseMetadata"] = _metadata(status, headers, attempt - 1, last)
                    if status < 300:  # botocore refills on 2xx only
                        self._quota.release(acquired or NO_RETRY_INCREMENT)
                    return answer
                error = error_response(status, headers, data, attempt - 1, last)
                failure: Exception = ClientError(error, operation)  # type: ignore[arg-type]
                code = error["Error"]["Code"]
                retryable = (code in THROTTLE_CODES or code in TRANSIENT_CODES
                             or status in _TRANSIENT_STATUSES)
            except HTTPClientError as exc:  # also ConnectionClosedError, ReadTimeoutError
                failure, retryable = exc, True
            except (ConnectTimeoutError, EndpointConnectionError, SSLError) as exc:
                failure, retryable = exc, True
            if not retryable or last:
                raise failure
            acquired = (TIMEOUT_RETRY_COST if isinstance(failure, _TIMEOUTS) else RETRY_COST)
            if not self._quota.acquire(acquired):
                # Retries are failing all over this container: stop adding load.
                if isinstance(failure, ClientError):
                    failure.response["ResponseMetadata"]["RetryQuotaReached"] = True
                raise failure
            # Exponential, jittered: 0-25 ms, then 0-50 ms (within an event's budget).
            self._sleep(self._pause * 2 ** (attempt - 1) * self._jitter())

    def _send(self, operation: str, body: bytes) -> tuple[int, Mapping[str, str], bytes]:
        headers = self._signer.sign(
            "POST", self._path, "",
            {"Host": self._host, "Content-Type": CONTENT_TYPE,
             "X-Amz-Target": TARGET_PREFIX + operation},
            body, self._credentials.get_frozen_credentials(), amz_date(self._clock()))
        headers["User-Agent"] = USER_AGENT  # not signed, as botocore leaves it out
        try:
            # The body as sent (decode_content off): DynamoDB's crc32 is over those bytes.
            response = self._pool.urlopen("POST", self._url, body=body, headers=headers,
                                          timeout=self._timeout, retries=False,
                                          redirect=False, preload_content=True,
                                          decode_content=False)
            data = response.data or b""
        except Urllib3SSLError as exc:
            raise SSLError(endpoint_url=self.endpoint_url, error=exc) from None
        except (NewConnectionError, socket.gaierror) as exc:
            raise EndpointConnectionError(endpoint_url=self.endpoint_url, error=exc) from None
        except Urllib3ConnectTimeout as exc:
            raise ConnectTimeoutError(endpoint_url=self.endpoint_url, error=exc) from None
        except Urllib3ReadTimeout as exc:
            raise ReadTimeoutError(endpoint_url=self.endpoint_url, error=exc) from None
        except ProtocolError as exc:
            raise ConnectionClosedError(error=exc, endpoint_url=self.endpoint_url) from None
        except Exception as exc:  # noqa: BLE001 - as botocore's httpsession: any other failure
            raise HTTPClientError(error=exc) from None
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):  # never asked for: not ours to decode
            raise HTTPClientError(error=f"unexpected Content-Encoding {encoding!r}")
        expected = response.headers.get("x-amz-crc32")
        if expected is not None:
            try:
                matches = crc32(data) & 0xFFFFFFFF == int(expected)
            except ValueError:
                matches = False
            if not matches:
                raise HTTPClientError(error="DynamoDB crc32 checksum does not match")
        return response.status, response.headers, data


def _json_object(data: bytes) -> dict[str, Any]:
    """A successful answer's body: a JSON object, or empty. Anything else is a broken answer
    (botocore would read it as empty: an existing profile taken for a missing one)."""
    if not data.strip():
        return {}
    try:
        loaded = json.loads(data)
    except ValueError:
        loaded = None
    if not isinstance(loaded, dict):
        raise HTTPClientError(error="DynamoDB answered 2xx with a body that is not a JSON object")
    return loaded


class RetryQuota:
    """botocore's standard-mode retry quota, per client: retries draw on it (5 units, 10 for
    a timeout), answers refill it (the retry's units, or 1); when it runs dry during an
    outage, requests fail at once instead of adding retries to a struggling table."""

    def __init__(self, capacity: int = 500) -> None:
        self._capacity = capacity
        self._available = capacity
        self._lock = threading.Lock()

    @property
    def available(self) -> int:
        return self._available

    def acquire(self, amount: int) -> bool:
        with self._lock:
            if amount > self._available:
                return False
            self._available -= amount
            return True

    def release(self, amount: int) -> None:
        if self._available >= self._capacity:
            return
        with self._lock:
            self._available = min(self._capacity, self._available + amount)
