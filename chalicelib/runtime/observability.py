"""Structured logs and CloudWatch metrics (Powertools for AWS Lambda), created lazily.

* :func:`event_done` is called once per ``/event``: it writes **one** JSON log line (the
  pipeline's record, sanitized: no ``p_`` key or value anywhere, no secret) and flushes the
  event's metrics as one CloudWatch EMF blob (namespace ``rtdcs``, dimension ``service``).
* :func:`metrics` is the process-wide sink other layers count into (profile writes, spool).
  Counts accumulate until the next flush (the end of the event or of a queue batch).

Nothing is imported or built at import time: the Powertools modules load on first use, so
they cost the first event, not the app import (see bench/coldstart.py). Names come from the
standard Powertools variables ``POWERTOOLS_SERVICE_NAME`` (default ``rtdcs-local``) and
``POWERTOOLS_METRICS_NAMESPACE`` (default ``rtdcs``); ``POWERTOOLS_METRICS_DISABLED=true``
turns metric output off.

The service name is also the logger's name. Powertools filters records of loggers whose name
*contains* it out of the root handlers (so Lambda does not print them twice); keep it from
being a substring of other loggers' names (``rtdcs-<stage>`` is; plain ``rtdcs`` is not).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import IO, Any, Callable, Iterable, Mapping, Protocol, cast

from chalicelib.config import MetricsSettings, environment

REDACTED = "[redacted]"

# Environment variables whose values must never reach a log line.
_SECRET_ENV = (
    "RTDCS_ADMIN_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
_SECRET_KEY_PARTS = ("token", "secret", "password", "authorization", "cookie", "signature")
_MIN_SECRET_LENGTH = 8  # shorter values would redact ordinary words

# pipeline Outcome.kind -> metric counted for it (a provider "call" is one that went out).
_PROVIDER_METRICS = {
    "answered": "ProviderAnswered",
    "empty": "ProviderEmpty",
    "timeout": "ProviderTimeouts",
    "error": "ProviderErrors",
    "cached": "ProviderCached",
    "skipped": "ProviderSkipped",
}
_CALLED = ("answered", "empty", "timeout", "error")
# DCS error codes that mean a DynamoDB read or write failed (dcs-protocol.md 10).
_STORAGE_CODES = frozenset({200, 201, 202, 203, 204, 205})


# ---- sanitizing ---------------------------------------------------------------------------


def _secret_values(env: Mapping[str, str]) -> list[str]:
    return [v for k in _SECRET_ENV if len(v := env.get(k, "")) >= _MIN_SECRET_LENGTH]


def sanitize(record: Any, env: Mapping[str, str] | None = None) -> Any:
    """A copy of ``record`` without ``p_`` keys (at any depth), secret-looking keys, or any
    value holding a known secret (admin token, AWS secret key, session token)."""
    secrets = _secret_values(environment() if env is None else env)
    return _clean(record, secrets)


def _clean(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, Mapping):
        return {
            str(k): _clean(v, secrets)
            for k, v in value.items()
            if not str(k).lower().startswith("p_")
            and not any(part in str(k).lower() for part in _SECRET_KEY_PARTS)
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_clean(v, secrets) for v in items]
    if isinstance(value, str) and any(s in value for s in secrets):
        return REDACTED
    return value


# ---- metrics ------------------------------------------------------------------------------


class MetricsSink:
    """Thread-safe counters flushed as one CloudWatch EMF document (Powertools' provider).

    ``emit`` receives the serialized EMF JSON (default: one line on stdout, which Lambda
    ships to CloudWatch Logs, where EMF turns it into metrics).
    """

    def __init__(
        self,
        namespace: str | None = None,
        service: str | None = None,
        emit: Callable[[str], None] | None = None,
        enabled: bool | None = None,
    ) -> None:
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
            AmazonCloudWatchEMFProvider,
        )

        configured = MetricsSettings.from_env()
        self.namespace = namespace or configured.namespace
        self.service = service or configured.service
        self._provider = AmazonCloudWatchEMFProvider(
            namespace=self.namespace, service=self.service
        )
        self._emit = emit or _print_line
        if enabled is None:
            enabled = configured.enabled
        self._enabled = enabled
        self._lock = threading.Lock()

    def count(self, name: str, value: float = 1) -> None:
        self._add(name, "Count", value)

    def milliseconds(self, name: str, value: float) -> None:
        self._add(name, "Milliseconds", value)

    def _add(self, name: str, unit: str, value: float) -> None:
        with self._lock:
            self._provider.add_metric(name=name, unit=unit, value=value)

    def flush(self) -> dict[str, Any] | None:
        """Emit what was counted since the last flush (nothing if nothing was)."""
        with self._lock:
            if not self._provider.metric_set:
                return None
            document = cast(dict[str, Any], self._provider.serialize_metric_set())
            self._provider.clear_metrics()
        if self._enabled:
            self._emit(json.dumps(document, separators=(",", ":")))
        return document


def _print_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# ---- the event record ---------------------------------------------------------------------


class _Outcome(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def latency_ms(self) -> float: ...


class _Error(Protocol):
    @property
    def code(self) -> int: ...


class EventLike(Protocol):
    """What :func:`event_done` reads from the pipeline's ``EventResult``."""

    @property
    def log(self) -> dict[str, Any]: ...

    @property
    def now(self) -> float: ...

    @property
    def outcomes(self) -> Iterable[_Outcome]: ...

    @property
    def errors(self) -> Iterable[_Error]: ...


class EventObserver:
    """Writes the event's log line and metrics (Powertools Logger + the metrics sink)."""

    def __init__(
        self,
        sink: MetricsSink,
        stream: IO[str] | None = None,
        service: str | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        from aws_lambda_powertools.logging import Logger

        self.sink = sink
        self.logger = Logger(service=service or sink.service, stream=stream)
        self._now = wall_clock

    def event_done(self, result: EventLike) -> None:
        self.logger.info(sanitize(result.log))
        self.record(result)
        self.sink.flush()

    def record(self, result: EventLike) -> None:
        sink = self.sink
        sink.count("Events")
        sink.milliseconds("EventLatency", max(0.0, (self._now() - result.now) * 1000))
        outcomes = list(result.outcomes)
        called = [o for o in outcomes if o.kind in _CALLED]
        if called:
            sink.count("ProviderCalls", len(called))
            sink.milliseconds("ProviderLatency", max(o.latency_ms for o in called))
        for outcome in outcomes:
            sink.count(_PROVIDER_METRICS.get(outcome.kind, "ProviderOther"))
        if any(e.code in _STORAGE_CODES for e in result.errors):
            sink.count("EventStorageErrors")


_lock = threading.Lock()
_sink: MetricsSink | None = None
_observer: EventObserver | None = None


def metrics() -> MetricsSink:
    """The container's metrics sink (built on first use)."""
    global _sink
    if _sink is None:
        with _lock:
            if _sink is None:
                _sink = MetricsSink()
    return _sink


def observer() -> EventObserver:
    global _observer
    if _observer is None:
        sink = metrics()
        with _lock:
            if _observer is None:
                _observer = EventObserver(sink)
    return _observer


def event_done(result: EventLike) -> None:
    """The one log line and the metrics of one ``/event``; never raises into the route."""
    try:
        observer().event_done(result)
    except Exception as exc:  # noqa: BLE001 - observability must not break an answer
        sys.stderr.write(f"rtdcs observability: {type(exc).__name__}\n")


def reset_for_tests() -> None:
    global _sink, _observer
    with _lock:
        _sink = None
        _observer = None


def install(custom: EventObserver | None) -> None:
    """Serve this observer (tests: a private stream), or None to build from the environment."""
    global _observer, _sink
    with _lock:
        _observer = custom
        _sink = custom.sink if custom is not None else None
