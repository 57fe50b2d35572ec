"""Every test runs with dummy AWS credentials, a region and no metadata probing.

Set before anything imports boto3, so no code path can reach a non-loopback address.
"""

import os

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
)
os.environ.pop("AWS_PROFILE", None)

pytest_plugins = ["tests.fixtures_stack"]
