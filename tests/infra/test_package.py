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
    functions = [r["Properties"] for r in resources.values()
                 if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == 5  # API, spool, S2S, insight, reports: no platform lines in any
    assert all(f["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": "INFO",
                                      "SystemLogLevel": "WARN"} for f in functions)



# -- the cheaper front doors (issue 17) --------------------------------------------------------


@pytest.fixture(scope="module", params=["http", "url"])
def front_door_package(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, dict[str, Any]]:
    outdir = tmp_path_factory.mktemp(f"package-{request.param}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | DUMMY_AWS_ENV
    env.pop("AWS_ENDPOINT_URL", None)
    sam = package("prod", outdir, env=env, front_door=request.param)
    return request.param, sam, json.loads(sam.read_text(encoding="utf-8"))


def test_front_door_templates_pass_cfn_lint(
    front_door_package: tuple[str, Path, dict[str, Any]]
) -> None:
    from cfnlint.api import ManualArgs, lint_file

    matches = list(lint_file(front_door_package[1], config=ManualArgs(regions=["us-east-1"])))
    assert matches == [], "\n".join(str(m) for m in matches)


def test_front_door_replaces_the_rest_api(
    front_door_package: tuple[str, Path, dict[str, Any]]
) -> None:
    kind, _, template = front_door_package
    resources = template["Resources"]
    assert "RestAPI" not in resources and "APIHandlerInvokePermission" not in resources
    assert not any("RestAPI" in json.dumps(v) for v in template.get("Outputs", {}).values())
    api = resources["APIHandler"]["Properties"]
    assert api["Handler"] == "app.front_door"
    if kind == "http":
        stage = resources["HttpAPIStage"]["Properties"]
        assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == \
            STAGE_PROFILES["prod"].throttle_rate
        assert resources["HttpAPIIntegration"]["Properties"]["PayloadFormatVersion"] == "1.0"
        assert resources["HttpAPIDefaultRoute"]["Properties"]["RouteKey"] == "$default"
    else:
        assert resources["FunctionUrl"]["Properties"]["AuthType"] == "NONE"
        actions = {r["Properties"]["Action"] for r in resources.values()
                   if r["Type"] == "AWS::Lambda::Permission"}
        assert actions == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
        assert api["ReservedConcurrentExecutions"] == STAGE_PROFILES["prod"].url_concurrency
        assert "Cors" not in resources["FunctionUrl"]["Properties"], "the app answers CORS"


def _data_resources(template: dict[str, Any]) -> dict[str, Any]:
    """The packaged template's resources moto's CloudFormation can create (no functions)."""
    keep = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS::Topic")
    return {"AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": template.get("Parameters", {}),
            "Conditions": template.get("Conditions", {}),
            "Resources": {name: r for name, r in template["Resources"].items()
                          if r["Type"] in keep}}


def test_a_function_url_template_deployed_into_moto_serves_an_event(
    front_door_package: tuple[str, Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The template's tables and queues created in moto; the API function's handler (by its
    ``Handler`` name) and environment (its ``Ref``s resolved to the created resources) serve
    a function URL event, and the profile lands in the stack's table."""
    import importlib

    import boto3
    from moto import mock_aws

    from chalicelib.runtime import services

    kind, _, template = front_door_package
    with mock_aws():
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(StackName="rtdcs-prod",
                                    TemplateBody=json.dumps(_data_resources(template)))
        created = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in
                   cloudformation.describe_stack_resources(StackName="rtdcs-prod")
                   ["StackResources"]}
        api = template["Resources"]["APIHandler"]["Properties"]
        for name, value in api["Environment"]["Variables"].items():
            if isinstance(value, dict):
                value = created[value["Ref"]]
            monkeypatch.setenv(name, str(value))
        monkeypatch.delenv("RTDCS_ADMIN_TOKEN_PARAMETER", raising=False)
        module_name, function_name = api["Handler"].rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), function_name)
        services.reset()
        try:
            event = {"version": "2.0", "rawPath": "/event",
                     "rawQueryString": "d_rtbd=json&c_section=sports",
                     "headers": {"host": "x.lambda-url.us-east-1.on.aws"},
                     "requestContext": {"http": {"method": "GET", "path": "/event",
                                                 "sourceIp": "203.0.113.9"}}}
            if kind == "http":  # HTTP API, payload 1.0, $default route
                event = {"resource": "$default", "path": "/event", "httpMethod": "GET",
                         "headers": {"Host": "x"}, "multiValueHeaders": {"Host": ["x"]},
                         "queryStringParameters": {"d_rtbd": "json", "c_section": "sports"},
                         "multiValueQueryStringParameters": {"d_rtbd": ["json"],
                                                             "c_section": ["sports"]},
                         "requestContext": {"resourcePath": "$default", "httpMethod": "GET",
                                            "path": "/event", "identity": {"sourceIp": "1"}},
                         "pathParameters": None, "stageVariables": None, "body": None}
            answer = handler(event, None)
            assert answer["statusCode"] == 200, answer
            uuid = json.loads(answer["body"])["uuid"]
            table = boto3.resource("dynamodb").Table(created["ProfilesTable"])
            assert table.get_item(Key={"uuid": uuid}).get("Item"), "no profile in the stack"
        finally:
            services.reset()


def test_every_function_is_arm64_with_aarch64_wheels(
    packaged: tuple[Path, dict[str, Any]]
) -> None:
    """Graviton: about 20 % less per GB-s; every compiled dependency has an aarch64 wheel."""
    import zipfile

    functions = {name: r["Properties"] for name, r in packaged[1]["Resources"].items()
                 if r["Type"] == "AWS::Serverless::Function"}
    assert functions and all(p["Architectures"] == ["arm64"] for p in functions.values())
    for zip_name, expected in (("deployment.zip", "regex/_regex"),
                               ("insight-layer.zip", "python/_datasketches")):
        archive = zipfile.ZipFile(packaged[0].parent / zip_name)
        compiled = [n for n in archive.namelist() if n.endswith(".so")]
        assert any(expected in n for n in compiled), compiled
        # By the ELF header (e_machine 183 = AArch64): vendored libraries such as numpy.libs/
        # libscipy_openblas64_-*.so carry no architecture in their names.
        machines = {n: int.from_bytes(archive.open(n).read(20)[18:20], "little")
                    for n in compiled}
        assert compiled and all(m == 183 for m in machines.values()), machines


def test_datasketches_ride_in_the_insight_functions_layer_only(
    packaged: tuple[Path, dict[str, Any]]
) -> None:
    """The API function's package no longer carries DataSketches and numpy (49 MB): the two
    insight functions get them from a layer, and the API invokes insight_reports."""
    import zipfile

    resources = packaged[1]["Resources"]
    names = zipfile.ZipFile(packaged[0].parent / "deployment.zip").namelist()
    assert not [n for n in names if n.startswith(("numpy", "datasketches", "_datasketches"))]
    layer = resources["InsightLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "./insight-layer.zip"
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    layer_names = zipfile.ZipFile(packaged[0].parent / "insight-layer.zip").namelist()
    assert any(n.startswith("python/numpy/") for n in layer_names)
    assert any(n.startswith("python/datasketches") for n in layer_names)
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        expected = [{"Ref": "InsightLayer"}] if name.startswith("Insight") else None
        assert resource["Properties"].get("Layers") == expected, name
    reports = resources["InsightReports"]["Properties"]
    assert reports["FunctionName"] == {"Fn::Sub": "rtdcs-${Stage}-insight_reports"}
    assert reports["Handler"] == "chalicelib.routes.insight.insight_reports"
    api_env = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert api_env["RTDCS_INSIGHT_REPORTS_FUNCTION"] == "rtdcs-prod-insight_reports"
