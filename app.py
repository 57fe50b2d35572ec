"""rtdcs: a real-time audience Data Collection Server on AWS Lambda.

This module only creates the Chalice app and registers the blueprints; all logic lives in
chalicelib/. Nothing here builds a boto3 client or table, and the handlers' code loads on
each route's first call (or here, when Lambda's init is pre-paid: chalicelib/runtime/warmup.py).
"""

import logging
import os
from typing import Any

from chalice import Chalice

from chalicelib.routes.admin import admin
from chalicelib.routes.admin_ops import admin_ops
from chalicelib.routes.assets import assets
from chalicelib.routes.console import console
from chalicelib.routes.dcs import dcs
from chalicelib.routes.id import ids
from chalicelib.routes.insight import insight
from chalicelib.routes.privacy import privacy
from chalicelib.routes.s2s import s2s
from chalicelib.routes.spool import spool
from chalicelib.runtime.warmup import init_is_prepaid, preload

app = Chalice(app_name="rtdcs")
# The GIF answer goes to browsers that send "Accept: image/*" (API Gateway binary media type).
app.api.binary_types.append("image/*")
app.log.setLevel(logging.INFO)
logging.getLogger("rtdcs").setLevel(logging.INFO)

app.register_blueprint(dcs)
app.register_blueprint(ids)
app.register_blueprint(assets)
app.register_blueprint(admin)
app.register_blueprint(admin_ops)
app.register_blueprint(s2s)
app.register_blueprint(privacy)
app.register_blueprint(spool)
app.register_blueprint(insight)
app.register_blueprint(console)

_front_door: list[Any] = []


def front_door(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda handler behind a function URL or an HTTP API (``python -m infra package
    --front-door url|http``); the REST API of ``chalice deploy`` calls ``app`` itself, so the
    front door's module loads on its first call, not with every app."""
    if not _front_door:
        from chalicelib.runtime.front_door import front_door_handler

        _front_door.append(front_door_handler(app))
    answer: dict[str, Any] = _front_door[0](event, context)
    return answer

if init_is_prepaid(os.environ):
    preload()
