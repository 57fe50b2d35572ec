"""AWS list prices used by ``bench/cost.py``: one dated table, us-east-1, first pricing tier.

    .venv/bin/python -m bench.prices        # prints the table as JSON

Prices cannot be fetched from this machine (no AWS network), so they live here, each with the
AWS page it belongs to (``source``), what the figure was checked against when it was written
down (``checked_via``; stored copies of AWS and third-party pages, read on ``READ_ON``) and
whether that check found the figure itself (``confirmed``). Re-check the ``source`` pages
before quoting a total, and update ``READ_ON`` with any change. Only the first tier of each
tiered price is used (the volumes of a single rtdcs deployment stay inside it: 300 M HTTP API
requests, 333 M REST API requests, 6 B x86 / 7.5 B arm64 GB-s, 10 TB of Lambda logs a month).
No free tier is applied.
"""

from __future__ import annotations

import json
import sys
from typing import Any

READ_ON = "2026-12-05"
REGION = "us-east-1"
CURRENCY = "USD"

PRICES: dict[str, dict[str, Any]] = {
    # ---- front doors -------------------------------------------------------------------------
    "apigw_rest_per_million": {
        "usd": 3.50, "unit": "per million REST API requests (first 333 M a month)",
        "tiers": "3.50 first 333 M; 2.80 next 667 M; 2.38 next 19 B; 1.51 over 20 B",
        "source": "https://aws.amazon.com/api-gateway/pricing/",
        "checked_via": "https://docs.aws.amazon.com/whitepapers/latest/"
                       "best-practices-api-gateway-private-apis-integration/cost-optimization.html"
                       " (Table 4, REST and HTTP API pricing)",
        "confirmed": True,
    },
    "apigw_http_per_million": {
        "usd": 1.00, "unit": "per million HTTP API requests (first 300 M a month)",
        "tiers": "1.00 first 300 M; 0.90 over 300 M; metered in 512 KB increments",
        "source": "https://aws.amazon.com/api-gateway/pricing/",
        "checked_via": "https://docs.aws.amazon.com/whitepapers/latest/"
                       "best-practices-api-gateway-private-apis-integration/cost-optimization.html"
                       " (Table 4)",
        "confirmed": True,
    },
    "function_url_per_million": {
        "usd": 0.0, "unit": "per million requests through a Lambda function URL",
        "source": "https://aws.amazon.com/lambda/pricing/",
        "checked_via": "https://docs.aws.amazon.com/lambda/latest/dg/apig-http-invoke-decision.html"
                       " (function URLs 'optimized for simplicity and cost-effectiveness');"
                       " third-party: dev.to 'Fine Details of AWS Lambda Function URL Feature'",
        "confirmed": False,
        "note": "No function-URL line on the Lambda pricing page: a request is billed as a "
                "Lambda request plus duration. AWS's docs do not state 'no extra fee' in the "
                "excerpts found; third parties do. Data transfer out is billed as usual.",
    },
    # ---- Lambda -------------------------------------------------------------------------------
    "lambda_requests_per_million": {
        "usd": 0.20, "unit": "per million invocations (x86_64 and arm64)",
        "source": "https://aws.amazon.com/lambda/pricing/",
        "checked_via": "the Lambda pricing page's text ('$0.20 per million requests', stored "
                       "copy); docs/deploy.md",
        "confirmed": True,
    },
    "lambda_gb_second_x86_64": {
        "usd": 0.0000166667, "unit": "per GB-second, x86_64 (first 6 B GB-s a month)",
        "tiers": "0.0000166667 first 6 B; 0.000015 next 9 B; 0.0000133334 over 15 B",
        "source": "https://aws.amazon.com/lambda/pricing/",
        "checked_via": "cloudchipr.com/blog/aws-lambda-pricing (US East tiers); artillery "
                       "lib/platform/aws-lambda/prices.js (base x86_64 1666670e-11)",
        "confirmed": True,
    },
    "lambda_gb_second_arm64": {
        "usd": 0.0000133334, "unit": "per GB-second, arm64 (first 7.5 B GB-s a month)",
        "tiers": "0.0000133334 first 7.5 B; 0.0000120001 next 11.25 B; 0.0000106667 over",
        "source": "https://aws.amazon.com/lambda/pricing/",
        "checked_via": "cloudchipr.com/blog/aws-lambda-pricing; artillery prices.js (base arm64 "
                       "1333340e-11)",
        "confirmed": True,
    },
    "lambda_mb_per_vcpu": {
        "value": 1769, "unit": "MB of configured memory that give one vCPU (CPU is "
                               "proportional to memory)",
        "source": "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html",
        "checked_via": "the same page (stored copies in fr/es/de/zh: 'at 1,769 MB a function "
                       "has the equivalent of one vCPU')",
        "confirmed": True,
    },
    "lambda_init_billed": {
        "value": True, "unit": "the INIT phase of on-demand functions is billed as duration",
        "source": "https://aws.amazon.com/lambda/pricing/",
        "checked_via": "the pricing page's text ('Duration charges apply to code that runs in "
                       "the handler of a function as well as initialization code'); AWS Bites "
                       "episode 144 (INIT billing from August 2025)",
        "confirmed": True,
        "note": "Only cold starts pay it; bench/cost.py adds it per cold start share.",
    },
    # ---- DynamoDB (on-demand) -----------------------------------------------------------------
    "dynamodb_write_request_unit_per_million": {
        "usd": 0.625, "unit": "per million on-demand write request units (1 KB each)",
        "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "checked_via": "airbyte.com/data-engineering-resources/dynamodb-pricing (after the 50 % "
                       "cut of November 2024: $0.625 WRU, $0.125 RRU, US East); AWS News Blog "
                       "'Amazon DynamoDB On-Demand' (updated 2025-01-31 for the reduced prices)",
        "confirmed": True,
        "note": "Was 1.25 before 2024-11-01.",
    },
    "dynamodb_read_request_unit_per_million": {
        "usd": 0.125, "unit": "per million on-demand read request units (4 KB strongly "
                              "consistent, or 2 x 4 KB eventually consistent)",
        "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "checked_via": "as dynamodb_write_request_unit_per_million",
        "confirmed": True,
        "note": "Was 0.25 before 2024-11-01.",
    },
    "dynamodb_wcu_hour": {
        "usd": 0.00065, "unit": "per provisioned write capacity unit-hour (one 1 KB write a "
                                "second for an hour)",
        "source": "https://aws.amazon.com/dynamodb/pricing/provisioned/",
        "checked_via": "public repositories' pricing notes found by find_string ('$0.00065 per "
                       "WCU-hour', '$0.00013 per RCU-hour', us-east-1; one of them about warm "
                       "throughput, priced 'at provisioned rates')",
        "confirmed": True,
        "note": "Third-party copies; the AWS page's figure was not in the stored excerpts. Not "
                "changed by the November 2024 on-demand cut. Paid whether used or not: "
                "bench/cost.py divides by the assumed utilisation.",
    },
    "dynamodb_rcu_hour": {
        "usd": 0.00013, "unit": "per provisioned read capacity unit-hour (one strongly "
                                "consistent 4 KB read, or two eventually consistent, a second)",
        "source": "https://aws.amazon.com/dynamodb/pricing/provisioned/",
        "checked_via": "as dynamodb_wcu_hour",
        "confirmed": True,
        "note": "as dynamodb_wcu_hour",
    },
    "dynamodb_streams_read_per_100k": {
        "usd": 0.02, "unit": "per 100,000 streams read requests (GetRecords)",
        "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "checked_via": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
                       "CostOptimization_StreamsUsage.html ('Read requests made by AWS Lambda-"
                       "based consumers of DynamoDB Streams are free')",
        "confirmed": False,
        "note": "Free when the reader is a Lambda trigger (confirmed); the $0.02 figure itself "
                "was not seen in the excerpts. rtdcs has no stream consumer on the event path: "
                "0 per event.",
    },
    "dynamodb_storage_gb_month": {
        "usd": 0.25, "unit": "per GB-month, Standard table class (not per event)",
        "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "checked_via": "docs/deploy.md's figure; not re-checked",
        "confirmed": False,
    },
    # ---- SQS -------------------------------------------------------------------------------
    "sqs_standard_per_million": {
        "usd": 0.40, "unit": "per million standard-queue requests (each 64 KB chunk of a "
                             "request is one)",
        "source": "https://aws.amazon.com/sqs/pricing/",
        "checked_via": "cloudburn.io/blog/amazon-sqs-pricing (March 2026: $0.40/M first 100 B, "
                       "1 M free a month); unanswered.io SQS pricing guide",
        "confirmed": True,
        "note": "Third-party pages quoting the AWS page; the AWS page itself was not in the "
                "stored excerpts.",
    },
    # ---- CloudWatch ------------------------------------------------------------------------
    "cloudwatch_logs_ingest_per_gb": {
        "usd": 0.50, "unit": "per GB ingested, Standard log class (Lambda logs: first 10 TB a "
                             "month)",
        "tiers": "Lambda logs are vended logs since 2025-05-01: 0.50 first 10 TB; 0.25 next "
                 "20 TB; 0.10 next 20 TB; 0.05 over 50 TB",
        "source": "https://aws.amazon.com/cloudwatch/pricing/",
        "checked_via": "duckbillgroup.com (Lambda log tiered pricing, May 2025: first tier "
                       "$0.50/GB, 60 TB = $12,500); hykell.com CloudWatch Logs pricing",
        "confirmed": True,
        "note": "Billed on uncompressed bytes. Whether the 26 bytes of per-log-event "
                "overhead of PutLogEvents' batch-size rule count for billing was not confirmed:"
                " bench/cost.py does not add them.",
    },
    "cloudwatch_custom_metric_month": {
        "usd": 0.30, "unit": "per custom metric per month (first 10,000); EMF has no "
                             "PutMetricData request charge, only log ingestion + metrics",
        "source": "https://aws.amazon.com/cloudwatch/pricing/",
        "checked_via": "c3x.dev 'CloudWatch custom metrics cost' ($0.30/metric/month first "
                       "10k); AWS Well-Architected Serverless Lens, 'Logging ingestion and "
                       "storage' (EMF: charged for ingestion, archival and per custom metric)",
        "confirmed": True,
        "note": "A monthly charge per metric, not per event: not in $/M.",
    },
    # ---- data transfer ---------------------------------------------------------------------
    "data_transfer_out_per_gb": {
        "usd": 0.09, "unit": "per GB out to the internet (first 10 TB a month; first 100 GB "
                             "free)",
        "source": "https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer",
        "checked_via": "unanswered.io SQS pricing guide ('Data transfer out starts at $0.09 per "
                       "GB for the first 10 TB'); docs/deploy.md",
        "confirmed": False,
        "note": "Not seen on an AWS page in the stored excerpts.",
    },
}


def price(name: str) -> float:
    entry = PRICES[name]
    return float(entry["usd"] if "usd" in entry else entry["value"])


def table() -> dict[str, Any]:
    return {"read_on": READ_ON, "region": REGION, "currency": CURRENCY, "prices": PRICES}


if __name__ == "__main__":
    json.dump(table(), sys.stdout, indent=2)
    sys.stdout.write("\n")
