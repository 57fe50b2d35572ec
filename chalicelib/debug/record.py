"""What the debugger shows of one event: built from the answer, never with ``p_`` keys."""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

from chalicelib.runtime.observability import sanitize


class _Trait(Protocol):
    rule_based: bool


class _Outcome(Protocol):
    pid: int
    name: str
    kind: str
    latency_ms: float
    detail: str

    @property
    def answer(self) -> Any: ...


class _Result(Protocol):
    fields: dict[str, Any]
    errors: Sequence[Any]
    uuid_cookie: str | None
    status: int
    now: float
    log: dict[str, Any]

    @property
    def outcomes(self) -> Sequence[Any]: ...


class _Parsed(Protocol):
    def control(self, name: str) -> str | None: ...


def _provider(outcome: _Outcome) -> dict[str, Any]:
    answer = outcome.answer
    return {
        "pid": outcome.pid,
        "name": outcome.name,
        "outcome": outcome.kind,
        "ms": round(outcome.latency_ms, 1),
        "detail": outcome.detail,
        "realized": list(answer.realize) if answer is not None else [],
        "removed": list(answer.remove) if answer is not None else [],
    }


def _errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"code": e.code, "msg": getattr(e, "msg", "")} for e in errors]


def capture_record(result: _Result, parsed: _Parsed, traits: Mapping[int, _Trait],
                   now: float) -> dict[str, Any]:
    log = result.log
    fields = result.fields
    realized = [int(t) for t in log.get("traits") or ()]
    record = {
        "at": now,
        "tid": log.get("tid") or fields.get("tid"),
        "uuid": log.get("uuid") or fields.get("uuid"),
        "status": result.status,
        "signals": dict(log.get("signals") or {}),
        "identity": {
            "uuid": log.get("uuid") or fields.get("uuid"),
            "newVisitor": result.uuid_cookie is not None,
            "dpid": parsed.control("d_dpid"),
            "dpuuid": parsed.control("d_dpuuid"),
        },
        "privacy": log.get("privacy") or {},
        "providers": [_provider(o) for o in result.outcomes],
        "traits": {
            "ruleBased": [t for t in realized if t in traits and traits[t].rule_based],
            "onboarded": [t for t in realized if not (t in traits and traits[t].rule_based)],
        },
        "segments": list(log.get("segments") or fields.get("segments") or ()),
        "stuff": list(fields.get("stuff") or ()),
        "dests": list(fields.get("dests") or ()),
        "errors": _errors(result.errors),
        "stopped": bool(log.get("stopped")),
    }
    return dict(sanitize(record))
