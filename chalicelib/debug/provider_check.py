"""The console's "test call": a few signed sample requests to one provider, through the same
caller as events (SSRF guard included), and a verdict in the contract's words
(provider-contract.md 3; devtools/contract_check.py is the fuller command-line check)."""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Protocol

from chalicelib.dcs.ids import new_tid, new_uuid
from chalicelib.providers.auth import auth_headers
from chalicelib.providers.definition import ProviderDef
from chalicelib.providers.fanout import CallPlan
from chalicelib.providers.messages import ContractError, ProviderAnswer, build_request_body

SAMPLE_SIGNALS: tuple[dict[str, list[str]], ...] = (
    {"c_section": ["sports"]},
    {},
    {"c_section": ["autos"], "c_page": ["home"]},
)
_WAIT_S = 2.0  # each call may take this long (the verdict compares with timeoutMs)


class Caller(Protocol):
    def call(self, plan: CallPlan, deadline: float,
             extra_headers: dict[str, str] | None = None) -> ProviderAnswer: ...


def run_test_call(provider: ProviderDef, caller: Caller, secret: Callable[[str], str],
              partner_id: str, region: int,
              clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """``{"verdict": "pass" | "fail", "calls": [...], "problems": [...], "p50Ms", "maxMs"}``."""
    problems: list[str] = []
    calls: list[dict[str, Any]] = []
    if provider.extras.problem:
        problems.append(f"configuration: {provider.extras.problem}")
    auth = provider.extras.auth
    for signals in SAMPLE_SIGNALS:
        body = build_request_body(provider, uuid=new_uuid(), dpuuid=None, partner_id=partner_id,
                                  region=region, tid=new_tid(), gdpr=0, gdpr_consent=None,
                                  signals=signals)
        call: dict[str, Any] = {"signals": signals}
        started = clock()
        try:
            headers = auth_headers(auth, secret(auth.secret_ref), body) if auth else None
            answer = caller.call(CallPlan(provider, body), started + _WAIT_S, headers)
            call.update(outcome="answered" if answer.realize or answer.remove else "empty",
                        realized=list(answer.realize), removed=list(answer.remove))
        except ContractError as exc:
            call.update(outcome="error", detail=str(exc))
            problems.append(f"contract: {exc}")
        except Exception as exc:  # noqa: BLE001 - any failure is the verdict, in words
            call.update(outcome="error", detail=_failure(exc))
            problems.append(_failure(exc))
        call["ms"] = round((clock() - started) * 1000, 1)
        if call["outcome"] != "error" and call["ms"] > provider.timeout_ms:
            problems.append(f"slow: {call['ms']} ms, over the provider's timeoutMs "
                            f"({provider.timeout_ms} ms)")
        calls.append(call)
    latencies = sorted(c["ms"] for c in calls)
    return {
        "pid": provider.pid,
        "verdict": "fail" if problems else "pass",
        "problems": sorted(set(problems)),
        "calls": calls,
        "p50Ms": latencies[len(latencies) // 2] if latencies else None,
        "maxMs": latencies[-1] if latencies else None,
        "timeoutMs": provider.timeout_ms,
    }


def _failure(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc)
    if "Blocked" in name or "resolves to" in text:
        return f"blocked: {text}"  # the SSRF guard refused the address
    if "Timeout" in name or "Deadline" in name:
        return "timeout: no answer within 2 s"
    return f"{name}: {text}"[:300]


def provider_from(body: Mapping[str, Any]) -> ProviderDef:
    from chalicelib.providers.definition import compile_provider

    return compile_provider(body)
