"""The insight functions' Lambda layer: DataSketches and numpy for arm64 (docs/deploy.md).

They are 49 MB unzipped, and only the two insight functions use them (the aggregator and
``insight_reports``, which the API invokes for the reports' math). In the shared package they
made every API cold start carry them; in a layer only those two functions do.

The layer is built from ``requirements-insight.txt`` with pip's own platform download
(manylinux2014 aarch64 wheels for CPython 3.11, binary only, as Chalice builds the package),
unpacked under ``python/`` (Lambda puts ``/opt/python`` on ``sys.path``). The zip is cached by
the requirements' hash under ``.chalice/deployments/``. ``python -m infra deploy`` publishes it
as ``rtdcs-<stage>-insight`` when its hash changed; ``python -m infra package`` puts it beside
the template.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements-insight.txt"
CACHE_DIR = ROOT / ".chalice" / "deployments"
PLATFORM = ("--platform", "manylinux2014_aarch64", "--python-version", "3.11",
            "--implementation", "cp", "--abi", "cp311", "--only-binary=:all:")

Downloader = Callable[[Path, Path], None]


def requirements_digest(requirements: Path = REQUIREMENTS) -> str:
    """The layer's identity: what it is built from (and for which platform)."""
    text = requirements.read_text(encoding="utf-8") + " ".join(PLATFORM)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pip_download(requirements: Path, into: Path) -> None:
    """The wheels of ``requirements`` for the Lambda arm64 runtime (no source builds)."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               *PLATFORM, "-r", str(requirements), "-d", str(into)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pip download for the insight layer failed:\n{result.stderr}")


def layer_zip(wheels: Path) -> bytes:
    """The wheels unpacked under ``python/``, as one zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as layer:
        for wheel in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                for info in archive.infolist():
                    if info.is_dir():
                        continue
                    target = zipfile.ZipInfo(f"python/{info.filename}", info.date_time)
                    target.external_attr = info.external_attr
                    target.compress_type = zipfile.ZIP_DEFLATED
                    layer.writestr(target, archive.read(info))
    return buffer.getvalue()


def build(requirements: Path = REQUIREMENTS, cache_dir: Path = CACHE_DIR,
          download: Downloader = pip_download) -> Path:
    """The layer zip for ``requirements`` (built once per requirements' hash)."""
    cached = cache_dir / f"insight-layer-{requirements_digest(requirements)}.zip"
    if cached.exists():
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rtdcs-layer-") as tmp:
        download(requirements, Path(tmp))
        data = layer_zip(Path(tmp))
    partial = cached.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(cached)  # never a half-written zip under the final name
    return cached


def copy_to(outdir: Path, name: str = "insight-layer.zip", **kwargs: Any) -> Path:
    target = outdir / name
    shutil.copyfile(build(**kwargs), target)
    return target


def layer_name(stage: str) -> str:
    return f"rtdcs-{stage}-insight"


def publish(lambda_client: Any, stage: str, zip_path: Path, digest: str) -> str:
    """The layer version ARN for ``digest``: the newest version if it was built from the same
    requirements, else a new version."""
    name = layer_name(stage)
    versions = lambda_client.list_layer_versions(LayerName=name).get("LayerVersions", [])
    newest = max(versions, key=lambda v: v["Version"], default=None)
    if newest is not None and newest.get("Description") == digest:
        return str(newest["LayerVersionArn"])
    published = lambda_client.publish_layer_version(
        LayerName=name, Description=digest, Content={"ZipFile": zip_path.read_bytes()},
        CompatibleRuntimes=["python3.11"], CompatibleArchitectures=["arm64"])
    return str(published["LayerVersionArn"])
