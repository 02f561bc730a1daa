"""Nudges, breaches and reminders: what the timers say, and the buttons to act, snooze or mute."""

from __future__ import annotations

from typing import Any

from escalator.domain.escalation import Escalation
from escalator.domain.privacy import for_channel
from escalator.domain.timers import ACKNOWLEDGE_TIMERS, TimerKind
from escalator.policy import Policy
from escalator.slack.ids import ActionId
from escalator.slack.rendering import phrases
from escalator.slack.rendering.engine import SlackMessage
from escalator.slack.text import mrkdwn_escape, slack_date


def render_notice(
    escalation: Escalation,
    policy: Policy,
    kind: TimerKind,
    to: str,
    reminder: int,
    returned: bool = False,
    on_duty: tuple[str, ...] = (),
) -> SlackMessage:
    """A timer's message to `to` (a channel or a person); `on_duty`: who on the rota it asks first."""
    e = for_channel(escalation, policy.privacy)  # a notice may go to a channel; the card has the rest
    about = f"*{e.reference}* ({e.priority.value} · {mrkdwn_escape(e.customer_name)})"
    to_person = to[0] in "UW"
    buttons: list[tuple[ActionId, str]] = []
    if kind is TimerKind.acknowledge_nudge:
        claim = f"react with :{policy.reactions.claim}: on the card to claim it"
        if to_person and to in on_duty:
            where = e.card_channel_id or e.routed_channel_id
            asked = f"You are on duty: {claim} in <#{where}>, or press Claim."
            buttons = [(ActionId.claim, "Claim")]
        elif on_duty:
            asked = (
                f"{phrases.mentions(list(on_duty), None)} (on duty): {claim}; "
                f"any of the {phrases.who_may_claim(e, policy)} may."
            )
        else:
            asked = f"{phrases.owners(e, policy)}: {claim}."
        text = (
            f":hourglass_flowing_sand: {about} is still waiting for a specialist: acknowledge by "
            f"{slack_date(e.acknowledge_by)}. {asked}"
        )
    elif kind is TimerKind.acknowledge_breach:
        text = (
            f":rotating_light: {about} was not acknowledged by {slack_date(e.acknowledge_by)} and is still "
            f"open in <#{e.card_channel_id or e.routed_channel_id}>."
        )
        if to_person and to in on_duty:
            text += " You are the supervisor on duty: please pick it up (any supervisor may)."
            buttons = [(ActionId.claim, "Claim")]
    elif kind is TimerKind.first_update_nudge:
        due = slack_date(e.first_update_by)
        text = f":hourglass_flowing_sand: You own {about}: give a first update by {due}."
        buttons = [(ActionId.post_update, "Post update")]
    elif kind is TimerKind.first_update_breach and returned:
        text = (
            f":leftwards_arrow_with_hook: {about} went back to the queue: there was no first update by "
            f"{slack_date(e.first_update_by)}."
        )
    elif kind is TimerKind.first_update_breach:
        text = (
            f":warning: The first update on {about} was due {slack_date(e.first_update_by)}. "
            "Post one now, so the agent can keep the customer informed."
        )
        buttons = [(ActionId.post_update, "Post update")]
    elif kind is TimerKind.resolve_nudge:
        text = (
            f":hourglass_flowing_sand: You own {about}: it should be resolved by {slack_date(e.resolve_by)}."
        )
        buttons = [(ActionId.resolve, "Resolve")]
    elif kind is TimerKind.resolve_breach:
        owner = f"<@{e.owner_user_id}>" if e.owner_user_id else "nobody yet"
        text = (
            f":rotating_light: {about} missed its resolve target ({slack_date(e.resolve_by)}). "
            f"Owner: {owner}. Card: <#{e.card_channel_id or e.routed_channel_id}>."
        )
    elif kind is TimerKind.customer_deadline:
        promise = f" (“{mrkdwn_escape(e.deadline)}”)" if e.deadline else ""
        text = (
            f":alarm_clock: The customer's own deadline on {about} is {slack_date(e.deadline_at)}{promise}."
        )
    elif kind is TimerKind.callback_reminder:
        promised = _promised(e)
        if to == e.owner_user_id:
            text = f":telephone_receiver: You own {about}: {promised}. Press *Called back* once you have."
        else:
            text = (
                f":telephone_receiver: Nobody owns {about} yet, and {promised}: make the call yourself "
                "or ask a supervisor, then press *Called back*."
            )
        buttons = [(ActionId.callback_done, "Called back")]
    elif kind is TimerKind.callback_missed:
        text = (
            f":warning: Promised callback missed on {about}: {_promised(e)}, and nobody marked it made. "
            "Contact the customer now, then press *Called back*."
        )
        buttons = [(ActionId.callback_done, "Called back")]
    elif kind is TimerKind.close_the_loop:
        issue = mrkdwn_escape(phrases.path_label(e, policy).lower())
        resolved = slack_date(e.resolved_at, "{ago}") if e.resolved_at else "earlier"
        text = (
            f":telephone_receiver: {about} was resolved {resolved}. Have you told the customer? "
            f"Reminder {reminder} of {policy.close_the_loop.max_reminders}. You could say: “I wanted to "
            f"check that your {issue} issue is resolved and see if you need more help.”"
        )
        buttons = [
            (ActionId.close_loop, "Customer informed — close"),
            (ActionId.customer_unreachable, "Customer unreachable"),
            (ActionId.reopen, "Reopen"),
        ]
    else:  # loop_still_open
        text = (
            f":warning: {about} was resolved, but <@{e.agent_user_id}> has not closed the loop with the "
            f"customer after {policy.close_the_loop.max_reminders} reminders."
        )
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if to_person:  # they can act, snooze or mute
        elements = [_button(action, label, str(e.id)) for action, label in buttons]
        snooze_value = f"{e.id}:{kind.value}:{reminder}"
        if kind not in ACKNOWLEDGE_TIMERS:  # asked to pick a case up: later would nudge everyone again
            elements += [
                _button(ActionId.snooze_hour, "Snooze 1 h", snooze_value),
                _button(ActionId.snooze_tomorrow, "Tomorrow", snooze_value),
            ]
        elements.append(_button(ActionId.mute, "Mute this case", snooze_value))
        blocks.append({"type": "actions", "block_id": "reminder_actions", "elements": elements})
    return SlackMessage(text=text, blocks=blocks)


def _promised(e: Escalation) -> str:
    assert e.callback_at is not None and e.callback_via is not None  # only a promise has these timers
    return f"the customer was promised a callback by {e.callback_via.value} {slack_date(e.callback_at)}"


def _button(action: ActionId, label: str, value: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action.value,
        "value": value,
        "text": {"type": "plain_text", "text": label},
    }
