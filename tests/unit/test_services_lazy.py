"""Issue 17: the services of /ibs, /optout, /id and the admin token source are built on first
use (their modules stay off the first /event's path), once per Services, from its own
collaborators; a service given to the constructor is served as given."""

from __future__ import annotations

from typing import Any

from chalicelib.config import Settings
from chalicelib.identity.id_service import IdService
from chalicelib.identity.idsync import IdSync
from chalicelib.privacy.optout import OptOut
from chalicelib.runtime import services


def _services(**given: Any) -> services.Services:
    settings = Settings.from_env({})
    return services.Services(settings, object(), object(), object(), object(),  # type: ignore
                             given.get("id_sync"), given.get("opt_out"), object(),  # type: ignore
                             id_service=given.get("id_service"), s2s=given.get("s2s"))


def test_lazy_services_are_built_once_on_first_use() -> None:
    queue = object()
    built = _services(s2s=queue)
    id_sync, opt_out, id_service = built.id_sync, built.opt_out, built.id_service
    assert isinstance(id_sync, IdSync) and built.id_sync is id_sync
    assert isinstance(opt_out, OptOut) and built.opt_out is opt_out
    assert isinstance(id_service, IdService) and built.id_service is id_service
    assert opt_out._s2s is queue  # the container's S2S producer
    assert built.admin_tokens is services._container_admin_tokens()  # one per container


def test_given_services_are_served_as_given() -> None:
    given = {"id_sync": object(), "opt_out": object(), "id_service": object()}
    built = _services(**given)
    built.prebuild()
    assert built.id_sync is given["id_sync"] and built.opt_out is given["opt_out"]
    assert built.id_service is given["id_service"]
