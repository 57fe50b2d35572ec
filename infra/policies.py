"""Least-privilege IAM policies of the five Lambda functions, per stage.

``chalice`` cannot derive them (``autogen_policy: false``: it only reads app.py), so they are
written here once and rendered into ``.chalice/policy-<stage>[-<function>].json``
(``python -m infra policies``; a test fails when the committed files differ). Every resource
is named exactly, by the stage's names (``rtdcs-<stage>-...``); region and account are
wildcards so one file serves any account.

* API handler (``rtdcs-<stage>``): DynamoDB on the three tables (the operations the stores
  use); send to the spool and S2S queues; read SSM parameters under ``/rtdcs/<stage>/``
  (admin token, provider secrets).
* ``spool_replay``: update (and read) the profiles table; consume the spool queue.
* ``s2s_delivery``: read the catalog table; consume the S2S queue; send to it and to its
  dead-letter queue; read SSM parameters under ``/rtdcs/<stage>/`` (destination secrets).
* ``insight_aggregator``: read the profiles table's stream (its label is only known once the
  table exists: ``stream/*`` of that one table); read the catalog table; get and put the
  insight table's items (docs/insight.md).
* ``insight_reports``: read the catalog and query the insight table (the reports' math); the
  API handler may invoke it and no longer reads the insight table itself.

Each may write its own CloudWatch log group (EMF metrics travel in the logs, so no
``cloudwatch:PutMetricData``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CHALICE_DIR = Path(__file__).resolve().parent.parent / ".chalice"
APP_NAME = "rtdcs"
STAGES = ("dev", "prod")
# Chalice handler names (chalicelib/routes/spool.py, chalicelib/routes/s2s.py).
SPOOL_FUNCTION = "spool_replay"
S2S_FUNCTION = "s2s_delivery"
INSIGHT_FUNCTION = "insight_aggregator"  # chalicelib/routes/insight.py
REPORTS_FUNCTION = "insight_reports"  # chalicelib/routes/insight.py (the reports' math)

# Operations the stores use (chalicelib/store/*.py; TransactWriteItems needs the item-level
# actions of its parts too, which are in the list).
_TABLE_ACTIONS = [
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",  # catalog index items (store/catalog.py)
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
]
_CONSUME_ACTIONS = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
]


def _table(stage: str, name: str) -> str:
    return f"arn:aws:dynamodb:*:*:table/{APP_NAME}-{stage}-{name}"


def _stream(stage: str, table: str) -> str:
    return f"{_table(stage, table)}/stream/*"


def _queue(stage: str, name: str) -> str:
    return f"arn:aws:sqs:*:*:{APP_NAME}-{stage}-{name}"


def _parameters(stage: str) -> str:
    return f"arn:aws:ssm:*:*:parameter/{APP_NAME}/{stage}/*"


def _logs(function_name: str) -> dict[str, Any]:
    group = f"arn:aws:logs:*:*:log-group:/aws/lambda/{function_name}"
    return {
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [group, f"{group}:*"],
    }


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def api_policy(stage: str) -> dict[str, Any]:
    return _policy(
        _logs(f"{APP_NAME}-{stage}"),
        {
            "Effect": "Allow",
            "Action": _TABLE_ACTIONS,
            "Resource": [_table(stage, t) for t in ("profiles", "idmap", "catalog")],
        },
        {
            "Effect": "Allow",
            # the /v1/reports/* answers: computed by insight_reports (it carries DataSketches)
            "Action": ["lambda:InvokeFunction"],
            "Resource": [f"arn:aws:lambda:*:*:function:{APP_NAME}-{stage}-{REPORTS_FUNCTION}"],
        },
        {
            "Effect": "Allow",
            # the console's event capture (docs/console.md): one PutItem per captured event
            "Action": ["dynamodb:PutItem", "dynamodb:Query"],
            "Resource": [_table(stage, "capture")],
        },
        {
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": [_queue(stage, "spool"), _queue(stage, "s2s")],
        },
        {
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            "Resource": [_parameters(stage)],
        },
    )


def spool_policy(stage: str) -> dict[str, Any]:
    return _policy(
        _logs(f"{APP_NAME}-{stage}-{SPOOL_FUNCTION}"),
        {
            "Effect": "Allow",
            # a replay is one conditional PutItem of the whole profile (docs/profile-storage.md)
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
            "Resource": [_table(stage, "profiles")],
        },
        {"Effect": "Allow", "Action": _CONSUME_ACTIONS, "Resource": [_queue(stage, "spool")]},
    )


def s2s_policy(stage: str) -> dict[str, Any]:
    return _policy(
        _logs(f"{APP_NAME}-{stage}-{S2S_FUNCTION}"),
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:Query"],
            "Resource": [_table(stage, "catalog")],
        },
        {"Effect": "Allow", "Action": _CONSUME_ACTIONS, "Resource": [_queue(stage, "s2s")]},
        {
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": [_queue(stage, "s2s"), _queue(stage, "s2s-dlq")],
        },
        {
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            "Resource": [_parameters(stage)],
        },
    )


def insight_policy(stage: str) -> dict[str, Any]:
    return _policy(
        _logs(f"{APP_NAME}-{stage}-{INSIGHT_FUNCTION}"),
        {
            "Effect": "Allow",
            # what Lambda's event source mapping needs of the function's role
            "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords",
                       "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
            "Resource": [_stream(stage, "profiles")],
        },
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:Query"],
            "Resource": [_table(stage, "catalog")],
        },
        {
            "Effect": "Allow",
            # a merge: one read, then conditional PutItems (docs/insight.md)
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
            "Resource": [_table(stage, "insight")],
        },
    )


def reports_policy(stage: str) -> dict[str, Any]:
    return _policy(
        _logs(f"{APP_NAME}-{stage}-{REPORTS_FUNCTION}"),
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:Query"],  # ids known to the catalog
            "Resource": [_table(stage, "catalog")],
        },
        {
            "Effect": "Allow",
            "Action": ["dynamodb:Query"],  # the day sketches of a report
            "Resource": [_table(stage, "insight")],
        },
    )


def policy_files(stage: str) -> dict[str, dict[str, Any]]:
    """File name (in .chalice/) -> policy document, for one stage."""
    return {
        f"policy-{stage}.json": api_policy(stage),
        f"policy-{stage}-spool.json": spool_policy(stage),
        f"policy-{stage}-s2s.json": s2s_policy(stage),
        f"policy-{stage}-insight.json": insight_policy(stage),
        f"policy-{stage}-reports.json": reports_policy(stage),
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def write_policy_files(
    directory: Path = CHALICE_DIR, stages: tuple[str, ...] = STAGES
) -> list[Path]:
    written = []
    for stage in stages:
        for name, document in policy_files(stage).items():
            path = directory / name
            path.write_text(render(document), encoding="utf-8")
            written.append(path)
    return written
