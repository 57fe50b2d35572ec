"""Deploy the data stack (``infra/data-stack.yaml``) through CloudFormation.

Used by the local stack and the tests against moto, and by ``python -m infra deploy``
against AWS. Clients are passed in, so the caller decides the endpoint (moto server,
``moto.mock_aws`` or AWS).

moto's CloudFormation creates the tables but ignores ``TimeToLiveSpecification``, so after
the stack is up TTL is switched on explicitly for the tables that need it (a no-op in AWS,
where the template already did it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

TEMPLATE_PATH = Path(__file__).with_name("data-stack.yaml")

# Stack output -> key of the returned dict (the first three are required).
_OUTPUTS = {
    "ProfilesTableName": "profiles",
    "IdMapTableName": "idmap",
    "CatalogTableName": "catalog",
}
_OPTIONAL_OUTPUTS = {
    "SpoolQueueUrl": "spool_queue_url",
    "SpoolQueueName": "spool_queue_name",
    "SpoolDeadLetterQueueUrl": "spool_dlq_url",
    "S2SQueueUrl": "s2s_queue_url",
    "S2SQueueName": "s2s_queue_name",
    "S2SDeadLetterQueueUrl": "s2s_dlq_url",
    "AdminTokenParameterName": "admin_token_parameter",
    "SecretsParameterPath": "secrets_path",
    "AlarmTopicArn": "alarm_topic_arn",
    "DashboardName": "dashboard",
    "ProfilesStreamArn": "profiles_stream_arn",
    "InsightTableName": "insight",
    "CaptureTableName": "capture",
}
# Tables whose items expire through DynamoDB TTL, and the attribute holding the epoch seconds.
_TTL_TABLES = ("profiles", "idmap", "insight", "capture")
TTL_ATTRIBUTE = "expires_at"

_SETTINGS_ENV = {
    "profiles": "RTDCS_PROFILES_TABLE",
    "idmap": "RTDCS_IDMAP_TABLE",
    "catalog": "RTDCS_CATALOG_TABLE",
    "spool_queue_url": "RTDCS_SPOOL_QUEUE_URL",
    "spool_queue_name": "RTDCS_SPOOL_QUEUE_NAME",
    "spool_dlq_url": "RTDCS_SPOOL_DLQ_URL",
    "s2s_queue_url": "RTDCS_S2S_QUEUE_URL",
    "s2s_queue_name": "RTDCS_S2S_QUEUE_NAME",
    "s2s_dlq_url": "RTDCS_S2S_DLQ_URL",
    "insight": "RTDCS_INSIGHT_TABLE",
    "profiles_stream_arn": "RTDCS_INSIGHT_STREAM_ARN",
    "capture": "RTDCS_CAPTURE_TABLE",
}
# Only for a deployed stage (``python -m infra deploy``): locally the admin token comes from
# RTDCS_ADMIN_TOKEN, and CloudFormation (hence moto) cannot create the SecureString.
_DEPLOYED_ENV = {"admin_token_parameter": "RTDCS_ADMIN_TOKEN_PARAMETER"}

_DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
_FAILED = {
    "CREATE_FAILED",
    "ROLLBACK_IN_PROGRESS",
    "ROLLBACK_FAILED",
    "ROLLBACK_COMPLETE",
    "DELETE_IN_PROGRESS",
    "DELETE_FAILED",
    "DELETE_COMPLETE",
    "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_FAILED",
}


class StackError(RuntimeError):
    """The data stack could not be created."""


def template_body() -> str:
    return TEMPLATE_PATH.read_text(encoding="utf-8")


def create_data_stack(
    cfn_client: Any,
    ddb_client: Any,
    stack_name: str = "rtdcs-local",
    stage: str = "local",
    timeout_s: float = 600.0,
    poll_s: float = 0.2,
) -> dict[str, str]:
    """Create the data stack (or reuse it if it already exists) and return its outputs.

    Returns ``{"profiles": ..., "idmap": ..., "catalog": ..., "spool_queue_url": ...,
    "s2s_queue_url": ..., ...}`` read from the stack outputs (see ``_OPTIONAL_OUTPUTS``).
    """
    try:
        cfn_client.create_stack(
            StackName=stack_name,
            TemplateBody=template_body(),
            Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}],
            Tags=[{"Key": "app", "Value": "rtdcs"}],
        )
    except cfn_client.exceptions.AlreadyExistsException:
        pass  # a second bootstrap against the same endpoint reuses the stack
    stack = _wait_created(cfn_client, stack_name, timeout_s, poll_s)
    tables = _tables_from_outputs(stack)
    for key in _TTL_TABLES:
        if key in tables:  # insight: a stack created before it existed has none
            _ensure_ttl(ddb_client, tables[key])
    return tables


def settings_env(tables: dict[str, str], deployed: bool = False) -> dict[str, str]:
    """The environment variables that point the application at the stack's resources
    (tables, queues; with ``deployed`` also the admin token parameter)."""
    names = {**_SETTINGS_ENV, **(_DEPLOYED_ENV if deployed else {})}
    return {env: tables[key] for key, env in names.items() if key in tables}


def update_data_stack(
    cfn_client: Any,
    ddb_client: Any,
    stack_name: str,
    stage: str,
    parameters: dict[str, str] | None = None,
    timeout_s: float = 1800.0,
    poll_s: float = 5.0,
) -> dict[str, str]:
    """Create the stack, or update it to the current template; return its outputs."""
    params = [{"ParameterKey": "Stage", "ParameterValue": stage}] + [
        {"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()
    ]
    try:
        previous = cfn_client.describe_stacks(StackName=stack_name)["Stacks"][0]
        exists = True
    except cfn_client.exceptions.ClientError as exc:
        if "does not exist" not in str(exc):
            raise
        exists = False
    if exists:
        # A capacity choice stays until it is changed: a later deploy without it keeps it
        # (CloudFormation would otherwise return the table to the default, on-demand).
        params += _kept_capacity(previous.get("Parameters", []), params)
        try:
            cfn_client.update_stack(
                StackName=stack_name, TemplateBody=template_body(), Parameters=params,
                Tags=[{"Key": "app", "Value": "rtdcs"}],
            )
        except cfn_client.exceptions.ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise
    else:
        cfn_client.create_stack(
            StackName=stack_name, TemplateBody=template_body(), Parameters=params,
            Tags=[{"Key": "app", "Value": "rtdcs"}],
            EnableTerminationProtection=stage == "prod",
        )
    stack = _wait_created(cfn_client, stack_name, timeout_s, poll_s)
    outputs = _tables_from_outputs(stack)
    for key in _TTL_TABLES:
        if key in outputs:
            _ensure_ttl(ddb_client, outputs[key])
    return outputs


def _kept_capacity(previous: list[dict[str, str]],
                   given: list[dict[str, str]]) -> list[dict[str, str]]:
    """The stack's provisioned-capacity settings a deploy did not name (none while the
    table is on-demand, the template's default)."""
    values = {p["ParameterKey"]: p.get("ParameterValue", "") for p in previous}
    if values.get("ProfilesCapacity") != "provisioned":
        return []
    named = {p["ParameterKey"] for p in given}
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()
            if key.startswith("Profiles") and key not in named]


def _wait_created(cfn_client: Any, stack_name: str, timeout_s: float, poll_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        stack = cfn_client.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if status in _DONE:
            return stack
        if status in _FAILED:
            raise StackError(
                f"stack {stack_name} is {status}: {_failure_reasons(cfn_client, stack_name)}"
            )
        if time.monotonic() > deadline:
            raise StackError(f"stack {stack_name} still {status} after {timeout_s:.0f} s")
        time.sleep(poll_s)


def _failure_reasons(cfn_client: Any, stack_name: str) -> str:
    try:
        events = cfn_client.describe_stack_events(StackName=stack_name)["StackEvents"]
    except Exception as exc:  # best effort, only to explain a failure
        return f"(no stack events: {exc})"
    reasons = [
        f"{e.get('LogicalResourceId')}: {e.get('ResourceStatusReason')}"
        for e in events
        if e.get("ResourceStatusReason") and "FAILED" in e.get("ResourceStatus", "")
    ]
    return "; ".join(reasons) or "no reason reported"


def _tables_from_outputs(stack: Any) -> dict[str, str]:
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [key for key in _OUTPUTS if key not in outputs]
    if missing:
        raise StackError(f"stack outputs missing: {', '.join(missing)}")
    found = {name: outputs[key] for key, name in _OUTPUTS.items()}
    found.update({name: outputs[key] for key, name in _OPTIONAL_OUTPUTS.items() if key in outputs})
    return found


def _ensure_ttl(ddb_client: Any, table_name: str) -> None:
    current = ddb_client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    ddb_client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
