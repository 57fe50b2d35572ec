"""devtools/adobe_id_service.py judges a run by what it recorded: the MID Visitor got must be
DIL's ``d_mid`` and the event's ``uuid`` (checked here on the recorded fixture, and on a
tampered copy that must fail)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from devtools.adobe_id_service import report

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "identity" / "adobe_visitor_dil.json"


def _result() -> dict[str, object]:
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    mid = recorded["visitor_mid"]
    return {"seen": {"mid": mid, "event": {"uuid": mid}}, "exchanges": recorded["exchanges"],
            "blocked": [], "console": []}


def test_the_recorded_run_passes() -> None:
    ok, lines = report(_result())
    assert ok, lines
    assert lines[-1].startswith("OK")


def test_a_run_where_the_ids_differ_fails() -> None:
    result = _result()
    tampered = copy.deepcopy(result)
    event = next(e for e in tampered["exchanges"] if e["path"].startswith("/event"))  # type: ignore[attr-defined]
    event["body"] = event["body"].replace("d_mid=", "d_mid=1")
    ok, lines = report(tampered)
    assert not ok and lines[-1].startswith("FAILED")
    other = copy.deepcopy(result)
    other["seen"] = {"mid": "1" * 38, "event": {"uuid": "1" * 38}}
    assert not report(other)[0]
