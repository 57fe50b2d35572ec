"""The house order of architecture.md, checked on the source tree (issue 13, "House order"):
imports run one way, settings come from config.py only, and the package root holds only the
pipeline and the settings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CHALICELIB = Path(__file__).resolve().parents[2] / "chalicelib"
MODULES = sorted(p for p in CHALICELIB.rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    parts = path.relative_to(CHALICELIB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (lazy imports in functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _importers_of(prefix: str) -> list[str]:
    return [_module_name(p) for p in MODULES
            if any(name == prefix or name.startswith(prefix + ".") for name in _imports(p))]


def test_the_package_root_holds_only_the_pipeline_and_the_settings() -> None:
    loose = sorted(p.name for p in CHALICELIB.glob("*.py"))
    assert loose == ["__init__.py", "config.py", "pipeline.py"]


def test_nothing_below_the_routes_imports_them() -> None:
    importers = [m for m in _importers_of("chalicelib.routes")
                 if not m.startswith("chalicelib.routes")]
    assert importers == []


@pytest.mark.parametrize("package", ["chalicelib.rules", "chalicelib.consent", "chalicelib.core",
                                     "chalicelib.store", "chalicelib.dcs"])
def test_lower_layers_do_not_import_the_wiring_or_the_handlers(package: str) -> None:
    upper = ("chalicelib.handlers", "chalicelib.routes", "chalicelib.runtime.services",
             "chalicelib.pipeline")
    offenders = {_module_name(p): sorted(n for n in _imports(p) if n.startswith(upper))
                 for p in MODULES if _module_name(p).startswith(package)}
    assert {m: names for m, names in offenders.items() if names} == {}


def test_rules_are_pure() -> None:
    io = ("boto3", "botocore", "requests", "urllib3", "socket", "chalicelib.store")
    offenders = {_module_name(p): sorted(n for n in _imports(p) if n.startswith(io))
                 for p in MODULES if _module_name(p).startswith("chalicelib.rules")}
    assert {m: names for m, names in offenders.items() if names} == {}


def test_only_config_reads_the_environment() -> None:
    readers = []
    for path in MODULES:
        if path.name == "config.py" and path.parent == CHALICELIB:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and (
                    isinstance(node.value, ast.Name) and node.value.id == "os"):
                readers.append(f"{_module_name(path)}:{node.lineno}")
    assert readers == []


def test_the_s2s_function_does_not_build_the_event_wiring() -> None:
    s2s_imports = _imports(CHALICELIB / "handlers" / "s2s.py")
    assert not any(n.startswith(("chalicelib.runtime.services", "chalicelib.pipeline"))
                   for n in s2s_imports)
