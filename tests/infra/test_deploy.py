"""The deploy helper against moto: stack, stage settings, admin token, throttling, teardown;
and the committed .chalice files (config, least-privilege policies) against their source."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra import deploy as steps
from infra.policies import CHALICE_DIR, STAGES, policy_files, render

REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield {name: boto3.client(name, region_name=REGION)
               for name in ("cloudformation", "dynamodb", "ssm", "apigateway", "sqs")}


@pytest.fixture
def chalice_dir(tmp_path: Path) -> Path:
    target = tmp_path / ".chalice"
    target.mkdir()
    shutil.copy(CHALICE_DIR / "config.json", target / "config.json")
    return target


def _rest_api(apigw: Any, chalice_dir: Path, stage: str) -> str:
    """A REST API with an `api` stage, recorded the way `chalice deploy` records it."""
    api = apigw.create_rest_api(name="rtdcs")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    apigw.create_deployment(restApiId=api, stageName="api")
    (chalice_dir / "deployed").mkdir()
    record = {"resources": [{"name": "rest_api", "resource_type": "rest_api",
                             "rest_api_id": api, "rest_api_url": "https://x/api/"}]}
    (chalice_dir / "deployed" / f"{stage}.json").write_text(json.dumps(record))
    return api


def _deploy(aws: dict[str, Any], chalice_dir: Path, stage: str = "prod") -> steps.DeployReport:
    return steps.deploy(stage, aws["cloudformation"], aws["dynamodb"], aws["ssm"],
                        aws["apigateway"], config_path=chalice_dir / "config.json",
                        chalice_dir=chalice_dir, poll_s=0.05)


def test_deploy_writes_the_stack_outputs_into_the_stage(aws: dict[str, Any],
                                                        chalice_dir: Path) -> None:
    config_path = chalice_dir / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"]["prod"]["environment_variables"]["RTDCS_COOKIE_DOMAIN"] = ".shop.example"
    config_path.write_text(json.dumps(config))

    report = _deploy(aws, chalice_dir)

    env = json.loads(config_path.read_text())["stages"]["prod"]["environment_variables"]
    sqs = aws["sqs"]
    assert env["RTDCS_SPOOL_QUEUE_URL"] == sqs.get_queue_url(QueueName="rtdcs-prod-spool")[
        "QueueUrl"] == report.outputs["spool_queue_url"]
    assert env["RTDCS_S2S_QUEUE_URL"] == sqs.get_queue_url(QueueName="rtdcs-prod-s2s")["QueueUrl"]
    assert env["RTDCS_S2S_DLQ_URL"].endswith("/rtdcs-prod-s2s-dlq")
    assert env["RTDCS_PROFILES_TABLE"] == "rtdcs-prod-profiles"
    assert env["RTDCS_ADMIN_TOKEN_PARAMETER"] == "/rtdcs/prod/admin-token"
    assert env["POWERTOOLS_SERVICE_NAME"] == "rtdcs-prod"
    assert env["RTDCS_COOKIE_DOMAIN"] == ".shop.example"  # the operator's settings stay
    stack = aws["cloudformation"].describe_stacks(StackName="rtdcs-prod-data")["Stacks"][0]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    assert report.throttled_api is None  # nothing deployed yet


def test_profiles_capacity_is_chosen_per_stage(aws: dict[str, Any],
                                               chalice_dir: Path) -> None:
    _deploy(aws, chalice_dir, "dev")
    steps.deploy("prod", aws["cloudformation"], aws["dynamodb"], aws["ssm"], aws["apigateway"],
                 config_path=chalice_dir / "config.json", chalice_dir=chalice_dir, poll_s=0.05,
                 profiles_capacity="provisioned")
    table = aws["dynamodb"].describe_table(TableName="rtdcs-prod-profiles")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    dev = aws["dynamodb"].describe_table(TableName="rtdcs-dev-profiles")["Table"]
    assert dev["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_a_later_deploy_keeps_the_capacity_choice() -> None:
    """What a deploy that names no capacity sends for an existing stack: the stack's own
    values (CloudFormation would otherwise go back to the default). moto cannot update a
    provisioned table in CloudFormation, so botocore's Stubber checks the requests against
    the CloudFormation model instead."""
    from botocore.stub import ANY, Stubber

    from infra.bootstrap import _OUTPUTS, _TTL_TABLES, update_data_stack

    cfn = boto3.client("cloudformation", region_name=REGION)
    ddb = boto3.client("dynamodb", region_name=REGION)
    previous = [{"ParameterKey": "Stage", "ParameterValue": "prod"},
                {"ParameterKey": "ProfilesCapacity", "ParameterValue": "provisioned"},
                {"ParameterKey": "ProfilesMinWriteUnits", "ParameterValue": "40"},
                {"ParameterKey": "AlarmEmail", "ParameterValue": ""}]
    outputs = [{"OutputKey": key, "OutputValue": f"rtdcs-prod-{name}"}
               for key, name in _OUTPUTS.items()]
    stack = {"StackName": "rtdcs-prod-data", "CreationTime": "2026-12-01T00:00:00Z",
             "StackStatus": "UPDATE_COMPLETE", "Parameters": previous, "Outputs": outputs}
    with Stubber(cfn) as cfn_stub, Stubber(ddb) as ddb_stub:
        cfn_stub.add_response("describe_stacks", {"Stacks": [stack]},
                              {"StackName": "rtdcs-prod-data"})
        cfn_stub.add_response("update_stack", {"StackId": "id"}, {
            "StackName": "rtdcs-prod-data", "TemplateBody": ANY, "Tags": ANY,
            "Parameters": [{"ParameterKey": "Stage", "ParameterValue": "prod"},
                           {"ParameterKey": "ProfilesCapacity",
                            "ParameterValue": "provisioned"},
                           {"ParameterKey": "ProfilesMinWriteUnits", "ParameterValue": "40"}]})
        cfn_stub.add_response("describe_stacks", {"Stacks": [stack]},
                              {"StackName": "rtdcs-prod-data"})
        for name in [k for k in _TTL_TABLES if k in set(_OUTPUTS.values())]:
            ddb_stub.add_response("describe_time_to_live", {"TimeToLiveDescription": {
                "TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}},
                {"TableName": f"rtdcs-prod-{name}"})
        update_data_stack(cfn, ddb, "rtdcs-prod-data", "prod", {}, poll_s=0.01)
        cfn_stub.assert_no_pending_responses()


def test_admin_token_is_a_secure_string_created_once(aws: dict[str, Any],
                                                     chalice_dir: Path) -> None:
    assert _deploy(aws, chalice_dir).token_created
    ssm = aws["ssm"]
    first = ssm.get_parameter(Name="/rtdcs/prod/admin-token", WithDecryption=True)["Parameter"]
    assert first["Type"] == "SecureString" and len(first["Value"]) >= 32
    assert not _deploy(aws, chalice_dir).token_created  # second run: stack updated, token kept
    again = ssm.get_parameter(Name="/rtdcs/prod/admin-token", WithDecryption=True)["Parameter"]
    assert again["Value"] == first["Value"]
    described = {p["Name"]: p.get("Description", "") for p in ssm.describe_parameters()[
        "Parameters"]}
    assert "admin API" in described["/rtdcs/prod/admin-token"]
    assert "d_blob" in described["/rtdcs/prod/id-blob-secret"]  # its own description


def test_throttling_is_applied_to_the_deployed_api(aws: dict[str, Any],
                                                   chalice_dir: Path) -> None:
    api = _rest_api(aws["apigateway"], chalice_dir, "prod")
    assert _deploy(aws, chalice_dir).throttled_api == api
    settings = aws["apigateway"].get_stage(restApiId=api, stageName="api")["methodSettings"]
    profile = steps.STAGE_PROFILES["prod"]
    assert settings["*/*"]["throttlingRateLimit"] == profile.throttle_rate
    assert settings["*/*"]["throttlingBurstLimit"] == profile.throttle_burst
    assert steps.throttle("prod", aws["apigateway"], chalice_dir) == api


def test_throttle_sets_every_deployed_functions_logging_config(aws: dict[str, Any],
                                                               chalice_dir: Path) -> None:
    """moto keeps no LoggingConfig, so botocore's Stubber checks each request against the
    Lambda service model (a parameter botocore does not know fails here) and its content."""
    from botocore.stub import Stubber

    api = _rest_api(aws["apigateway"], chalice_dir, "prod")
    record_path = chalice_dir / "deployed" / "prod.json"
    record = json.loads(record_path.read_text())
    names = ("api_handler", "spool_replay")
    arns = [f"arn:aws:lambda:us-east-1:123456789012:function:rtdcs-prod-{n}" for n in names]
    record["resources"] += [{"name": n, "resource_type": "lambda_function", "lambda_arn": arn}
                            for n, arn in zip(names, arns, strict=True)]
    record_path.write_text(json.dumps(record))
    lambda_client = boto3.client("lambda", region_name=REGION)
    with Stubber(lambda_client) as stub:
        for arn in arns:
            stub.add_response("update_function_configuration", {}, {
                "FunctionName": arn,
                "LoggingConfig": {"LogFormat": "JSON", "ApplicationLogLevel": "INFO",
                                  "SystemLogLevel": "WARN"}})
        assert steps.throttle("prod", aws["apigateway"], chalice_dir,
                              lambda_client=lambda_client) == api
        stub.assert_no_pending_responses()


def test_throttle_before_any_chalice_deploy_says_so(aws: dict[str, Any],
                                                    chalice_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="chalice deploy"):
        steps.throttle("dev", aws["apigateway"], chalice_dir)


def test_teardown_deletes_the_stack_and_keeps_the_tables(
    aws: dict[str, Any], chalice_dir: Path
) -> None:
    _deploy(aws, chalice_dir, "dev")
    ddb = aws["dynamodb"]
    assert steps.teardown("dev", aws["cloudformation"], ddb, poll_s=0.05) == []
    assert "rtdcs-dev-profiles" in ddb.list_tables()["TableNames"]  # DeletionPolicy: Retain
    with pytest.raises(aws["sqs"].exceptions.QueueDoesNotExist):
        aws["sqs"].get_queue_url(QueueName="rtdcs-dev-spool")


def test_teardown_can_delete_the_tables_too(aws: dict[str, Any], chalice_dir: Path) -> None:
    _deploy(aws, chalice_dir, "dev")
    ddb = aws["dynamodb"]
    deleted = steps.teardown("dev", aws["cloudformation"], ddb, delete_tables=True, poll_s=0.05)
    assert sorted(deleted) == ["rtdcs-dev-capture", "rtdcs-dev-catalog", "rtdcs-dev-idmap",
                              "rtdcs-dev-insight", "rtdcs-dev-profiles"]
    assert not [t for t in ddb.list_tables()["TableNames"] if t.startswith("rtdcs-dev-")]


# ---- committed .chalice files --------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_policy_files_are_current(stage: str) -> None:
    for name, document in policy_files(stage).items():
        committed = (CHALICE_DIR / name).read_text(encoding="utf-8")
        assert committed == render(document), f"{name} is stale: run python -m infra policies"


@pytest.mark.parametrize("stage", STAGES)
def test_policies_name_only_the_stages_resources(stage: str) -> None:
    for name, document in policy_files(stage).items():
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            assert not any(a.endswith("*") for a in statement["Action"]), (name, statement)
            for arn in statement["Resource"]:
                service = arn.split(":")[2]
                if service == "logs":
                    assert f":log-group:/aws/lambda/rtdcs-{stage}" in arn
                elif service == "ssm":
                    assert arn.endswith(f":parameter/rtdcs/{stage}/*")
                else:
                    assert arn.rsplit(":", 1)[1].removeprefix("table/").startswith(
                        f"rtdcs-{stage}-"), arn
                    # A table's stream label is only known once it exists (insight_aggregator)
                    name = arn.rsplit(":", 1)[1].removesuffix(
                        "/stream/*" if arn.endswith(f"table/rtdcs-{stage}-profiles/stream/*")
                        else "")
                    assert "*" not in name, arn


@pytest.mark.parametrize("stage", STAGES)
def test_stage_config_matches_its_source(stage: str) -> None:
    config = json.loads((CHALICE_DIR / "config.json").read_text(encoding="utf-8"))
    assert config["autogen_policy"] is False
    block = config["stages"][stage]
    expected = steps.stage_config(stage)
    for key in ("iam_policy_file", "lambda_memory_size", "lambda_timeout", "lambda_functions"):
        assert block[key] == expected[key], key
    for function in block["lambda_functions"].values():
        assert (CHALICE_DIR / function["iam_policy_file"]).exists()
    assert (CHALICE_DIR / block["iam_policy_file"]).exists()
    env = block["environment_variables"]
    assert env["RTDCS_SPOOL_QUEUE_NAME"] == f"rtdcs-{stage}-spool"
    assert env["POWERTOOLS_SERVICE_NAME"] == f"rtdcs-{stage}"
    assert env["RTDCS_METRICS_WINDOW_S"] == expected["environment_variables"][
        "RTDCS_METRICS_WINDOW_S"] == "10"


def test_deploy_publishes_the_insight_layer_once_per_build(aws: dict[str, Any],
                                                           chalice_dir: Path,
                                                           tmp_path: Path) -> None:
    """DataSketches and numpy ride in a layer of the two insight functions only (infra/layer.py);
    the API function's package does not carry them."""
    import zipfile

    zip_path = tmp_path / "layer.zip"
    with zipfile.ZipFile(zip_path, "w") as layer_zip:
        layer_zip.writestr("python/datasketches/__init__.py", "")
    lambda_client = boto3.client("lambda", region_name=REGION)

    def deploy_with_layer() -> dict[str, Any]:
        steps.deploy("prod", aws["cloudformation"], aws["dynamodb"], aws["ssm"],
                     aws["apigateway"], config_path=chalice_dir / "config.json",
                     chalice_dir=chalice_dir, poll_s=0.05, lambda_client=lambda_client,
                     build_layer=lambda: zip_path)
        config = json.loads((chalice_dir / "config.json").read_text())["stages"]["prod"]
        return dict(config)

    first = deploy_with_layer()
    functions = first["lambda_functions"]
    arn = functions["insight_aggregator"]["layers"][0]
    assert functions["insight_reports"]["layers"] == [arn] and ":layer:rtdcs-prod-insight:" in arn
    assert "layers" not in first and "layers" not in functions["spool_replay"]
    assert first["environment_variables"]["RTDCS_INSIGHT_REPORTS_FUNCTION"] == (
        "rtdcs-prod-insight_reports")
    second = deploy_with_layer()  # the same requirements: no new version
    assert second["lambda_functions"]["insight_reports"]["layers"] == [arn]
    versions = lambda_client.list_layer_versions(LayerName="rtdcs-prod-insight")["LayerVersions"]
    assert len(versions) == 1
