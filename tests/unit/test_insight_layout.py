"""Audience insight stays off the /event path: its function builds no event wiring, and the
first event loads neither the DataSketches library nor numpy (bench/coldstart.py)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_aggregator_module_does_not_import_the_event_wiring_at_load() -> None:
    tree = ast.parse((ROOT / "chalicelib" / "handlers" / "insight.py").read_text())
    top_level = {node.module for node in tree.body
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not any(m.startswith(("chalicelib.runtime.services", "chalicelib.pipeline",
                                 "chalicelib.handlers.admin")) for m in top_level)


_PROBE = """
import sys
import app
from chalicelib.runtime.warmup import preload
preload()
print(sorted(m for m in ("datasketches", "numpy", "chalicelib.insight.sketches",
                          "chalicelib.handlers.insight") if m in sys.modules))
"""


def test_the_event_path_loads_no_sketch_library() -> None:
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
