"""`chalice package` with the data stack merged in: one SAM template that cfn-lint accepts.

Needs no AWS access (dummy credentials; Chalice only reads the project and builds the zip,
reusing its cached dependency build under .chalice/deployments)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from devtools.stack import DUMMY_AWS_ENV
from infra.deploy import STAGE_PROFILES
from infra.package import package


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    outdir = tmp_path_factory.mktemp("package")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | DUMMY_AWS_ENV
    env.pop("AWS_ENDPOINT_URL", None)
    sam = package("prod", outdir, env=env)
    return sam, json.loads(sam.read_text(encoding="utf-8"))


def test_packaged_template_passes_cfn_lint(packaged: tuple[Path, dict[str, Any]]) -> None:
    from cfnlint.api import ManualArgs, lint_file

    matches = list(lint_file(packaged[0], config=ManualArgs(regions=["us-east-1"])))
    assert matches == [], "\n".join(str(m) for m in matches)


def test_one_stack_with_app_and_data(packaged: tuple[Path, dict[str, Any]]) -> None:
    template = packaged[1]
    resources = template["Resources"]
    assert template["Parameters"]["Stage"]["Default"] == "prod"
    for name in ("ProfilesTable", "SpoolQueue", "S2SQueue", "Dashboard", "APIHandler",
                 "SpoolReplay", "S2sDelivery", "RestAPI"):
        assert name in resources, name
    api_env = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert api_env["RTDCS_PROFILES_TABLE"] == {"Ref": "ProfilesTable"}
    assert api_env["RTDCS_SPOOL_QUEUE_URL"] == {"Ref": "SpoolQueue"}
    spool_event = resources["SpoolReplay"]["Properties"]["Events"]["SpoolReplaySqsEventSource"]
    assert spool_event["Properties"]["Queue"] == {"Fn::GetAtt": ["SpoolQueue", "Arn"]}
    assert spool_event["Properties"]["BatchSize"] == 10
    s2s_event = resources["S2sDelivery"]["Properties"]["Events"]["S2sDeliverySqsEventSource"]
    assert s2s_event["Properties"]["Queue"] == {"Fn::GetAtt": ["S2SQueue", "Arn"]}
    throttle = resources["RestAPI"]["Properties"]["MethodSettings"][0]
    assert throttle["ThrottlingRateLimit"] == STAGE_PROFILES["prod"].throttle_rate
    assert throttle["ResourcePath"] == "/*" and throttle["HttpMethod"] == "*"
    assert resources["SpoolReplay"]["Properties"]["Timeout"] == 60

