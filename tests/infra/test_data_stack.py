"""The data stack template: cfn-lint clean, and deployable into moto with the expected tables."""

from __future__ import annotations

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

    assert tables == {
        "profiles": "rtdcs-test-profiles",
        "idmap": "rtdcs-test-idmap",
        "catalog": "rtdcs-test-catalog",
    }
    assert _key_schema(ddb, tables["profiles"]) == {"HASH": ("uuid", "S")}
    assert _key_schema(ddb, tables["idmap"]) == {"HASH": ("pk", "S")}
    assert _key_schema(ddb, tables["catalog"]) == {"HASH": ("pk", "S"), "RANGE": ("sk", "S")}
    for name in tables.values():
        desc = ddb.describe_table(TableName=name)["Table"]
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


def test_default_stage_names_and_settings_env(aws: tuple[Any, Any]) -> None:
    cfn, ddb = aws
    tables = create_data_stack(cfn, ddb)
    assert settings_env(tables) == {
        "RTDCS_PROFILES_TABLE": "rtdcs-local-profiles",
        "RTDCS_IDMAP_TABLE": "rtdcs-local-idmap",
        "RTDCS_CATALOG_TABLE": "rtdcs-local-catalog",
    }
    # A second bootstrap against the same endpoint reuses the stack.
    assert create_data_stack(cfn, ddb) == tables
