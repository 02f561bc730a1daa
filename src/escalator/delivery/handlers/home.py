"""A person's App Home, after a change of theirs: refreshes waiting for one person are coalesced."""

from __future__ import annotations

from escalator.delivery.handlers.base import Delivering, Handler
from escalator.delivery.poster import Sent
from escalator.domain.messages import Message
from escalator.services.home import home_for
from escalator.slack.rendering.home import render_home
from escalator.store.repositories import OutboxMessage


def handlers(delivering: Delivering) -> dict[Message, Handler]:
    def publish_home(message: OutboxMessage) -> Sent | None:
        actor = delivering.directory.actor(str(message.payload["user"]))
        home = home_for(delivering.store, delivering.policy, delivering.clock, actor)
        view = render_home(home, delivering.policy)
        delivering.gateway.call("views.publish", user_id=actor.user_id, view=view)
        return None

    return {Message.publish_home: Handler(publish_home)}
