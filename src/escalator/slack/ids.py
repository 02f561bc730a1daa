"""Every id Slack sends back to us: slash command, callback ids. One place, no stray literals."""

from enum import StrEnum

SLASH_COMMAND = "/escalate"


class CallbackId(StrEnum):
    escalate_form = "escalate_form"  # the handoff modal
    escalate_message = "escalate_message"  # the "Escalate this message" message shortcut
