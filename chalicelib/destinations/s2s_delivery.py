"""S2S delivery: the queue producer, the consumer that POSTs to partners, signing, dead letters.

The consumer groups a batch of queue messages by (destination, data source), at most 10
visitors per POST, in AAM's real-time outbound format (``s2s.outbound_body``). A partner must
answer 200 within the timeout (3 s); anything else is a failure, retried exactly once. After
the retry each message of the group is sent *explicitly* to the dead-letter queue with the
reason as message attributes, and the batch succeeds, so SQS does not redeliver what the
other partners already took. Only a failure to write the dead-letter queue raises (SQS then
redelivers the batch, and its redrive policy moves it to the DLQ after maxReceiveCount).
Messages carry the visitor's full current state, so a redelivered one is harmless.

Every collaborator (HTTP session, SQS client, secrets, clocks, sleep) is passed in.
The result records are not dataclasses: import cost on a cold start (chalicelib/core/records.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Mapping, NamedTuple, Sequence
from urllib.parse import urlsplit

import requests

from chalicelib.destinations.compiled import DestinationCatalog, S2SDestination
from chalicelib.destinations.s2s import (
    MAX_USERS_PER_MESSAGE,
    MESSAGE_VERSION,
    merge_user_messages,
    outbound_body,
)
from chalicelib.destinations.s2s_queue import S2SQueue  # noqa: F401 - its former home
from chalicelib.providers.auth import (
    DESTINATION_HMAC_ALGORITHMS,
    AuthConfigError,
    auth_headers,
    parse_auth,
)
from chalicelib.providers.secrets import SecretResolver, SecretUnavailable

logger = logging.getLogger("rtdcs.s2s")

DEFAULT_TIMEOUT_S = 3.0
DEFAULT_RETRY_DELAY_S = 0.5


class DeliveryError(Exception):
    """Why one POST failed; ``reason`` is short and safe to log (never a secret)."""

    def __init__(self, reason: str, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


# -- queue messages ---------------------------------------------------------------------------


def parse_queue_message(body: str) -> dict[str, Any]:
    message = json.loads(body)
    if not isinstance(message, dict) or message.get("v") != MESSAGE_VERSION:
        raise ValueError("not an rtdcs S2S message")
    for key in ("destinationId", "dpid", "uuid", "dpuuid", "region", "time", "segments"):
        if key not in message:
            raise ValueError(f"missing {key}")
    for segment in message["segments"]:
        int(segment["id"]), int(segment["status"])
    return message


def group_messages(messages: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Per (destination, data source): one merged message per visitor, chunks of at most 10."""
    groups: dict[tuple[int, int], dict[str, list[dict[str, Any]]]] = {}
    for message in messages:
        key = (int(message["destinationId"]), int(message["dpid"]))
        groups.setdefault(key, {}).setdefault(str(message["uuid"]), []).append(message)
    chunks: list[list[dict[str, Any]]] = []
    for by_user in groups.values():
        merged = [merge_user_messages(ms) for ms in by_user.values()]
        for start in range(0, len(merged), MAX_USERS_PER_MESSAGE):
            chunks.append(merged[start:start + MAX_USERS_PER_MESSAGE])
    return chunks


# -- auth: HMAC and bearer as for providers (providers/auth.py), plus OAuth 2.0 ---------------


def _secret(secrets: SecretResolver, ref: str) -> str:
    try:
        return secrets.resolve(ref)
    except SecretUnavailable as exc:
        raise DeliveryError(str(exc), retryable=False) from None


class OAuthTokens:
    """OAuth 2.0 client-credentials tokens, cached until shortly before they expire."""

    def __init__(
        self,
        session: requests.Session,
        secrets: SecretResolver,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._session = session
        self._secrets = secrets
        self._clock = clock
        self._timeout_s = timeout_s
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(auth: Mapping[str, Any]) -> tuple[str, str, str]:
        return (str(auth.get("tokenUrl")), str(auth.get("clientId")), str(auth.get("scope", "")))

    def token(self, auth: Mapping[str, Any]) -> str:
        key = self._key(auth)
        with self._lock:
            cached = self._tokens.get(key)
            if cached and self._clock() < cached[1]:
                return cached[0]
        data = {"grant_type": "client_credentials"}
        if auth.get("scope"):
            data["scope"] = str(auth["scope"])
        try:
            response = self._session.post(
                key[0], data=data, timeout=self._timeout_s, allow_redirects=False,
                auth=(key[1], _secret(self._secrets, str(auth.get("secretRef")))),
            )
            answer = response.json() if response.status_code == 200 else {}
        except (requests.RequestException, ValueError) as exc:
            raise DeliveryError(f"token endpoint: {type(exc).__name__}") from None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not token:
            raise DeliveryError(f"token endpoint: http {response.status_code}")
        lifetime = float(answer.get("expires_in") or 300)
        with self._lock:
            self._tokens[key] = (str(token), self._clock() + max(0.0, lifetime - 30))
        return str(token)

    def invalidate(self, auth: Mapping[str, Any]) -> None:
        with self._lock:
            self._tokens.pop(self._key(auth), None)


# -- sending ----------------------------------------------------------------------------------


class DeliveryResult(NamedTuple):
    ok: bool
    attempts: int
    reason: str = ""


class S2SSender:
    """One POST per group: ``timeout_s`` for the whole exchange, exactly one retry."""

    def __init__(
        self,
        session: requests.Session,
        secrets: SecretResolver,
        *,
        http_hosts: Sequence[str] = (),
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        tokens: OAuthTokens | None = None,
    ) -> None:
        self._session = session
        self._secrets = secrets
        self._http_hosts = {h.lower() for h in http_hosts}
        self._timeout_s = timeout_s
        self._retry_delay_s = retry_delay_s
        self._clock = clock
        self._sleep = sleep
        self._tokens = tokens or OAuthTokens(session, secrets, timeout_s=timeout_s)

    def check_url(self, url: str) -> None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not host or parts.scheme not in ("https", "http"):
            raise DeliveryError("invalid_url", retryable=False)
        if parts.scheme == "http" and host not in self._http_hosts:
            raise DeliveryError("insecure_url: https only", retryable=False)

    def deliver(self, destination: S2SDestination, body: bytes) -> DeliveryResult:
        attempts = 0
        reason = ""
        for attempt in range(2):  # the first try and exactly one retry
            if attempt:
                self._sleep(self._retry_delay_s)
            attempts += 1
            try:
                self._post_once(destination, body)
                return DeliveryResult(True, attempts)
            except DeliveryError as exc:
                reason = exc.reason
                if not exc.retryable:
                    break
        return DeliveryResult(False, attempts, reason)

    def _headers(self, destination: S2SDestination, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        auth = destination.auth
        if not auth:
            return headers
        if str(auth.get("type")) == "oauth2":
            headers["Authorization"] = "Bearer " + self._tokens.token(auth)
            return headers
        try:
            spec = parse_auth(auth, DESTINATION_HMAC_ALGORITHMS)
        except AuthConfigError as exc:
            raise DeliveryError(f"auth: {exc}", retryable=False) from None
        if spec is not None:
            headers.update(auth_headers(spec, _secret(self._secrets, spec.secret_ref), body))
        return headers

    def _post_once(self, destination: S2SDestination, body: bytes) -> None:
        self.check_url(destination.url)
        headers = self._headers(destination, body)
        started = self._clock()
        try:
            response = self._session.post(
                destination.url, data=body, headers=headers, stream=True,
                timeout=(self._timeout_s, self._timeout_s), allow_redirects=False,
            )
            response.close()  # only the status matters; the body is never read
        except requests.Timeout:
            raise DeliveryError("timeout") from None
        except requests.RequestException as exc:
            raise DeliveryError(f"connection: {type(exc).__name__}") from None
        if self._clock() - started > self._timeout_s:
            raise DeliveryError("timeout")  # headers trickled in past the deadline
        if response.status_code == 401 and str((destination.auth or {}).get("type")) == "oauth2":
            self._tokens.invalidate(destination.auth or {})
        if response.status_code != 200:
            raise DeliveryError(f"http {response.status_code}")


# -- queues -----------------------------------------------------------------------------------


class DeadLetters:
    """Explicit dead-lettering: the original body, with the reason as message attributes."""

    def __init__(self, sqs: Any, dlq_url: str, wall_clock: Callable[[], float] = time.time):
        self._sqs = sqs
        self._dlq_url = dlq_url
        self._wall_clock = wall_clock

    def send(self, body: str, reason: str, attempts: int, destination_id: int | None) -> None:
        attributes = {
            "reason": {"DataType": "String", "StringValue": reason[:256] or "unknown"},
            "attempts": {"DataType": "Number", "StringValue": str(attempts)},
            "failedAt": {"DataType": "Number", "StringValue": str(int(self._wall_clock()))},
        }
        if destination_id is not None:
            attributes["destinationId"] = {"DataType": "Number",
                                           "StringValue": str(destination_id)}
        self._sqs.send_message(QueueUrl=self._dlq_url, MessageBody=body,
                               MessageAttributes=attributes)


class BatchReport:
    __slots__ = ("delivered", "dead_lettered", "dropped", "posts", "reasons")

    def __init__(self) -> None:
        self.delivered = 0  # messages delivered
        self.dead_lettered = 0
        self.dropped = 0  # messages for destinations that no longer exist
        self.posts = 0
        self.reasons: list[str] = []


class S2SConsumer:
    """Handles one batch of S2S queue message bodies."""

    def __init__(
        self,
        catalog: Callable[[], DestinationCatalog],
        sender: S2SSender,
        dead_letters: DeadLetters,
        *,
        partner_id: str,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._catalog = catalog
        self._sender = sender
        self._dead_letters = dead_letters
        self._partner_id = partner_id
        self._wall_clock = wall_clock

    def handle(self, bodies: Sequence[str]) -> BatchReport:
        report = BatchReport()
        messages: list[dict[str, Any]] = []
        raw_by_id: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        for body in bodies:
            try:
                message = parse_queue_message(body)
            except (ValueError, TypeError, KeyError):
                self._dead_letters.send(body, "malformed", 0, None)
                report.dead_lettered += 1
                continue
            messages.append(message)
            raw_by_id.setdefault(int(message["destinationId"]), []).append((body, message))
        destinations = self._catalog().s2s_destinations
        for group in group_messages(messages):
            destination_id = int(group[0]["destinationId"])
            destination = destinations.get(destination_id)
            uuids = {str(m["uuid"]) for m in group}
            originals = [
                body for body, m in raw_by_id.get(destination_id, [])
                if str(m["uuid"]) in uuids and int(m["dpid"]) == int(group[0]["dpid"])
            ]
            if destination is None:
                logger.info("s2s: destination %s is gone; %d messages dropped",
                            destination_id, len(originals))
                report.dropped += len(originals)
                continue
            payload = outbound_body(group, partner_id=self._partner_id, now=self._wall_clock())
            result = self._sender.deliver(destination, payload)
            report.posts += result.attempts
            if result.ok:
                report.delivered += len(originals)
                continue
            logger.warning("s2s: destination %s failed after %d attempts: %s",
                           destination_id, result.attempts, result.reason)
            report.reasons.append(result.reason)
            for original in originals:
                self._dead_letters.send(original, result.reason, result.attempts, destination_id)
                report.dead_lettered += 1
        return report
