"""Bolt listeners, one module per Slack surface. Each acks first, then works; none holds business rules."""

from slack_bolt import App

from escalator.slack.listeners import (
    actions,
    case_forms,
    commands,
    events,
    form_actions,
    incidents,
    shortcuts,
    views,
)
from escalator.slack.runtime import Runtime


def register_listeners(app: App, runtime: Runtime) -> None:
    commands.register(app, runtime)
    shortcuts.register(app, runtime)
    views.register(app, runtime)
    events.register(app, runtime)
    actions.register(app, runtime)
    case_forms.register(app, runtime)
    incidents.register(app, runtime)
    form_actions.register(app, runtime)
