"""``python -m devtools.catalog`` against the local stack (issue 12): export the catalog to an
NDJSON file, import the file back (ids kept: every object is replaced by itself), export again:
the same objects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools.stack import DUMMY_AWS_ENV, LocalStack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _cli(stack: LocalStack, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "devtools.catalog", *args, "--url", stack.dcs_url,
         "--token", stack.admin_token],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", **DUMMY_AWS_ENV},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _objects(path: Path) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        body = {k: v for k, v in entry["object"].items() if k not in ("createTime", "updateTime")}
        out.append((entry["kind"], body))
    return sorted(out, key=json.dumps)


def test_export_import_export_round_trip(local_stack: LocalStack, tmp_path: Path) -> None:
    first, second = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    exported = _cli(local_stack, "export", str(first))
    assert exported["exported"] > 0 and exported["by_kind"]["trait"] > 0
    imported = _cli(local_stack, "import", str(first))
    assert imported["imported"] == exported["exported"]
    _cli(local_stack, "export", str(second))
    assert _objects(second) == _objects(first)
