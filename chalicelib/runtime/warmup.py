"""Getting the API ready before the first request, where init time is pre-paid.

app.py imports only the route declarations; each handler module loads on its route's first
call (``chalicelib/routes/__init__.py``), and the boto3 clients are built on first use. With
provisioned concurrency or SnapStart the init phase runs before any request and is not on a
visitor's path, so there the API handlers are imported and the container's collaborators
(boto3 clients, HTTP connection pool, thread pool: no network call) are built at init instead.
Lambda names the kind of init in ``AWS_LAMBDA_INITIALIZATION_TYPE``. ``bench/cold_event.py``
measures both kinds.
"""

from __future__ import annotations

import importlib
import logging
from typing import Mapping

PREPAID_INIT_TYPES = frozenset({"provisioned-concurrency", "snap-start"})
# What the first /event, /ibs or asset request would load.
API_HANDLER_MODULES = (
    "chalicelib.handlers.event",
    "chalicelib.handlers.privacy",
    "chalicelib.handlers.assets",
)


def init_is_prepaid(environ: Mapping[str, str]) -> bool:
    return environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "") in PREPAID_INIT_TYPES


def preload(modules: tuple[str, ...] = API_HANDLER_MODULES, build: bool = True) -> None:
    for name in modules:
        importlib.import_module(name)
    if not build:
        return
    from chalicelib.runtime.services import get_services

    try:
        get_services().prebuild()  # /ibs, /optout and /id's services too
    except Exception:  # noqa: BLE001 - init must not fail: the first request builds again
        logging.getLogger("rtdcs.warmup").exception("could not build the services at init")
