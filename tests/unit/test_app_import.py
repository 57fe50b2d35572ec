"""Issue #2: app.py stays thin and builds no boto3 client or table at import time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from chalicelib.runtime.warmup import init_is_prepaid, preload

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
from chalicelib.runtime import services
from chalicelib.store import dynamo
print(created, dynamo._resources == {}, services._services is None)
"""


def test_importing_the_app_creates_no_aws_client() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[] True True", out.stdout + out.stderr


def test_app_py_is_under_100_lines() -> None:
    assert len((ROOT / "app.py").read_text().splitlines()) < 100


_LOADED = """
import sys
import app
names = ("chalicelib.handlers.event", "chalicelib.handlers.admin", "chalicelib.handlers.spool",
         "chalicelib.handlers.s2s", "chalicelib.pipeline", "chalicelib.admin.schemas",
         "chalicelib.rules.catalog", "requests", "chalicelib.identity.idsync",
         "chalicelib.privacy.optout", "chalicelib.identity.id_service")
loaded = [name for name in names if name in sys.modules]
services = sys.modules.get("chalicelib.runtime.services")
if services is not None and services._services is not None:
    loaded.append("services-built")
print(",".join(loaded) or "-")
"""


def _loaded_after_import(init_type: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_INITIALIZATION_TYPE"}
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # building clients makes no call; if one did
    if init_type:
        env["AWS_LAMBDA_INITIALIZATION_TYPE"] = init_type
    out = subprocess.run([sys.executable, "-c", _LOADED], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip()


def test_on_demand_init_loads_no_handler_code() -> None:
    # Each route loads its handler on first call: an SQS function never loads the rules engine.
    assert _loaded_after_import("on-demand") == "-"
    assert _loaded_after_import(None) == "-"


def test_prepaid_init_loads_the_api_handlers_and_builds_the_clients() -> None:
    loaded = _loaded_after_import("provisioned-concurrency").split(",")
    assert "chalicelib.handlers.event" in loaded and "chalicelib.pipeline" in loaded
    assert "chalicelib.handlers.admin" not in loaded  # admin stays lazy even then
    assert "services-built" in loaded
    # /ibs, /optout and /id's services are built too (Services.prebuild), not only /event's.
    assert {"chalicelib.identity.idsync", "chalicelib.privacy.optout",
            "chalicelib.identity.id_service"} <= set(loaded)
    assert "requests" not in loaded  # providers are called through urllib3


def test_init_is_prepaid_reads_lambdas_init_type() -> None:
    assert init_is_prepaid({"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"})
    assert init_is_prepaid({"AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"})
    assert not init_is_prepaid({"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"})
    assert not init_is_prepaid({})


def test_preload_imports_what_it_names() -> None:
    preload(("chalicelib.handlers.privacy",), build=False)
    assert "chalicelib.handlers.privacy" in sys.modules


# Issue 17: what only other routes, merge rules, capture, privacy signals (GPP, us_privacy,
# TCF), media clicks, unusual cookie headers, the function URL front door or the S2S consumer
# use loads on first use, not with every first /event (bench/coldstart.py's FIRST_EVENT body).
_FIRST_EVENT = """
import sys
import app
from chalicelib.runtime import observability, warmup
warmup.preload(build=False)
observability.observer()
lazy = ("requests", "chalicelib.identity.merge", "chalicelib.identity.id_service",
        "chalicelib.identity.idsync", "chalicelib.identity.blob", "chalicelib.privacy.optout",
        "chalicelib.debug.setting", "chalicelib.destinations.s2s_delivery",
        "chalicelib.admin.auth", "chalicelib.spool.codec", "chalicelib.consent.gpp",
        "chalicelib.consent.mspa", "chalicelib.consent.us_privacy", "chalicelib.consent.tcf",
        "chalicelib.dcs.redirects", "chalicelib.runtime.front_door", "http.cookies")
print(",".join(name for name in lazy if name in sys.modules) or "-")
"""


def test_the_first_event_loads_no_other_routes_code() -> None:
    out = subprocess.run([sys.executable, "-c", _FIRST_EVENT], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "-", out.stdout + out.stderr
