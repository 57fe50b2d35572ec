"""Chalice blueprints: HTTP in and out only."""
