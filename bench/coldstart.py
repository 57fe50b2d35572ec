"""Cold-start cost of the function: app import time against a bare Chalice app, and the size
of the deployment package. Prints one JSON document.

    .venv/bin/python bench/coldstart.py [--runs 9] [--no-package]

* ``import_ms``: median wall time of ``import app`` in a fresh interpreter (``--runs`` runs,
  interleaved with the baseline so machine load hits both alike), against a bare Chalice app
  that imports boto3 (``baseline_ms``); ``ratio`` = app / baseline (target <= 1.25).
  app.py imports only the route declarations (not even boto3), so this ratio is below 1.
* ``first_event_imports_ms``: the honest cold-start figure for the API function: ``import
  app`` plus everything the first ``/event`` loads on top of it (the API handlers through
  ``chalicelib.runtime.warmup.preload``, which pulls in boto3 and the rules engine, the EMF
  metrics of chalicelib/runtime/observability.py, and what building the DynamoDB resource and
  the first connection import: ``tests/integration/test_coldstart_honesty.py`` checks this
  body against a real first ``/event``'s modules); ``first_event_ratio`` against
  the same baseline, held to the same 1.25 target (``first_event_within_target``).
* ``package``: ``chalice package`` (prod, data stack merged) deployment.zip size, compressed
  and uncompressed (target <= 10 MB; boto3/botocore come with the Lambda runtime).

Dummy AWS credentials, no network: Chalice only builds the zip (its dependency build is
cached under .chalice/deployments after the first run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.stack import DUMMY_AWS_ENV  # noqa: E402

BARE_APP = 'import boto3\nfrom chalice import Chalice\n\napp = Chalice(app_name="bare")\n'
# Wall ms and this process's CPU ms (the CPU figure hardly moves with the machine's load).
_TIMER = (
    "import time; t = time.perf_counter(); c = time.process_time(); {body}; "
    "print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)"
)
APP_IMPORT = "import app"
FIRST_EVENT = (
    "import app; from chalicelib.runtime import observability, warmup; "
    # The /event handler only: /ibs's and the assets' handlers load on their own first call
    # (tests/integration/test_coldstart_honesty.py checks both ways).
    "warmup.preload(('chalicelib.handlers.event',), build=False); observability.observer(); "
    # Imported by the first /event without code of ours: boto3's DynamoDB resource classes
    # (building the resource) and the IDNA codec (the first connection's host name).
    "import boto3.dynamodb.conditions, boto3.dynamodb.table, boto3.dynamodb.transform, "
    "encodings.idna"
)
TARGET_RATIO = 1.25
TARGET_PACKAGE_BYTES = 10 * 1024 * 1024


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(DUMMY_AWS_ENV)
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    return env


def _time(body: str, cwd: Path) -> tuple[float, float]:
    """(wall ms, CPU ms) of ``body`` in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", _TIMER.format(body=body)], cwd=cwd, env=_env(),
                         capture_output=True, text=True, check=True, timeout=120)
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def measure_imports(runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="rtdcs-bare-") as tmp:
        bare = Path(tmp)
        (bare / "app.py").write_text(BARE_APP, encoding="utf-8")
        # Warm the file cache and bytecode once for each, then measure interleaved.
        _time(APP_IMPORT, ROOT), _time(FIRST_EVENT, ROOT), _time(APP_IMPORT, bare)
        app: list[float] = []
        first: list[float] = []
        base: list[float] = []
        app_cpu: list[float] = []
        first_cpu: list[float] = []
        base_cpu: list[float] = []
        for _ in range(runs):
            for body, cwd, walls, cpus in ((APP_IMPORT, bare, base, base_cpu),
                                           (APP_IMPORT, ROOT, app, app_cpu),
                                           (FIRST_EVENT, ROOT, first, first_cpu)):
                wall, cpu = _time(body, cwd)
                walls.append(wall)
                cpus.append(cpu)
    median = {name: statistics.median(v) for name, v in
              (("app", app), ("first", first), ("base", base))}
    cpu_median = {name: statistics.median(v) for name, v in
                  (("first", first_cpu), ("base", base_cpu))}
    return {
        "runs": runs,
        "import_ms": round(median["app"], 1),
        "baseline_ms": round(median["base"], 1),
        "ratio": round(median["app"] / median["base"], 3),
        "first_event_imports_ms": round(median["first"], 1),
        "first_event_ratio": round(median["first"] / median["base"], 3),
        # The same ratio in CPU time: steadier than wall time on a shared machine.
        "first_event_cpu_ms": round(cpu_median["first"], 1),
        "baseline_cpu_ms": round(cpu_median["base"], 1),
        "first_event_cpu_ratio": round(cpu_median["first"] / cpu_median["base"], 3),
        "target_ratio": TARGET_RATIO,
        "samples_ms": {"app": [round(x, 1) for x in app],
                       "first_event": [round(x, 1) for x in first],
                       "baseline": [round(x, 1) for x in base]},
    }


def measure_package() -> dict[str, object]:
    from infra.package import package

    with tempfile.TemporaryDirectory(prefix="rtdcs-package-") as tmp:
        sam = package("prod", Path(tmp), env=_env())
        archive = sam.parent / "deployment.zip"
        with zipfile.ZipFile(archive) as zipped:
            uncompressed = sum(info.file_size for info in zipped.infolist())
            top = sorted({name.split("/")[0] for name in zipped.namelist()})
        size = archive.stat().st_size
    return {
        "zip_bytes": size,
        "zip_mb": round(size / 1024 / 1024, 2),
        "uncompressed_mb": round(uncompressed / 1024 / 1024, 2),
        "target_mb": TARGET_PACKAGE_BYTES // 1024 // 1024,
        "within_target": size <= TARGET_PACKAGE_BYTES,
        "contents": top,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-package", action="store_true")
    args = parser.parse_args()
    report: dict[str, object] = {"imports": measure_imports(max(1, args.runs))}
    if not args.no_package:
        report["package"] = measure_package()
    imports = report["imports"]
    assert isinstance(imports, dict)
    report["within_target"] = imports["ratio"] <= TARGET_RATIO
    report["first_event_within_target"] = imports["first_event_ratio"] <= TARGET_RATIO
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
