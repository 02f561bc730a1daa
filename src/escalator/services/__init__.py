"""Use cases: each runs in one transaction and returns what changed. No Slack, no HTTP."""
