"""Infra tests reuse the route fixtures (app + data stack in moto + provider simulator)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.runtime import observability
from chalicelib.routes import spool as spool_routes
from tests.routes.conftest import client, profiles_table, simulator, tables  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_runtimes() -> Iterator[None]:
    spool_routes.install(None)
    observability.install(None)
    yield
    spool_routes.install(None)
    observability.install(None)
