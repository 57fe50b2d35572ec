"""IAB reference-decoder vectors for GPP (tests/fixtures/gpp/README.md: how they are made)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "gpp" / "reference_decodes.json"
RESULTS: list[dict[str, Any]] = json.loads(FIXTURE.read_text(encoding="utf-8"))["results"]
BY_ID: dict[str, dict[str, Any]] = {r["id"]: r for r in RESULTS}
