"""Infrastructure: the CloudFormation data stack and the helper that deploys it."""
