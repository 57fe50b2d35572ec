"""Concurrent admin writers over real HTTP (``chalice local`` + moto server), issue 12: 8 threads
create 100 traits each. Every create lands (no 409: a lost race is retried, not refused), ids
are unique, and /event realizes all 800 traits within 10 s of the last change."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import requests

from devtools.stack import LocalStack

pytestmark = pytest.mark.integration

WRITERS = 8
CREATES = 100
PROPAGATION_S = 10.0  # admin-api.md
HTTP_TIMEOUT_S = 30


def _writer(stack: LocalStack, tag: str, writer: int, out: dict[str, Any]) -> None:
    http = requests.Session()
    http.trust_env = False  # loopback only
    auth = {"Authorization": f"Bearer {stack.admin_token}"}
    for i in range(CREATES):
        body = {"name": f"{tag} w{writer} #{i}", "traitType": "RULE_BASED_TRAIT",
                "dataSourceId": 1, "traitRule": f'c_{tag}{writer} == "{i}"'}
        answer = http.post(f"{stack.dcs_url}/v1/traits", json=body, headers=auth,
                           timeout=HTTP_TIMEOUT_S)
        with out["lock"]:
            out["statuses"].append(answer.status_code)
            if answer.status_code == 201:
                out["sids"].append(int(answer.json()["sid"]))
    http.close()


def test_eight_writers_create_800_traits_and_event_serves_them(
    local_stack: LocalStack, stack_http: requests.Session
) -> None:
    tag = "k" + uuid.uuid4().hex[:6]
    out: dict[str, Any] = {"lock": threading.Lock(), "statuses": [], "sids": []}
    threads = [threading.Thread(target=_writer, args=(local_stack, tag, w, out))
               for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    statuses = out["statuses"]
    assert len(statuses) == WRITERS * CREATES
    assert statuses.count(201) == WRITERS * CREATES, {s: statuses.count(s) for s in set(statuses)}
    assert len(set(out["sids"])) == WRITERS * CREATES  # unique ids
    last_change = time.monotonic()
    query = "&".join(f"c_{tag}{w}={i}" for w in range(WRITERS) for i in range(CREATES))
    wanted = set(out["sids"])
    while True:
        stack_http.cookies.clear()
        answer = stack_http.post(f"{local_stack.dcs_url}/event", data=f"d_rtbd=json&d_cts=1&{query}",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"},
                                 timeout=HTTP_TIMEOUT_S)
        assert answer.status_code == 200, answer.text
        served = wanted & set(answer.json().get("traits", []))
        if served == wanted:
            break
        if time.monotonic() - last_change > PROPAGATION_S:
            pytest.fail(f"{len(wanted - served)} of {len(wanted)} traits not served "
                        f"within {PROPAGATION_S} s of the last change")
        time.sleep(0.25)
