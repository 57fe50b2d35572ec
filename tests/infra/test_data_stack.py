"""The data stack template: cfn-lint clean, and deployable into moto with the expected tables."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.bootstrap import TEMPLATE_PATH, create_data_stack, settings_env

REGION = "us-east-1"


def _lint(path: Path) -> list[Any]:
    from cfnlint.api import ManualArgs, lint_file

    return list(lint_file(path, config=ManualArgs(regions=[REGION])))


def test_template_passes_cfn_lint() -> None:
    matches = _lint(TEMPLATE_PATH)
    assert matches == [], "\n".join(str(m) for m in matches)


def test_cfn_lint_check_does_catch_errors(tmp_path: Path) -> None:
    # Guards the test above against a lint call that silently checks nothing.
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        TEMPLATE_PATH.read_text(encoding="utf-8").replace(
            "BillingMode: PAY_PER_REQUEST", "BillingMode: PAY_PER_BANANA", 1
        ),
        encoding="utf-8",
    )
    assert _lint(broken), "cfn-lint reported nothing for an invalid BillingMode"


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        yield (
            boto3.client("cloudformation", region_name=REGION),
            boto3.client("dynamodb", region_name=REGION),
        )


def _key_schema(ddb: Any, table: str) -> dict[str, tuple[str, str]]:
    desc = ddb.describe_table(TableName=table)["Table"]
    types = {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]}
    return {
        k["KeyType"]: (k["AttributeName"], types[k["AttributeName"]]) for k in desc["KeySchema"]
    }


def test_create_data_stack_creates_the_tables(aws: tuple[Any, Any]) -> None:
    cfn, ddb = aws
    tables = create_data_stack(cfn, ddb, stack_name="rtdcs-test", stage="test")

    assert {k: tables[k] for k in ("profiles", "idmap", "catalog")} == {
        "profiles": "rtdcs-test-profiles",
        "idmap": "rtdcs-test-idmap",
        "catalog": "rtdcs-test-catalog",
    }
    assert _key_schema(ddb, tables["profiles"]) == {"HASH": ("uuid", "S")}
    assert _key_schema(ddb, tables["idmap"]) == {"HASH": ("pk", "S")}
    assert _key_schema(ddb, tables["catalog"]) == {"HASH": ("pk", "S"), "RANGE": ("sk", "S")}
    for key in ("profiles", "idmap", "catalog"):
        desc = ddb.describe_table(TableName=tables[key])["Table"]
        assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_ttl_is_enabled_on_profiles_and_idmap(aws: tuple[Any, Any]) -> None:
    cfn, ddb = aws
    tables = create_data_stack(cfn, ddb)

    for key in ("profiles", "idmap"):
        ttl = ddb.describe_time_to_live(TableName=tables[key])["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED", (key, ttl)
        assert ttl["AttributeName"] == "expires_at"
    catalog_ttl = ddb.describe_time_to_live(TableName=tables["catalog"])["TimeToLiveDescription"]
    assert catalog_ttl["TimeToLiveStatus"] == "DISABLED"


def test_the_deployed_template_itself_declares_ttl_on_expires_at() -> None:
    """The bootstrap helper switches TTL on locally; the template is what AWS gets."""
    from infra.package import data_template

    resources = data_template()["Resources"]
    tables = {r["Properties"]["TableName"]["Fn::Sub"].rsplit("-", 1)[-1]: r["Properties"]
              for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"}
    for name in ("profiles", "idmap"):
        assert tables[name]["TimeToLiveSpecification"] == {"AttributeName": "expires_at",
                                                           "Enabled": True}, name
    assert "TimeToLiveSpecification" not in tables["catalog"]


def test_default_stage_names_and_settings_env(aws: tuple[Any, Any]) -> None:
    cfn, ddb = aws
    tables = create_data_stack(cfn, ddb)
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/rtdcs-local-"
    assert settings_env(tables) == {
        "RTDCS_PROFILES_TABLE": "rtdcs-local-profiles",
        "RTDCS_IDMAP_TABLE": "rtdcs-local-idmap",
        "RTDCS_CATALOG_TABLE": "rtdcs-local-catalog",
        "RTDCS_SPOOL_QUEUE_URL": queue + "spool",
        "RTDCS_SPOOL_QUEUE_NAME": "rtdcs-local-spool",
        "RTDCS_SPOOL_DLQ_URL": queue + "spool-dlq",
        "RTDCS_S2S_QUEUE_URL": queue + "s2s",
        "RTDCS_S2S_QUEUE_NAME": "rtdcs-local-s2s",
        "RTDCS_S2S_DLQ_URL": queue + "s2s-dlq",
        "RTDCS_INSIGHT_TABLE": "rtdcs-local-insight",
        "RTDCS_INSIGHT_STREAM_ARN": ddb.describe_table(
            TableName="rtdcs-local-profiles")["Table"]["LatestStreamArn"],
        "RTDCS_CAPTURE_TABLE": "rtdcs-local-capture",
    }
    # Deployed stages also read the admin token from SSM; the local stack uses the env token.
    assert settings_env(tables, deployed=True)["RTDCS_ADMIN_TOKEN_PARAMETER"] == (
        "/rtdcs/local/admin-token"
    )
    # A second bootstrap against the same endpoint reuses the stack.
    assert create_data_stack(cfn, ddb) == tables


def _sqs() -> Any:
    return boto3.client("sqs", region_name=REGION)


def test_queues_have_dead_letter_queues_and_fit_their_handlers(aws: tuple[Any, Any]) -> None:
    from chalicelib.spool.replay import MAX_RECEIVE_COUNT
    from infra.deploy import StageProfile

    cfn, ddb = aws
    outputs = create_data_stack(cfn, ddb, stack_name="rtdcs-q", stage="q")
    sqs = _sqs()
    profile = StageProfile()
    expected = {
        "spool_queue_url": ("spool_dlq_url", MAX_RECEIVE_COUNT, profile.spool_timeout_s),
        "s2s_queue_url": ("s2s_dlq_url", 3, profile.s2s_timeout_s),
    }
    for key, (dlq_key, receives, lambda_timeout) in expected.items():
        attributes = sqs.get_queue_attributes(QueueUrl=outputs[key], AttributeNames=["All"])[
            "Attributes"
        ]
        dlq_arn = sqs.get_queue_attributes(
            QueueUrl=outputs[dlq_key], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": receives}
        # AWS: the visibility timeout of an event-source queue >= 6 x the function timeout.
        assert int(attributes["VisibilityTimeout"]) >= 6 * lambda_timeout
        assert attributes["SqsManagedSseEnabled"] == "true"
    assert outputs["spool_queue_name"] == "rtdcs-q-spool"
    assert outputs["admin_token_parameter"] == "/rtdcs/q/admin-token"


def test_deletion_protection_only_in_prod(aws: tuple[Any, Any]) -> None:
    cfn, ddb = aws
    dev = create_data_stack(cfn, ddb, stack_name="rtdcs-dev-data", stage="dev")
    prod = create_data_stack(cfn, ddb, stack_name="rtdcs-prod-data", stage="prod")
    for outputs, protected in ((dev, False), (prod, True)):
        for key in ("profiles", "idmap", "catalog"):
            table = ddb.describe_table(TableName=outputs[key])["Table"]
            assert table.get("DeletionProtectionEnabled", False) is protected, outputs[key]
    # moto's CloudFormation ignores point-in-time recovery: check the template says it.
    from infra.package import data_template

    for name, resource in data_template()["Resources"].items():
        if resource["Type"] == "AWS::DynamoDB::Table":
            properties = resource["Properties"]
            assert properties["PointInTimeRecoverySpecification"] == {
                "PointInTimeRecoveryEnabled": True
            }, name
            expected_mode = ({"Fn::If": ["ProfilesProvisioned", "PROVISIONED",
                                         "PAY_PER_REQUEST"]}
                             if name == "ProfilesTable" else "PAY_PER_REQUEST")
            assert properties["BillingMode"] == expected_mode, name
            assert resource["DeletionPolicy"] == "Retain"


def test_profiles_can_be_provisioned_with_auto_scaling(aws: tuple[Any, Any]) -> None:
    """Steady traffic pays about half per write with provisioned capacity (docs/deploy.md).
    moto creates the table; it has no Application Auto Scaling in CloudFormation, so the
    scaling resources are checked in the template (cfn-lint validates them above)."""
    from infra.bootstrap import update_data_stack
    from infra.package import data_template

    cfn, ddb = aws
    update_data_stack(cfn, ddb, "rtdcs-steady-data", "steady",
                      {"ProfilesCapacity": "provisioned", "ProfilesMinWriteUnits": "30"},
                      poll_s=0.05)
    table = ddb.describe_table(TableName="rtdcs-steady-profiles")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 30
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 10
    for other in ("idmap", "catalog"):
        desc = ddb.describe_table(TableName=f"rtdcs-steady-{other}")["Table"]
        assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    resources = data_template()["Resources"]
    for dimension, metric in (("Write", "DynamoDBWriteCapacityUtilization"),
                              ("Read", "DynamoDBReadCapacityUtilization")):
        target = resources[f"Profiles{dimension}Scaling"]
        assert target["Condition"] == "ProfilesProvisioned"
        assert target["Properties"]["ScalableDimension"] == (
            f"dynamodb:table:{dimension}CapacityUnits")
        policy = resources[f"Profiles{dimension}ScalingPolicy"]["Properties"]
        config = policy["TargetTrackingScalingPolicyConfiguration"]
        assert config["TargetValue"] == 70
        assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == metric
    # The default stays on-demand.
    create_data_stack(cfn, ddb, stack_name="rtdcs-default-data", stage="default")
    desc = ddb.describe_table(TableName="rtdcs-default-profiles")["Table"]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_template_declares_alarms_and_dashboard() -> None:
    from infra.package import data_template

    resources = data_template()["Resources"]
    alarms = {k: v for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    metrics = {a["Properties"]["MetricName"] for a in alarms.values()}
    assert {"ApproximateNumberOfMessagesVisible", "DynamoDBErrors", "EventStorageErrors",
            "EventLatency", "Errors", "ProfileWritesRejected"} <= metrics
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    dashboard = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    for metric in ("Events", "EventLatency", "ProviderCalls", "DynamoDBErrors", "SpooledEvents",
                   "ProfileWritesRejected", "ProfileCompactions"):
        assert f'"{metric}"' in dashboard
