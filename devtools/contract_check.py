"""Check a real-time provider endpoint against the rtdcs provider contract.

    python -m devtools.contract_check URL --secret S [--header X-Signature] [--count N]

Sends ``N`` signed sample requests (provider-contract.md 2), one after another, and reports
in plain words what in the answers breaks the contract (section 3): HTTP status, content
type, JSON, shape, ``Segment_ID`` types, ``Status`` values, ``ttl_seconds``, body size (64 KiB),
latency against a ``timeoutMs`` (150 ms by default), plus p50/p99 latency. One more request
with a wrong signature checks that the provider refuses it (a warning if it does not).

Exit code: 0 when every answer conforms, 1 when something breaks the contract, 2 on bad
arguments. ``--json`` prints the report as JSON. Each request waits at most ``--max-wait-ms``
(wall clock, body included), so a hanging or trickling endpoint cannot stall the check.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import math
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests
from urllib3 import Timeout
from urllib3 import exceptions as urllib3_exceptions

MAX_BODY_BYTES = 64 * 1024
DEFAULT_TIMEOUT_MS = 150
DEFAULT_MAX_WAIT_MS = 2000
_CHUNK = 16384

SAMPLE_SIGNALS: list[dict[str, list[str]]] = [
    {"c_section": ["sports"], "h_referer": ["https://news.example/a"]},
    {},
    {"c_section": ["autos"], "c_page": ["home"]},
    {"h_referer": ["https://shop.example/cart"]},
]


@dataclass
class Exchange:
    """What one request brought back."""

    latency_ms: float
    status: int | None = None
    content_type: str = ""
    body: bytes = b""
    failure: str | None = None  # connection | no_answer | slow_body | body_too_large


@dataclass
class Report:
    url: str
    count: int
    timeout_ms: int
    problems: Counter[tuple[str, str]] = field(default_factory=Counter)  # (code, text) -> n
    warnings: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def conforming(self) -> bool:
        return not self.problems

    @property
    def codes(self) -> set[str]:
        return {code for code, _ in self.problems}

    def percentile(self, fraction: float) -> float | None:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return None
        index = min(len(ordered), max(1, math.ceil(fraction * len(ordered) - 1e-9))) - 1
        return round(ordered[index], 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "requests": self.count,
            "conforming": self.conforming,
            "problems": [
                {"code": code, "text": text, "answers": n}
                for (code, text), n in sorted(self.problems.items())
            ],
            "warnings": [{"text": text, "answers": n} for text, n in sorted(self.warnings.items())],
            "latency_ms": {"p50": self.percentile(0.5), "p99": self.percentile(0.99)},
            "timeout_ms": self.timeout_ms,
        }

    def text(self) -> str:
        lines = [f"{self.url}: {self.count} requests"]
        for (code, text), n in sorted(self.problems.items()):
            lines.append(f"  BREAKS THE CONTRACT [{code}] {n} of {self.count}: {text}")
        for text, n in sorted(self.warnings.items()):
            lines.append(f"  warning ({n}): {text}")
        p50, p99 = self.percentile(0.5), self.percentile(0.99)
        if p50 is not None:
            lines.append(f"  latency p50 {p50} ms, p99 {p99} ms (timeoutMs {self.timeout_ms})")
        lines.append("  conforming" if self.conforming else "  NOT conforming")
        return "\n".join(lines)


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def sample_body(index: int, rng: random.Random, dpid: int) -> bytes:
    request = {
        "AAM_UUID": "".join(rng.choice("0123456789") for _ in range(38)),
        "DataPartner_UUID": None if index % 2 == 0 else f"dp-{rng.randrange(10**9)}",
        "User_DPID": dpid,
        "Client_ID": "1352",
        "AAM_Region": 7,
        "tid": base64.b64encode(rng.randbytes(8)).decode(),
        "gdpr": 0,
        "signals": SAMPLE_SIGNALS[index % len(SAMPLE_SIGNALS)],
    }
    return json.dumps(request, separators=(",", ":")).encode()


def exchange(
    session: requests.Session, url: str, body: bytes, headers: dict[str, str], max_wait_ms: int
) -> Exchange:
    """One POST bounded by ``max_wait_ms`` of wall clock, body included, read up to 64 KiB+1."""
    started = time.monotonic()
    deadline = started + max_wait_ms / 1000

    def elapsed() -> float:
        return (time.monotonic() - started) * 1000

    try:
        response = session.post(url, data=body, headers=headers, stream=True,
                                timeout=Timeout(total=max_wait_ms / 1000), allow_redirects=False)
    except requests.Timeout:
        return Exchange(elapsed(), failure="no_answer")
    except requests.RequestException:
        return Exchange(elapsed(), failure="connection")
    result = Exchange(0.0, response.status_code, response.headers.get("Content-Type", ""))
    chunks: list[bytes] = []
    size = 0
    sock = getattr(response.raw.connection, "sock", None)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.failure = "slow_body"
                break
            if sock is not None:
                sock.settimeout(remaining)
            chunk = response.raw.read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            chunks.append(chunk)
            if size > MAX_BODY_BYTES:
                result.failure = "body_too_large"
                break
    except (requests.Timeout, urllib3_exceptions.TimeoutError, TimeoutError):
        result.failure = "slow_body"
    except (urllib3_exceptions.HTTPError, OSError):
        result.failure = "connection"
    finally:
        response.close()
    result.body = b"".join(chunks)
    result.latency_ms = elapsed()
    return result


def judge(result: Exchange, report: Report, max_wait_ms: int) -> None:
    """Add what is wrong with one answer to ``report``."""

    def problem(code: str, text: str) -> None:
        report.problems[(code, text)] += 1

    if result.failure == "connection":
        problem("connection", "the connection failed or was dropped (refused or reset) "
                              "before a complete answer")
        return
    if result.failure == "no_answer":
        problem("no_answer", f"no answer within {max_wait_ms} ms (the endpoint hangs)")
        return
    if result.failure == "slow_body":
        problem("slow_body", f"the body was still arriving after {max_wait_ms} ms "
                             "(it trickles: rtdcs gives up at timeoutMs)")
        return
    report.latencies_ms.append(result.latency_ms)
    if result.failure == "body_too_large":
        problem("body_too_large", f"the body is larger than {MAX_BODY_BYTES // 1024} KiB "
                                  "(rtdcs drops such answers)")
        return
    if result.latency_ms > report.timeout_ms:
        problem("slow", f"answers took longer than the {report.timeout_ms} ms timeoutMs "
                        "(rtdcs would have dropped them)")
    if result.status == 204:
        if result.body.strip():
            report.warnings["204 with a body (it is ignored)"] += 1
        return
    if result.status != 200:
        hint = " -- is the secret right?" if result.status in (401, 403) else ""
        problem("http_status", f"HTTP status {result.status} (expected 200, or 204 for nothing "
                               f"known){hint}")
        return
    media_type = result.content_type.split(";")[0].strip().lower()
    if media_type != "application/json":
        problem("content_type", f"Content-Type is {result.content_type or 'missing'!r}, "
                                "expected application/json")
    try:
        document = json.loads(result.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        problem("invalid_json", "the body is not valid JSON")
        return
    judge_document(document, problem, report)


def judge_document(document: Any, problem: Any, report: Report) -> None:
    if not isinstance(document, dict) or not isinstance(document.get("Segments"), list):
        problem("wrong_shape", 'wrong shape: expected an object with a "Segments" list')
        return
    for entry in document["Segments"]:
        if not isinstance(entry, dict):
            problem("wrong_shape", "wrong shape: each entry of Segments must be an object")
            continue
        segment_id = entry.get("Segment_ID")
        if segment_id is None:
            problem("segment_id", "a segment has no Segment_ID")
        elif isinstance(segment_id, int) and not isinstance(segment_id, bool):
            report.warnings["a Segment_ID is a number: send segment ids as strings"] += 1
        elif not isinstance(segment_id, str) or not segment_id:
            problem("segment_id", "Segment_ID must be a non-empty string")
        status = entry.get("Status")
        if status is None:
            problem("status_value", "a segment has no Status (1 = has it, 0 = remove it)")
        elif isinstance(status, bool) or status not in (0, 1):
            problem("status_value", "Status must be the number 1 or 0")
    if "ttl_seconds" in document:
        ttl = document["ttl_seconds"]
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
            problem("ttl_seconds", "ttl_seconds must be a non-negative integer (seconds)")


def check(
    url: str,
    secret: str | None,
    header: str = "X-Signature",
    count: int = 20,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    max_wait_ms: int = DEFAULT_MAX_WAIT_MS,
    auth: str = "hmac",
    dpid: int = 900,
    seed: int | None = None,
) -> Report:
    rng = random.Random(seed)
    report = Report(url, count, timeout_ms)
    session = requests.Session()
    session.trust_env = False  # straight to the endpoint: no proxies from the environment
    try:
        for index in range(count):
            body = sample_body(index, rng, dpid)
            judge(exchange(session, url, body, _headers(auth, secret, header, body, timeout_ms),
                           max_wait_ms), report, max_wait_ms)
        if secret and count:
            body = sample_body(count, rng, dpid)
            forged = _headers(auth, secret + "-wrong", header, body, timeout_ms)
            answer = exchange(session, url, body, forged, max_wait_ms)
            if answer.failure is None and answer.status in (200, 204):
                report.warnings["a request with a wrong signature was answered: check the "
                                "signature before answering"] += 1
    finally:
        session.close()
    return report


def _headers(
    auth: str, secret: str | None, header: str, body: bytes, timeout_ms: int
) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "X-Request-Deadline-Ms": str(timeout_ms)}
    if secret:
        if auth == "bearer":
            headers["Authorization"] = f"Bearer {secret}"
        else:
            headers[header] = sign(secret, body)
    return headers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.contract_check",
                                     description="Check a provider against the rtdcs contract.")
    parser.add_argument("url", help="the provider endpoint (as in the provider's url)")
    parser.add_argument("--secret", help="shared secret for signing (omit: unsigned requests)")
    parser.add_argument("--header", default="X-Signature", help="HMAC signature header")
    parser.add_argument("--auth", choices=("hmac", "bearer"), default="hmac")
    parser.add_argument("--count", type=int, default=20, help="sample requests to send")
    parser.add_argument("--timeout-ms", type=int, default=DEFAULT_TIMEOUT_MS,
                        help="the provider's timeoutMs to hold latencies against")
    parser.add_argument("--max-wait-ms", type=int, default=DEFAULT_MAX_WAIT_MS,
                        help="longest wait for one complete answer")
    parser.add_argument("--dpid", type=int, default=900, help="User_DPID in the samples")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.count < 1 or args.timeout_ms < 1 or args.max_wait_ms < 1:
        parser.error("--count, --timeout-ms and --max-wait-ms must be positive")
    if not args.url.startswith(("http://", "https://")):
        parser.error("URL must start with http:// or https://")
    report = check(args.url, args.secret, args.header, args.count, args.timeout_ms,
                   args.max_wait_ms, args.auth, args.dpid)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.text())
    return 0 if report.conforming else 1


if __name__ == "__main__":
    sys.exit(main())
