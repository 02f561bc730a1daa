"""Escalator: customer-support escalations in Slack, from the frontline agent to the specialist and back."""
