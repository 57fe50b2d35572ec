"""DynamoDB repositories: the only modules that know DynamoDB."""
