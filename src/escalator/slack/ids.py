"""Every id Slack sends back to us: slash command, callback and action ids. One place, no stray literals."""

from enum import StrEnum

SLASH_COMMAND = "/escalate"


class CallbackId(StrEnum):
    escalate_form = "escalate_form"  # the handoff modal
    escalate_message = "escalate_message"  # the "Escalate this message" message shortcut
    update_form = "update_form"
    resolve_form = "resolve_form"
    reassign_form = "reassign_form"
    move_form = "move_form"
    cancel_form = "cancel_form"
    close_form = "close_form"
    incident_update_form = "incident_update_form"  # private_metadata: the incident's id
    incident_resolve_form = "incident_resolve_form"


class ActionId(StrEnum):
    """Buttons on the card and in private messages; each button's value is the escalation's id."""

    claim = "claim"
    unclaim = "unclaim"
    post_update = "post_update"
    resolve = "resolve"
    reassign = "reassign"
    move = "move"
    cancel = "cancel"
    approve = "approve"
    decline = "decline"
    close_loop = "close_loop"
    customer_unreachable = "customer_unreachable"
    reopen = "reopen"
    full_note = "full_note"  # the unmasked handoff note, in a modal only its reader sees
    callback_done = "callback_done"  # the callback promised to the customer was made
    snooze_hour = "snooze_hour"  # on reminders: the value is "<escalation id>:<timer kind>:<reminder>"
    snooze_tomorrow = "snooze_tomorrow"
    mute = "mute"
    reminder_menu = "reminder_menu"  # on App Home: each option is "<button action id>|<reminder value>"


class IncidentActionId(StrEnum):
    """Buttons about incidents: on a suggestion (its id), the incident card (its id), or an agent's
    note (the escalation's id)."""

    declare = "declare_incident"
    dismiss = "dismiss_incident"
    post_update = "incident_update"
    resolve = "incident_resolve"
    leave = "leave_incident"
