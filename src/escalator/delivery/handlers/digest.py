"""The daily digest, and its chart in the digest's thread."""

from __future__ import annotations

from datetime import date

from escalator.delivery.handlers.base import Delivering, Handler
from escalator.delivery.poster import Sent
from escalator.domain.messages import Message
from escalator.services.digest import Digests
from escalator.slack.rendering.chart import render_trend_chart
from escalator.slack.rendering.digest import render_digest
from escalator.store.repositories import OutboxMessage


def handlers(delivering: Delivering) -> dict[Message, Handler]:
    digest = DigestMessages(delivering)
    return {
        Message.post_digest: Handler(digest.post),
        Message.post_digest_chart: Handler(digest.chart),
    }


class DigestMessages:
    def __init__(self, delivering: Delivering) -> None:
        self._d = delivering
        self._digests = Digests(delivering.store, delivering.policy, delivering.clock)

    def post(self, message: OutboxMessage) -> Sent | None:
        """Built when delivered, from the data then: the numbers are the store's, not a snapshot's."""
        policy = self._d.policy
        if policy.digest is None:
            return None
        built = self._digests.build(date.fromisoformat(str(message.payload["day"])))
        return self._d.poster.post(message, policy.digest.channel, render_digest(built, policy).as_params())

    def chart(self, message: OutboxMessage) -> Sent | None:
        """In the thread of the digest posted just before it in its lane (none if that never arrived)."""
        policy = self._d.policy
        if policy.digest is None:
            return None
        with self._d.store.reading() as tx:
            digest = tx.outbox.delivered_post(message.lane, Message.post_digest)
        if digest is None:
            return None
        day = date.fromisoformat(str(message.payload["day"]))
        channel, thread = digest
        title = f"Escalations, the 14 days to {day:%d %B %Y}"
        if message.doubt and self._d.files_in_thread(channel, thread, title):
            return None  # an earlier try uploaded it (its answer lost): once is enough
        self._d.gateway.upload_file(
            channel,
            filename=f"escalations-{day.isoformat()}.png",
            content=render_trend_chart(self._digests.trend(day)),
            title=title,
            thread_ts=thread,
        )
        return None
