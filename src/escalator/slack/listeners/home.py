"""The App Home tab: published when a person opens it, and when something of theirs changes."""

from __future__ import annotations

import logging

from escalator.domain.lifecycle import Actor
from escalator.services.home import home_for
from escalator.slack.gateway import SlackCallFailed
from escalator.slack.rendering.home import render_home
from escalator.slack.runtime import Runtime

log = logging.getLogger(__name__)


def publish_home(runtime: Runtime, actor: Actor) -> None:
    home = home_for(runtime.store, runtime.policy, runtime.clock, actor)
    try:
        runtime.gateway.call("views.publish", user_id=actor.user_id, view=render_home(home, runtime.policy))
    except SlackCallFailed as exc:
        log.warning("could not publish the App Home of %s: %s", actor.user_id, exc.error)
