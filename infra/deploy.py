"""Deploying a stage to AWS: the data stack, the stage's settings, the admin token, throttling.

    python -m infra deploy --stage prod     # 1: data stack + .chalice/config.json + token
    chalice deploy --stage prod             # 2: the functions and the REST API
    python -m infra throttle --stage prod   # once after the first `chalice deploy`

Every AWS client is passed in (tests hand in moto clients). ``python -m infra`` builds them
from the caller's AWS profile/region; nothing here runs at import.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from infra import layer
from infra.bootstrap import settings_env, update_data_stack
from infra.policies import (
    APP_NAME,
    INSIGHT_FUNCTION,
    REPORTS_FUNCTION,
    S2S_FUNCTION,
    SPOOL_FUNCTION,
)

CHALICE_DIR = Path(__file__).resolve().parent.parent / ".chalice"
CONFIG_PATH = CHALICE_DIR / "config.json"


@dataclass(frozen=True)
class StageProfile:
    """Sizes and limits of one stage (the reasons are in docs/deploy.md, "Decisions")."""

    # Sized from bench/event_cpu.py's peaks (docs/deploy.md, "Memory"): 512 MB holds a catalog
    # of ~90,000 traits while a new one compiles; 768 MB for 100,000 and more.
    api_memory_mb: int = 512
    architecture: str = "arm64"  # Graviton: 20 % less per GB-s; every dependency has a wheel
    api_timeout_s: int = 10
    spool_memory_mb: int = 256
    spool_timeout_s: int = 60
    s2s_memory_mb: int = 256
    s2s_timeout_s: int = 90
    # Sketch unions are CPU (and numpy's import): more memory is more CPU on Lambda.
    insight_memory_mb: int = 512
    insight_timeout_s: int = 60
    # A report over 100 ids x 90 days unions many sketches (docs/insight.md): the admin API
    # waits for it, so it gets the time an API call may take.
    reports_memory_mb: int = 1024
    reports_timeout_s: int = 25
    throttle_rate: float = 50.0  # API Gateway steady requests/s for the whole stage
    throttle_burst: int = 100
    # Behind a function URL (no request throttling of its own): the API function's reserved
    # concurrency is the cap. About throttle_rate x a 250 ms event.
    url_concurrency: int = 15


# Lambda's JSON log format with system logs at WARN (issue 17; docs/deploy.md, "Cost"):
# no START/END/REPORT lines (268 bytes an event); errors, timeouts and init failures stay.
LOGGING_CONFIG = {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN"}


STAGE_PROFILES = {
    "dev": StageProfile(),
    "prod": StageProfile(throttle_rate=2000.0, throttle_burst=4000, url_concurrency=500),
}


def stack_name(stage: str) -> str:
    return f"{APP_NAME}-{stage}-data"


def admin_token_parameter(stage: str) -> str:
    return f"/{APP_NAME}/{stage}/admin-token"


def id_blob_secret_parameter(stage: str) -> str:
    """The SecureString keying /id's d_blob HMAC (identity.md 1); created like the token."""
    return f"/{APP_NAME}/{stage}/id-blob-secret"


def reports_function_name(stage: str) -> str:
    """What ``chalice deploy`` names the insight-reports function (and the template too)."""
    return f"{APP_NAME}-{stage}-{REPORTS_FUNCTION}"


def stage_config(stage: str, environment: dict[str, str] | None = None,
                 insight_layer: str = "") -> dict[str, Any]:
    """The stage's block of .chalice/config.json (functions, sizes, policies, settings).
    ``insight_layer``: the DataSketches layer's version ARN (infra/layer.py), given to the
    two insight functions."""
    profile = STAGE_PROFILES.get(stage, StageProfile())
    env = {
        "RTDCS_PROFILES_TABLE": f"{APP_NAME}-{stage}-profiles",
        "RTDCS_IDMAP_TABLE": f"{APP_NAME}-{stage}-idmap",
        "RTDCS_CATALOG_TABLE": f"{APP_NAME}-{stage}-catalog",
        "RTDCS_SPOOL_QUEUE_NAME": f"{APP_NAME}-{stage}-spool",
        "RTDCS_S2S_QUEUE_NAME": f"{APP_NAME}-{stage}-s2s",
        "RTDCS_INSIGHT_TABLE": f"{APP_NAME}-{stage}-insight",
        "RTDCS_CAPTURE_TABLE": f"{APP_NAME}-{stage}-capture",  # the console (docs/console.md)
        "RTDCS_INSIGHT_REPORTS_FUNCTION": reports_function_name(stage),
        "RTDCS_ADMIN_TOKEN_PARAMETER": admin_token_parameter(stage),
        "RTDCS_IDENTITY_BLOB_SECRET_PARAMETER": id_blob_secret_parameter(stage),
        "RTDCS_RT_BUDGET_MS": "250",
        # Metrics held up to 10 s per container, failures at once (docs/deploy.md, "Cost").
        "RTDCS_METRICS_WINDOW_S": "10",
        "POWERTOOLS_SERVICE_NAME": f"{APP_NAME}-{stage}",
        "POWERTOOLS_METRICS_NAMESPACE": APP_NAME,
    }
    env.update(environment or {})
    layers = {"layers": [insight_layer]} if insight_layer else {}
    return {
        "api_gateway_stage": "api",
        "iam_policy_file": f"policy-{stage}.json",
        "lambda_memory_size": profile.api_memory_mb,
        "lambda_timeout": profile.api_timeout_s,
        "lambda_architecture": profile.architecture,
        "environment_variables": dict(sorted(env.items())),
        "lambda_functions": {
            SPOOL_FUNCTION: {
                "iam_policy_file": f"policy-{stage}-spool.json",
                "lambda_memory_size": profile.spool_memory_mb,
                "lambda_timeout": profile.spool_timeout_s,
            },
            S2S_FUNCTION: {
                "iam_policy_file": f"policy-{stage}-s2s.json",
                "lambda_memory_size": profile.s2s_memory_mb,
                "lambda_timeout": profile.s2s_timeout_s,
            },
            INSIGHT_FUNCTION: {
                "iam_policy_file": f"policy-{stage}-insight.json",
                "lambda_memory_size": profile.insight_memory_mb,
                "lambda_timeout": profile.insight_timeout_s,
                **layers,
            },
            REPORTS_FUNCTION: {
                "iam_policy_file": f"policy-{stage}-reports.json",
                "lambda_memory_size": profile.reports_memory_mb,
                "lambda_timeout": profile.reports_timeout_s,
                **layers,
            },
        },
    }


def write_stage_outputs(
    stage: str, outputs: dict[str, str], path: Path = CONFIG_PATH, insight_layer: str = ""
) -> dict[str, str]:
    """Put the stack's outputs into the stage's environment variables (other settings of the
    stage, e.g. cookie domain or CORS origins, are kept). Returns the variables written."""
    config = json.loads(path.read_text(encoding="utf-8"))
    stages = config.setdefault("stages", {})
    current = stages.get(stage, {})
    env = dict(current.get("environment_variables", {}))
    written = settings_env(outputs, deployed=True)
    env.update(written)
    block = stage_config(stage, env, insight_layer)
    # Keep anything the operator added to the stage block by hand (e.g. a custom domain).
    merged = {**current, **{k: v for k, v in block.items() if k != "lambda_functions"}}
    functions = dict(current.get("lambda_functions", {}))
    for name, settings in block["lambda_functions"].items():
        functions[name] = {**functions.get(name, {}), **settings}
    merged["lambda_functions"] = functions
    stages[stage] = merged
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return written


ADMIN_TOKEN_DESCRIPTION = "rtdcs admin API bearer token (admin-api.md, Auth)"
BLOB_SECRET_DESCRIPTION = "rtdcs /id d_blob HMAC key (identity.md 1)"


def ensure_admin_token(
    ssm_client: Any, name: str,
    token_factory: Callable[[], str] = lambda: secrets.token_urlsafe(32),
    description: str = ADMIN_TOKEN_DESCRIPTION,
) -> bool:
    """Create a random SecureString (the admin token, or another secret of its kind) if it
    does not exist (never overwrites it). True when it was created. CloudFormation cannot
    create SecureStrings, hence this step."""
    try:
        ssm_client.get_parameter(Name=name)
        return False
    except ssm_client.exceptions.ParameterNotFound:
        pass
    ssm_client.put_parameter(
        Name=name,
        Value=token_factory(),
        Type="SecureString",
        Description=description,
        Tags=[{"Key": "app", "Value": APP_NAME}],
    )
    return True


def deployed_rest_api_id(stage: str, chalice_dir: Path = CHALICE_DIR) -> str | None:
    """The REST API id that ``chalice deploy`` recorded for ``stage``, if any."""
    path = chalice_dir / "deployed" / f"{stage}.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    for resource in record.get("resources", []):
        if resource.get("resource_type") == "rest_api":
            return str(resource["rest_api_id"])
    return None


def apply_throttling(
    apigw_client: Any, rest_api_id: str, api_stage: str, rate: float, burst: int
) -> None:
    """Stage-wide method throttling (Chalice has no setting for it). Kept by later
    ``chalice deploy`` runs: they create deployments, not a new stage."""
    apigw_client.update_stage(
        restApiId=rest_api_id,
        stageName=api_stage,
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": str(rate)},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": str(burst)},
        ],
    )


@dataclass
class DeployReport:
    outputs: dict[str, str]
    environment: dict[str, str]
    token_created: bool
    throttled_api: str | None


def deploy(
    stage: str,
    cfn: Any,
    ddb: Any,
    ssm: Any,
    apigw: Any,
    config_path: Path = CONFIG_PATH,
    chalice_dir: Path = CHALICE_DIR,
    alarm_email: str = "",
    poll_s: float = 5.0,
    profiles_capacity: str = "",
    lambda_client: Any = None,
    build_layer: Callable[[], Path] | None = None,
) -> DeployReport:
    """Step 1 of a deployment (see the module docstring). ``profiles_capacity``:
    ``on-demand`` or ``provisioned`` (docs/deploy.md, "Cost"); empty keeps the stack's.
    Given a Lambda client, the insight layer (infra/layer.py; ``build_layer`` builds its zip)
    is published when it changed and its ARN written for the insight functions."""
    parameters = {"AlarmEmail": alarm_email} if alarm_email else {}
    if profiles_capacity:
        parameters["ProfilesCapacity"] = profiles_capacity
    outputs = update_data_stack(cfn, ddb, stack_name(stage), stage, parameters, poll_s=poll_s)
    insight_layer = ""
    if lambda_client is not None:
        zip_path = (build_layer or layer.build)()
        insight_layer = layer.publish(lambda_client, stage, zip_path, layer.requirements_digest())
    environment = write_stage_outputs(stage, outputs, config_path, insight_layer)
    created = ensure_admin_token(ssm, outputs.get("admin_token_parameter")
                                 or admin_token_parameter(stage))
    ensure_admin_token(ssm, id_blob_secret_parameter(stage),  # the same kind of secret
                       description=BLOB_SECRET_DESCRIPTION)
    api = deployed_rest_api_id(stage, chalice_dir)
    if api:
        profile = STAGE_PROFILES.get(stage, StageProfile())
        apply_throttling(apigw, api, "api", profile.throttle_rate, profile.throttle_burst)
    return DeployReport(outputs, environment, created, api)


def deployed_function_arns(stage: str, chalice_dir: Path = CHALICE_DIR) -> list[str]:
    """The functions ``chalice deploy`` recorded for ``stage`` (none before the first)."""
    path = chalice_dir / "deployed" / f"{stage}.json"
    if not path.exists():
        return []
    record = json.loads(path.read_text(encoding="utf-8"))
    return [str(r["lambda_arn"]) for r in record.get("resources", [])
            if r.get("resource_type") == "lambda_function" and r.get("lambda_arn")]


def apply_logging_config(lambda_client: Any, function_arns: list[str]) -> None:
    """Set :data:`LOGGING_CONFIG` on each function (Chalice's config has no setting for it;
    later ``chalice deploy`` runs update code and settings they know, and leave it)."""
    for arn in function_arns:
        lambda_client.update_function_configuration(FunctionName=arn,
                                                    LoggingConfig=dict(LOGGING_CONFIG))


def throttle(stage: str, apigw: Any, chalice_dir: Path = CHALICE_DIR,
             lambda_client: Any = None) -> str:
    """After ``chalice deploy``: the REST API's throttling and, given a Lambda client, every
    function's logging config."""
    api = deployed_rest_api_id(stage, chalice_dir)
    if not api:
        raise RuntimeError(f"no REST API recorded for stage {stage}: run `chalice deploy` first")
    profile = STAGE_PROFILES.get(stage, StageProfile())
    apply_throttling(apigw, api, "api", profile.throttle_rate, profile.throttle_burst)
    if lambda_client is not None:
        apply_logging_config(lambda_client, deployed_function_arns(stage, chalice_dir))
    return api


def teardown(stage: str, cfn: Any, ddb: Any, delete_tables: bool = False,
             poll_s: float = 5.0) -> list[str]:
    """Delete the data stack (run ``chalice delete --stage <stage>`` first). The tables are
    retained by the template (DeletionPolicy Retain); ``delete_tables`` deletes them too,
    switching deletion protection off first. Returns the tables deleted."""
    import time

    name = stack_name(stage)
    if stage == "prod":  # only prod's stack is created with termination protection
        cfn.update_termination_protection(StackName=name, EnableTerminationProtection=False)
    cfn.delete_stack(StackName=name)
    while True:
        try:
            status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        except cfn.exceptions.ClientError:
            break  # gone
        if status == "DELETE_COMPLETE":
            break
        if status == "DELETE_FAILED":
            raise RuntimeError(f"stack {name} could not be deleted")
        time.sleep(poll_s)
    deleted = []
    if delete_tables:
        for table in ("profiles", "idmap", "catalog", "insight", "capture"):
            table_name = f"{APP_NAME}-{stage}-{table}"
            try:
                ddb.update_table(TableName=table_name, DeletionProtectionEnabled=False)
                ddb.delete_table(TableName=table_name)
            except ddb.exceptions.ResourceNotFoundException:
                continue
            deleted.append(table_name)
    return deleted
