"""Structured logs and CloudWatch metrics (EMF, chalicelib/runtime/emf.py), created lazily.

* :func:`event_done` is called once per ``/event``: it writes **one** JSON line with the
  event's log fields, and, when the metrics window closes (:class:`MetricsSink`,
  ``RTDCS_METRICS_WINDOW_S``; every event when it is 0), the CloudWatch EMF document
  (namespace ``rtdcs``, dimension ``service``) of what the window held beside them (EMF
  keeps extra properties as searchable log data). The fields are compact: tid, uuid, counts,
  providers, errors, a non-default privacy decision; the signals, traits and segments
  themselves only on a sampled share of events (``RTDCS_LOG_DETAIL_RATE``, default 1 %; 100 %
  on the local stage). Sanitized: no ``p_`` key or value anywhere, no secret. Issue 17: 2.1 KB
  of log per event became ~0.25 KB.
* :func:`metrics` is the process-wide sink other layers count into (profile writes, spool).
  Counts accumulate until the next flush (the window's end in /event's container, the end of
  a queue or stream batch elsewhere).

Nothing is built at import time: the sink and observer are created on first use. Names come
from the variables Powertools for AWS Lambda defined, kept so deployments need no change:
``POWERTOOLS_SERVICE_NAME`` (default ``rtdcs-local``) and ``POWERTOOLS_METRICS_NAMESPACE``
(default ``rtdcs``); ``POWERTOOLS_METRICS_DISABLED=true`` turns metric output off.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from typing import IO, Any, Callable, Iterable, Mapping, Protocol

from chalicelib.config import MetricsSettings, environment
from chalicelib.runtime.emf import MAX_VALUES, emf_documents

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


# Each log line sanitizes the same few dozen keys: their verdicts are kept (bounded: detailed
# lines carry the request's own signal names), and plain scalars and strings are tested by
# exact type before the slower ABC checks (issue 17: CPU of every event's line).
_KEY_VERDICTS: dict[str, bool] = {}
_KEY_VERDICTS_KEPT = 1024
_SCALARS = frozenset({int, float, bool, type(None)})


def _keeps(name: str) -> bool:
    """Whether a key stays in a log line (not ``p_``, not secret-looking)."""
    verdict = _KEY_VERDICTS.get(name)
    if verdict is None:
        lowered = name.lower()
        verdict = not lowered.startswith("p_") and not any(
            part in lowered for part in _SECRET_KEY_PARTS)
        if len(_KEY_VERDICTS) < _KEY_VERDICTS_KEPT:
            _KEY_VERDICTS[name] = verdict
    return verdict


def _clean(value: Any, secrets: list[str]) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is str:
        return REDACTED if secrets and any(s in value for s in secrets) else value
    if isinstance(value, Mapping):
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if _keeps(name):
                cleaned[name] = _clean(item, secrets)
        return cleaned
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_clean(v, secrets) for v in items]
    if isinstance(value, str) and any(s in value for s in secrets):
        return REDACTED
    return value


# ---- metrics ------------------------------------------------------------------------------


# Metrics that never wait in a window: a failure reaches its alarm within the minute.
URGENT_METRICS = frozenset({
    "EventStorageErrors", "DynamoDBErrors", "ProfileWritesRejected",
    "ProfileWriteValidationErrors", "ProfileCorruptTraits", "CaptureWriteFailed",
    "SpooledEvents", "SpoolSendFailures", "SpoolReplayFailures", "SpoolDeadLettered",
})


class MetricsSink:
    """Thread-safe metrics, written as CloudWatch EMF documents (``emf.py``).

    ``emit`` receives the serialized EMF JSON (default: one line on stdout, which Lambda
    ships to CloudWatch Logs, where EMF turns it into metrics). Counts are summed into one
    value per document (alarms and the dashboard read their Sum); milliseconds keep one value
    per sample, so percentiles stay exact.

    ``window_s`` (``RTDCS_METRICS_WINDOW_S``; 0 = a document per event): an event's metrics
    may wait in the container for up to that long and go out with a later event's line, in
    one document stamped with the window's start (issue 17: the EMF document was 420 of an
    event's 670 log bytes). A window is written at the end of the first event that finds it
    ``window_s`` old, holding 100 values of a metric (EMF's limit), or holding a failure
    (:data:`URGENT_METRICS`). What a container still holds when Lambda reclaims it is lost:
    at most ``window_s`` of its successes, never a failure.
    """

    def __init__(
        self,
        namespace: str | None = None,
        service: str | None = None,
        emit: Callable[[str], None] | None = None,
        enabled: bool | None = None,
        window_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        configured = MetricsSettings.from_env()
        self.namespace = namespace or configured.namespace
        self.service = service or configured.service
        self._metrics: dict[str, tuple[str, list[float]]] = {}  # name -> (unit, values)
        self._emit = emit or _print_line
        self._clock = clock
        if enabled is None:
            enabled = configured.enabled
        self._enabled = enabled
        self._window_s = configured.window_s if window_s is None else max(0.0, window_s)
        self._window_start: float | None = None
        self._urgent = False
        self._lock = threading.Lock()

    def count(self, name: str, value: float = 1) -> None:
        self._add(name, "Count", value)

    def milliseconds(self, name: str, value: float) -> None:
        self._add(name, "Milliseconds", value)

    def _add(self, name: str, unit: str, value: float) -> None:
        with self._lock:
            if self._window_start is None:
                self._window_start = self._clock()
            values = self._metrics.setdefault(name, (unit, []))[1]
            if unit == "Count" and values:
                values[0] += value
            else:
                values.append(value)
            self._urgent = self._urgent or name in URGENT_METRICS

    def due(self) -> bool:
        """Whether the held window is to be written now (see the class docstring)."""
        with self._lock:
            if not self._metrics:
                return False
            if self._window_s <= 0 or self._urgent:
                return True
            if any(len(values) >= MAX_VALUES for _, values in self._metrics.values()):
                return True
            start = self._window_start if self._window_start is not None else self._clock()
            return self._clock() - start >= self._window_s

    def flush(self) -> dict[str, Any] | None:
        """Emit what was counted since the last flush (nothing if nothing was)."""
        documents = self._take()
        if self._enabled:
            for document in documents:
                self._emit(json.dumps(document, separators=(",", ":")))
        return documents[0] if documents else None

    def take(self) -> dict[str, Any] | None:
        """What was counted since the last flush, as the EMF document to write (None when
        nothing was, or metrics are off); cleared either way. The caller writes it (documents
        beyond the first, past EMF's limits, are emitted here)."""
        documents = self._take()
        if not self._enabled or not documents:
            return None
        for extra in documents[1:]:
            self._emit(json.dumps(extra, separators=(",", ":")))
        return documents[0]

    def take_due(self) -> dict[str, Any] | None:
        """:meth:`take` when the window is due, else None (the metrics stay held)."""
        return self.take() if self.due() else None

    def _take(self) -> list[dict[str, Any]]:
        with self._lock:
            metrics, self._metrics = self._metrics, {}
            start, self._window_start = self._window_start, None
            self._urgent = False
        stamp = start if start is not None else self._clock()
        return list(emf_documents(self.namespace, self.service, metrics, int(stamp * 1000)))


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
    """Writes the event's one line: its compact log fields, with the window's EMF document
    when the window closes."""

    def __init__(
        self,
        sink: MetricsSink,
        stream: IO[str] | None = None,
        service: str | None = None,
        wall_clock: Callable[[], float] = time.time,
        detail_rate: float | None = None,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self.sink = sink
        self.service = service or sink.service
        self._stream = stream  # None: sys.stdout at each write (Lambda ships it)
        self._now = wall_clock
        self._detail_rate = (MetricsSettings.from_env().log_detail_rate
                             if detail_rate is None else detail_rate)
        self._chance = chance

    def event_done(self, result: EventLike) -> None:
        self.record(result)
        metrics = self.sink.take_due() or {}
        fields = sanitize(event_fields(result.log, self._chance() < self._detail_rate))
        line = json.dumps({**metrics, **fields}, separators=(",", ":"), default=str)
        stream = self._stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()

    def record(self, result: EventLike) -> None:
        sink = self.sink
        sink.count("Events")
        # Rounded to 0.1 ms and summed per name: fewer bytes in every line.
        sink.milliseconds("EventLatency",
                          round(max(0.0, (self._now() - result.now) * 1000), 1))
        outcomes = list(result.outcomes)
        called = [o for o in outcomes if o.kind in _CALLED]
        if called:
            sink.count("ProviderCalls", len(called))
            sink.milliseconds("ProviderLatency", round(max(o.latency_ms for o in called), 1))
        per_metric: dict[str, int] = {}
        for outcome in outcomes:
            name = _PROVIDER_METRICS.get(outcome.kind, "ProviderOther")
            per_metric[name] = per_metric.get(name, 0) + 1
        for name, count in per_metric.items():
            sink.count(name, count)
        if any(e.code in _STORAGE_CODES for e in result.errors):
            sink.count("EventStorageErrors")


_DETAIL_KEYS = ("signals", "traits", "segments")
_QUIET_PRIVACY = {"signals": [], "outcome": "pass", "suppressed": []}


def event_fields(log: Mapping[str, Any], detailed: bool) -> dict[str, Any]:
    """The log fields of one event: counts always, the lists themselves when ``detailed``;
    empty lists and the default privacy decision are left out (one line, nothing twice)."""
    fields: dict[str, Any] = {k: v for k, v in log.items()
                              if k not in _DETAIL_KEYS and k not in ("providers", "privacy")}
    if not fields.get("errors"):
        fields.pop("errors", None)
    fields["n"] = {k: len(log.get(k) or ()) for k in _DETAIL_KEYS}
    providers = [{k: v for k, v in p.items() if v not in (None, "")}
                 for p in log.get("providers") or ()]
    if providers:
        fields["providers"] = providers
    privacy = log.get("privacy")
    if privacy and privacy != _QUIET_PRIVACY:
        fields["privacy"] = privacy
    if detailed:
        signals = dict(log.get("signals") or {})
        if signals.get("h_referrer") == signals.get("h_referer"):
            signals.pop("h_referrer", None)  # the same header under its two spellings
        fields.update(signals=signals, traits=log.get("traits", []),
                      segments=log.get("segments", []))
    return fields


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
