"""``chalice package`` for pipelines: one SAM stack holding the app and the data stack.

    python -m infra package --stage prod out/
    aws cloudformation package --template-file out/sam.json --s3-bucket BUCKET \\
        --output-template-file out/packaged.yaml
    aws cloudformation deploy --template-file out/packaged.yaml --stack-name rtdcs-prod \\
        --capabilities CAPABILITY_IAM

The merge template is ``infra/data-stack.yaml`` plus an overlay (written to a temporary
file and passed to ``chalice package --merge-template``) that
* defaults the ``Stage`` parameter to the packaged stage;
* points every function's settings at the stack's own resources (``!Ref``), so the stack
  needs nothing from ``python -m infra deploy``;
* and, after Chalice wrote the template (its merge cannot replace a value that is itself an
  object), wires the queue handlers' event sources to the queues by ``!GetAtt``, so
  CloudFormation creates the queues before the mappings;
* sets API Gateway stage throttling (``MethodSettings``) and every function's
  ``LoggingConfig`` (JSON, system logs at WARN), which Chalice cannot express.

Use one path per stage and account: this stack, or the data stack + ``chalice deploy``
(both create the same ``rtdcs-<stage>-*`` names).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from infra import layer
from infra.bootstrap import TEMPLATE_PATH
from infra.deploy import LOGGING_CONFIG, STAGE_PROFILES, StageProfile, admin_token_parameter

ROOT = Path(__file__).resolve().parent.parent
# Logical ids Chalice gives the functions (CamelCase of the handler names).
API_FUNCTION = "APIHandler"
SPOOL_FUNCTION = "SpoolReplay"
S2S_FUNCTION = "S2sDelivery"
INSIGHT_FUNCTION = "InsightAggregator"
REPORTS_FUNCTION = "InsightReports"
INSIGHT_LAYER = "InsightLayer"
INSIGHT_LAYER_FILE = "insight-layer.zip"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML short forms (!Ref, !Sub, ...) into their JSON forms."""


def _construct(tag: str) -> Any:
    name = "Ref" if tag == "Ref" else f"Fn::{tag}"

    def build(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return build


for _tag in ("Ref", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Join", "Select",
             "Split", "FindInMap", "ImportValue", "Base64", "GetAZs", "Condition"):
    _CfnLoader.add_constructor(f"!{_tag}", _construct(_tag))


def data_template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE_PATH.read_text(encoding="utf-8"), _CfnLoader)
    return loaded


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _att(name: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def overlay(stage: str) -> dict[str, Any]:
    """What the merge adds to (or overrides in) Chalice's SAM template."""
    profile = STAGE_PROFILES.get(stage, StageProfile())
    tables = {
        "RTDCS_PROFILES_TABLE": _ref("ProfilesTable"),
        "RTDCS_IDMAP_TABLE": _ref("IdMapTable"),
        "RTDCS_CATALOG_TABLE": _ref("CatalogTable"),
    }
    api_env = {
        **tables,
        "RTDCS_SPOOL_QUEUE_URL": _ref("SpoolQueue"),
        "RTDCS_S2S_QUEUE_URL": _ref("S2SQueue"),
        "RTDCS_ADMIN_TOKEN_PARAMETER": admin_token_parameter(stage),
    }
    return {
        "Parameters": {"Stage": {"Default": stage}},
        "Resources": {
            "RestAPI": {
                "Properties": {
                    "MethodSettings": [
                        {
                            "ResourcePath": "/*",
                            "HttpMethod": "*",
                            "ThrottlingRateLimit": profile.throttle_rate,
                            "ThrottlingBurstLimit": profile.throttle_burst,
                            "MetricsEnabled": True,
                        }
                    ]
                }
            },
            API_FUNCTION: {"Properties": {"Environment": {"Variables": api_env}}},
            SPOOL_FUNCTION: {
                "Properties": {
                    "Environment": {
                        "Variables": {**tables, "RTDCS_SPOOL_QUEUE_URL": _ref("SpoolQueue")}
                    },
                }
            },
            S2S_FUNCTION: {
                "Properties": {
                    "Environment": {
                        "Variables": {
                            **tables,
                            "RTDCS_S2S_QUEUE_URL": _ref("S2SQueue"),
                            "RTDCS_S2S_DLQ_URL": _ref("S2SDeadLetterQueue"),
                        }
                    },
                }
            },
        },
    }


def _deep_merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _deep_merge(base[key], value) if key in base else value
        return merged
    return extra


def merge_template(stage: str) -> dict[str, Any]:
    """The ``--merge-template`` document: the data stack plus the overlay."""
    merged: dict[str, Any] = _deep_merge(_deep_merge(data_template(), overlay(stage)),
                                         insight_overlay())
    return merged


def package(stage: str, outdir: Path, env: dict[str, str] | None = None,
            front_door: str = "rest") -> Path:
    """Run ``chalice package --stage STAGE --merge-template ... OUTDIR``; return sam.json.

    ``front_door``: ``rest`` (Chalice's REST API), ``http`` (an HTTP API) or ``url`` (a Lambda
    function URL); see :func:`apply_front_door`. Needs no AWS access (Chalice only reads the
    project and builds the zip)."""
    if front_door not in FRONT_DOORS:
        raise ValueError(f"front_door must be one of {', '.join(FRONT_DOORS)}")
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rtdcs-merge-") as tmp:
        merge_path = Path(tmp) / "merge.json"
        merge_path.write_text(json.dumps(merge_template(stage), indent=1), encoding="utf-8")
        command = [
            sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())",
            "package", "--stage", stage, "--merge-template", str(merge_path), str(outdir),
        ]
        run_env = {**os.environ, **(env or {})}
        result = subprocess.run(command, cwd=ROOT, env=run_env, capture_output=True, text=True,
                                timeout=300, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"chalice package failed:\n{result.stdout}\n{result.stderr}")
    sam = outdir / "sam.json"
    template = json.loads(sam.read_text(encoding="utf-8"))
    template = apply_front_door(wire_insight_stream(wire_queues(template)), front_door,
                                STAGE_PROFILES.get(stage, StageProfile()))
    template = apply_logging_config(add_insight_layer(template))
    layer.copy_to(outdir, INSIGHT_LAYER_FILE)
    sam.write_text(json.dumps(template, indent=2) + "\n", encoding="utf-8")
    return sam


def apply_logging_config(template: dict[str, Any]) -> dict[str, Any]:
    """Every function logs in Lambda's JSON format with system logs at WARN (issue 17).

    At the default (text, system INFO) Lambda adds START, END and REPORT lines to every
    invocation: 268 bytes an event, 28 % of its log bill. At WARN they are left out; a
    timeout, an out-of-memory end or a failed init still is logged. Our own lines are JSON
    already, so Lambda passes them as they are (EMF keeps working)."""
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["LoggingConfig"] = dict(LOGGING_CONFIG)
    return template


# Function logical id -> the queue resource its SQS event source reads.
QUEUE_OF = {SPOOL_FUNCTION: "SpoolQueue", S2S_FUNCTION: "S2SQueue"}


def wire_queues(template: dict[str, Any]) -> dict[str, Any]:
    """Point each queue handler's SQS event at its queue resource (``!GetAtt Queue.Arn``)."""
    resources = template["Resources"]
    for function, queue in QUEUE_OF.items():
        events = resources[function]["Properties"]["Events"]
        for event in events.values():
            if event.get("Type") == "SQS":
                event["Properties"]["Queue"] = _att(queue, "Arn")
    return template


# -- front doors (docs/deploy.md, "Front doors") ------------------------------------------------
FRONT_DOORS = ("rest", "http", "url")
# The API handler behind an HTTP API or a function URL (chalicelib/runtime/front_door.py).
FRONT_DOOR_HANDLER = "app.front_door"
_REST_ONLY_RESOURCES = ("RestAPI", "APIHandlerInvokePermission")
_REST_ONLY_OUTPUTS = ("RestAPIId", "EndpointURL")


def apply_front_door(template: dict[str, Any], kind: str, profile: StageProfile) -> dict[str, Any]:
    """Replace Chalice's REST API by an HTTP API (``http``) or a function URL (``url``).

    ``http``: one ``$default`` route, payload format 1.0, stage throttling from the profile.
    ``url``: ``AuthType NONE`` (the app does its own admin auth), both permissions a public
    URL needs since October 2025 (``lambda:InvokeFunctionUrl`` and ``lambda:InvokeFunction``
    via the URL), and the function's reserved concurrency as the only cap. CORS stays the
    app's own (``/event`` answers its preflight), so the URL has no ``Cors`` block."""
    if kind == "rest":
        return template
    resources = template["Resources"]
    outputs = template.setdefault("Outputs", {})
    for name in _REST_ONLY_RESOURCES:
        resources.pop(name, None)
    for name in _REST_ONLY_OUTPUTS:
        outputs.pop(name, None)
    api = resources[API_FUNCTION]["Properties"]
    api["Handler"] = FRONT_DOOR_HANDLER
    if kind == "http":
        resources.update(_http_api(profile))
        outputs["EndpointURL"] = {"Value": {"Fn::Sub": (
            "https://${HttpAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/")}}
        outputs["HttpAPIId"] = {"Value": _ref("HttpAPI")}
    else:
        resources.update(_function_url())
        api["ReservedConcurrentExecutions"] = profile.url_concurrency
        outputs["EndpointURL"] = {"Value": _att("FunctionUrl", "FunctionUrl")}
    return template


def _http_api(profile: StageProfile) -> dict[str, Any]:
    api_id = _ref("HttpAPI")
    return {
        "HttpAPI": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {
            "Name": {"Fn::Sub": "${AWS::StackName}-http"}, "ProtocolType": "HTTP"}},
        "HttpAPIIntegration": {"Type": "AWS::ApiGatewayV2::Integration", "Properties": {
            "ApiId": api_id, "IntegrationType": "AWS_PROXY",
            "IntegrationUri": _att(API_FUNCTION, "Arn"), "PayloadFormatVersion": "1.0",
            "TimeoutInMillis": 29000}},
        "HttpAPIDefaultRoute": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {
            "ApiId": api_id, "RouteKey": "$default",
            "Target": {"Fn::Sub": "integrations/${HttpAPIIntegration}"}}},
        "HttpAPIStage": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
            "ApiId": api_id, "StageName": "$default", "AutoDeploy": True,
            "DefaultRouteSettings": {"ThrottlingRateLimit": profile.throttle_rate,
                                     "ThrottlingBurstLimit": profile.throttle_burst,
                                     "DetailedMetricsEnabled": True}}},
        "HttpAPIInvokePermission": {"Type": "AWS::Lambda::Permission", "Properties": {
            "FunctionName": _ref(API_FUNCTION), "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": {"Fn::Sub": (
                "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpAPI}/*")}}},
    }


def _function_url() -> dict[str, Any]:
    return {
        "FunctionUrl": {"Type": "AWS::Lambda::Url", "Properties": {
            "TargetFunctionArn": _att(API_FUNCTION, "Arn"), "AuthType": "NONE",
            "InvokeMode": "BUFFERED"}},
        "FunctionUrlPublicAccess": {"Type": "AWS::Lambda::Permission", "Properties": {
            "FunctionName": _ref(API_FUNCTION), "Action": "lambda:InvokeFunctionUrl",
            "Principal": "*", "FunctionUrlAuthType": "NONE"}},
        "FunctionUrlInvokeAccess": {"Type": "AWS::Lambda::Permission", "Properties": {
            "FunctionName": _ref(API_FUNCTION), "Action": "lambda:InvokeFunction",
            "Principal": "*", "InvokedViaFunctionUrl": True}},
    }


# ---- audience insight (docs/insight.md) --------------------------------------------------------
def insight_overlay() -> dict[str, Any]:
    """The insight table for the aggregator and for the API's reports."""
    insight = {"RTDCS_INSIGHT_TABLE": _ref("InsightTable")}
    return {
        "Resources": {
            API_FUNCTION: {"Properties": {"Environment": {"Variables": insight}}},
            INSIGHT_FUNCTION: {
                "Properties": {
                    "Environment": {
                        "Variables": {
                            **insight,
                            "RTDCS_CATALOG_TABLE": _ref("CatalogTable"),
                            "RTDCS_PROFILES_TABLE": _ref("ProfilesTable"),
                        }
                    }
                }
            },
            REPORTS_FUNCTION: {
                "Properties": {
                    "Environment": {
                        "Variables": {**insight, "RTDCS_CATALOG_TABLE": _ref("CatalogTable")}
                    }
                }
            },
        }
    }


def add_insight_layer(template: dict[str, Any]) -> dict[str, Any]:
    """The DataSketches layer (infra/layer.py; its zip beside the template) for the two
    insight functions, and the reports function under the name the API's policy and
    ``RTDCS_INSIGHT_REPORTS_FUNCTION`` give it."""
    resources = template["Resources"]
    resources[INSIGHT_LAYER] = {"Type": "AWS::Serverless::LayerVersion", "Properties": {
        "LayerName": {"Fn::Sub": "rtdcs-${Stage}-insight"},
        "ContentUri": f"./{INSIGHT_LAYER_FILE}",
        "CompatibleRuntimes": ["python3.11"],
        "CompatibleArchitectures": ["arm64"],
        "RetentionPolicy": "Delete",
    }}
    for name in (INSIGHT_FUNCTION, REPORTS_FUNCTION):
        resources[name]["Properties"]["Layers"] = [_ref(INSIGHT_LAYER)]
    resources[REPORTS_FUNCTION]["Properties"]["FunctionName"] = {
        "Fn::Sub": "rtdcs-${Stage}-insight_reports"}
    return template


def wire_insight_stream(template: dict[str, Any]) -> dict[str, Any]:
    """Point the aggregator's DynamoDB event at the profiles table's stream, and say what a
    failing batch does: split in halves to isolate a bad record, retried 10 times, never
    older than a day (a sketch union is idempotent: a retried batch adds no uniques)."""
    function = template["Resources"].get(INSIGHT_FUNCTION)
    if function is None:
        return template
    for event in function["Properties"].get("Events", {}).values():
        if event.get("Type") == "DynamoDB":
            event["Properties"].update({
                "Stream": _att("ProfilesTable", "StreamArn"),
                "BisectBatchOnFunctionError": True,
                "MaximumRetryAttempts": 10,
                "MaximumRecordAgeInSeconds": 86400,
            })
    return template
