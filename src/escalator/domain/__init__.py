"""Pure logic of escalations: no Slack, no SQL."""
