"""Issue #2: app.py stays thin and builds no boto3 client or table at import time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import botocore.session
created = []
original = botocore.session.Session.create_client
def spy(self, *args, **kwargs):
    created.append(args[0] if args else kwargs.get("service_name"))
    return original(self, *args, **kwargs)
botocore.session.Session.create_client = spy
import app
from chalicelib import services
from chalicelib.store import dynamo
print(created, dynamo._resources == {}, services._services is None)
"""


def test_importing_the_app_creates_no_aws_client() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[] True True", out.stdout + out.stderr


def test_app_py_is_under_100_lines() -> None:
    assert len((ROOT / "app.py").read_text().splitlines()) < 100
