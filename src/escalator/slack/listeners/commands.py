"""`/escalate [free text]` opens the handoff form, pre-filled from the text; `/escalate stats` answers
with this week's numbers, `/escalate who` with who is on duty."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from escalator.domain.escalation import Origin
from escalator.services.rotas import who_is_on_duty
from escalator.services.stats import week_stats
from escalator.slack.ids import SLASH_COMMAND
from escalator.slack.listeners.handoff_form import open_handoff_form
from escalator.slack.payloads import FormOrigin, SlashCommand, parsed
from escalator.slack.rendering.digest import render_week_stats
from escalator.slack.rendering.rota import render_who
from escalator.slack.runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    def escalate(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        runtime.after_ack(body, respond, lambda: _escalate(runtime, body, respond))

    app.command(SLASH_COMMAND)(escalate)


def _escalate(runtime: Runtime, body: dict[str, Any], respond: Respond) -> None:
    command = parsed(SlashCommand, body, "slash command payload")
    if command is None:
        return
    if command.text.strip().lower() == "stats":
        stats = week_stats(
            runtime.store, runtime.policy, runtime.clock, runtime.directory.actor(command.user_id)
        )
        respond(text=render_week_stats(stats, runtime.policy), response_type="ephemeral")
        return
    if command.text.strip().lower() == "who":
        now = runtime.clock.now()
        answer = render_who(who_is_on_duty(runtime.policy, now), runtime.policy, now)
        respond(text=answer, response_type="ephemeral")
        return
    origin = FormOrigin(origin=Origin.command, channel_id=command.channel_id)
    problem = open_handoff_form(runtime, command.trigger_id, command.text, origin)
    if problem:
        respond(text=problem, response_type="ephemeral")
