"""Events API subscriptions. Each is acknowledged at once so Slack never retries it."""

from __future__ import annotations

from slack_bolt import Ack, App

from escalator.slack.runtime import Runtime


def register(app: App, runtime: Runtime) -> None:
    def acknowledge(ack: Ack) -> None:
        # Claims by reaction and the App Home build on these subscriptions; until a listener acts
        # on one, answering 200 keeps Slack from retrying and, in time, disabling the subscription.
        ack()

    for event in ("reaction_added", "reaction_removed", "app_home_opened"):
        app.event(event)(acknowledge)
