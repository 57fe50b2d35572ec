"""bench/coldstart.py's FIRST_EVENT body loads at least every module a real first ``/event``
loads (issue 17): otherwise its ratio would flatter the app. A fresh process serves one GET
/event the way Lambda does (``import app``, then ``app.app(event, context)``) against the local
stack, and its ``sys.modules`` is compared with the body's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cold_event import _CHILD
from bench.coldstart import FIRST_EVENT
from devtools.stack import LocalStack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
_MARK = "MODULES "
_PRINT = f"import sys, json; print({_MARK!r} + json.dumps(sorted(sys.modules)))"


def _modules(code: str, env: dict[str, str]) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith(_MARK))
    return set(json.loads(line[len(_MARK):]))


def test_the_bench_body_loads_what_a_real_first_event_loads(local_stack: LocalStack) -> None:
    env = dict(local_stack.env, AWS_LAMBDA_INITIALIZATION_TYPE="on-demand")
    # cold_event's child serves two events; the modules are read after the first.
    one_event = _CHILD.split('for section in ("sports", "news"):')[0] + (
        'answer = app.app(proxy_event({"d_rtbd": "json", "c_section": "sports"}, None), '
        "Context())\nassert answer['statusCode'] == 200, answer\n" + _PRINT + "\n")
    real = _modules(one_event, env)
    bench = _modules(f"{FIRST_EVENT}; {_PRINT}", env)
    assert real - bench == set()
    # Nor more (a body that loads what the event does not would flatter nothing, but would
    # hide a module the event stopped needing): chalicelib's modules are the same.
    assert {m for m in bench - real if m.startswith(("chalicelib", "app"))} == set()
