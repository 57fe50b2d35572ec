"""Audience insight in infra/: the profiles table's stream, the insight table with its TTL,
the aggregator's least-privilege policy, its settings, and the packaged stream wiring."""

from __future__ import annotations

import boto3
from moto import mock_aws

from infra.bootstrap import create_data_stack, settings_env
from infra.package import data_template, merge_template, wire_insight_stream
from infra.policies import insight_policy


def test_the_template_streams_profiles_and_keeps_sketches_100_days() -> None:
    resources = data_template()["Resources"]
    stream = resources["ProfilesTable"]["Properties"]["StreamSpecification"]
    assert stream == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    insight = resources["InsightTable"]["Properties"]
    assert insight["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert [k["AttributeName"] for k in insight["KeySchema"]] == ["k", "d"]
    alarm = resources["InsightIteratorAgeAlarm"]["Properties"]
    assert alarm["MetricName"] == "IteratorAge" and alarm["Threshold"] == 300000


def test_the_stack_names_the_stream_and_table_and_turns_ttl_on() -> None:
    with mock_aws():
        ddb = boto3.client("dynamodb")
        created = create_data_stack(boto3.client("cloudformation"), ddb)
        env = settings_env(created)
        assert env["RTDCS_INSIGHT_TABLE"] == created["insight"]
        profiles = ddb.describe_table(TableName=created["profiles"])["Table"]
        assert env["RTDCS_INSIGHT_STREAM_ARN"] == profiles["LatestStreamArn"]
        ttl = ddb.describe_time_to_live(TableName=created["insight"])["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "expires_at"


def test_the_aggregator_may_read_the_stream_and_merge_sketches_only() -> None:
    statements = insight_policy("prod")["Statement"]
    granted = {(action, resource) for s in statements for action in s["Action"]
               for resource in s["Resource"] if not action.startswith("logs:")}
    assert granted == {
        *((a, "arn:aws:dynamodb:*:*:table/rtdcs-prod-profiles/stream/*") for a in (
            "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
            "dynamodb:ListStreams")),
        ("dynamodb:GetItem", "arn:aws:dynamodb:*:*:table/rtdcs-prod-catalog"),
        ("dynamodb:Query", "arn:aws:dynamodb:*:*:table/rtdcs-prod-catalog"),
        ("dynamodb:GetItem", "arn:aws:dynamodb:*:*:table/rtdcs-prod-insight"),
        ("dynamodb:PutItem", "arn:aws:dynamodb:*:*:table/rtdcs-prod-insight"),
    }


def test_the_package_wires_the_stream_by_reference() -> None:
    template = {"Resources": {"InsightAggregator": {"Properties": {"Events": {"E": {
        "Type": "DynamoDB", "Properties": {"Stream": "arn:placeholder", "BatchSize": 1000}}}}}}}
    wired = wire_insight_stream(template)["Resources"]["InsightAggregator"]
    event = wired["Properties"]["Events"]["E"]["Properties"]
    assert event["Stream"] == {"Fn::GetAtt": ["ProfilesTable", "StreamArn"]}
    assert event["BatchSize"] == 1000 and event["BisectBatchOnFunctionError"] is True
    merged = merge_template("prod")["Resources"]
    variables = merged["InsightAggregator"]["Properties"]["Environment"]["Variables"]
    assert variables["RTDCS_INSIGHT_TABLE"] == {"Ref": "InsightTable"}
    api = merged["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert api["RTDCS_INSIGHT_TABLE"] == {"Ref": "InsightTable"}
    assert api["RTDCS_PROFILES_TABLE"] == {"Ref": "ProfilesTable"}  # the overlay's own stays
