"""``python -m infra COMMAND --stage STAGE``: deploy, throttle, package, policies, teardown.

AWS clients come from the caller's usual AWS configuration (profile, region). See
docs/deploy.md for the whole procedure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _clients(region: str | None) -> dict[str, Any]:
    import boto3

    session = boto3.session.Session(region_name=region)
    return {name: session.client(name) for name in
            ("cloudformation", "dynamodb", "ssm", "apigateway", "lambda")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("deploy", "create/update the data stack, write its outputs into .chalice/config.json, "
                   "create the admin token parameter, throttle an already deployed API"),
        ("throttle", "after `chalice deploy`: API Gateway throttling and the functions' JSON "
                     "logging config (system logs at WARN)"),
        ("package", "chalice package with the data stack merged in (one SAM template)"),
        ("policies", "render the IAM policy files of every stage into .chalice/"),
        ("teardown", "delete the data stack (after `chalice delete --stage STAGE`)"),
    ):
        command = sub.add_parser(name, help=text)
        if name != "policies":
            command.add_argument("--stage", required=True, choices=("dev", "prod"))
            command.add_argument("--region", default=None)
        if name == "deploy":
            command.add_argument("--alarm-email", default="")
            command.add_argument("--profiles-capacity", default="",
                                 choices=("", "on-demand", "provisioned"),
                                 help="the profile table's capacity mode (default: keep)")
        if name == "package":
            command.add_argument("outdir", type=Path)
            command.add_argument("--front-door", default="rest", choices=("rest", "http", "url"),
                                 help="REST API (default), HTTP API, or Lambda function URL")
        if name == "teardown":
            command.add_argument("--delete-tables", action="store_true",
                                 help="also delete the retained tables (data is lost)")
    args = parser.parse_args(argv)

    if args.command == "policies":
        from infra.policies import write_policy_files

        for path in write_policy_files():
            print(path)
        return 0
    if args.command == "package":
        from infra.package import package

        print(package(args.stage, args.outdir, front_door=args.front_door))
        return 0

    from infra import deploy as steps

    clients = _clients(args.region)
    if args.command == "deploy":
        report = steps.deploy(args.stage, clients["cloudformation"], clients["dynamodb"],
                              clients["ssm"], clients["apigateway"],
                              alarm_email=args.alarm_email,
                              profiles_capacity=args.profiles_capacity,
                              lambda_client=clients["lambda"])
        print(json.dumps({"outputs": report.outputs, "token_created": report.token_created,
                          "throttled_api": report.throttled_api}, indent=2))
        print(f"next: chalice deploy --stage {args.stage}"
              + ("" if report.throttled_api else
                 f"; then python -m infra throttle --stage {args.stage}"))
    elif args.command == "throttle":
        print(steps.throttle(args.stage, clients["apigateway"],
                             lambda_client=clients["lambda"]))
    elif args.command == "teardown":
        deleted = steps.teardown(args.stage, clients["cloudformation"], clients["dynamodb"],
                                 delete_tables=args.delete_tables)
        print(json.dumps({"deleted_tables": deleted}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
