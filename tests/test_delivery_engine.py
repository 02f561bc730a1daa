"""The delivery engine through signed requests: what people wait for goes first, one channel's backlog
never delays another's, nothing blocked stalls the queue, a Home refresh is coalesced, a rate limit
never costs a try, a message refused for good is kept, reported and can be retried, and a move never
loses to a card still on its way."""

from __future__ import annotations

import itertools
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import RunningApp, make_settings
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from test_operability import scrape, value

from escalator.cli import main
from escalator.delivery.queue import OutboxQueue
from escalator.domain.escalation import Escalation
from escalator.domain.messages import Message
from escalator.services.privacy import forget_account
from escalator.standin.sender import AGENT, handoff_values, text
from escalator.standin.sender import select as option
from escalator.standin.web_api import Call, Reply, SlackStandIn
from escalator.store.tables import outbox
from escalator.wiring import build_delivery

BILLING, TECH, SUPERVISORS = "C0123BILL", "C0123TECH", "C0123SUP"


def submit(app: RunningApp, user: str = AGENT, **overrides: Any) -> None:
    assert app.slack.submit(handoff_values(**overrides), user_id=user).json()["response_action"] == "update"
    app.settle()


def cases(app: RunningApp) -> list[Escalation]:
    with app.store.reading() as tx:
        return list(tx.session.scalars(select(Escalation).order_by(Escalation.id)))


def top_level_posts(slack_api: SlackStandIn, channel: str) -> list[dict[str, Any]]:
    """What the channel shows: the messages Slack accepted, threads left out."""
    return [m for m in slack_api.posted[channel] if "thread_ts" not in m]


def outbox_rows(app: RunningApp, kind: Message) -> list[Any]:
    with app.store.reading() as tx:
        return list(
            tx.session.execute(select(outbox).where(outbox.c.kind == kind.value).order_by(outbox.c.id))
        )


def said(call: Call) -> str:
    return json.dumps(call.params, ensure_ascii=False)


def test_cards_go_before_card_updates_and_thread_notes_and_those_before_home_refreshes(
    running_app: RunningApp, slack_api: SlackStandIn
):
    app = running_app
    submit(app, account_number=text("111"))
    submit(app, account_number=text("222"))
    app.deliver_apart()  # from here on, as in HTTP mode: the listeners store, a delivery process sends
    forget_account(app.store, app.clock, "111")  # erasures of every message about ESC-1
    app.slack.press("claim", 2, "U0ALEX")  # a thread note and a card update, the warm transfer, Homes
    app.settle()
    submit(app, account_number=text("333"))  # a new card
    before = len(slack_api.calls)

    app.delivery.engine.run_pass()  # one pass: each lane's first message, most urgent first

    sent = [c for c in slack_api.calls[before:] if c.method != "conversations.open"]
    urgency = [
        0
        if c.method == "chat.postMessage" and "thread_ts" not in c.params  # the new card
        else 1
        if c.method == "chat.update" or c.params.get("thread_ts")  # card updates, thread notes
        else 2  # App Home refreshes
        for c in sent
    ]
    assert "ESC-3" in said(sent[0]) and urgency == sorted(urgency), urgency
    assert urgency.count(0) == 1 and urgency.count(1) >= 2 and urgency.count(2) >= 2


def test_a_backlog_in_one_channel_never_delays_another(paced_app: RunningApp, slack_api: SlackStandIn):
    """Slack lets about one post a second into a channel: twelve billing cards queue, a technical card
    does not wait behind them."""
    app = paced_app
    for n in range(12):
        submit(app, user=f"U0AGENT{n:02d}", customer_name=text(f"Customer {n}"))
    assert len(top_level_posts(slack_api, BILLING)) == 3  # the burst Slack allows
    submit(app, user="U0AGENTTT", path=option("technical"))
    assert len(top_level_posts(slack_api, TECH)) == 1  # at once, with billing's backlog waiting
    assert len(top_level_posts(slack_api, BILLING)) == 3

    for _ in range(10):
        app.clock.advance(seconds=1.02)
        app.deliver_due()
    posted = [m["posted_at"] for m in top_level_posts(slack_api, BILLING)]
    assert len(posted) == 12
    gaps = [later - earlier for earlier, later in itertools.pairwise(posted[2:])]
    assert all(gap >= 1.0 for gap in gaps), gaps
    assert len([c for c in slack_api.calls if c.response and c.response.get("error") == "ratelimited"]) == 0
    # Each agent heard where their card went; none of those notices waited on the channel's turn.
    notices = [c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"].startswith("U0AGENT")]
    assert len(notices) == 13


def test_no_set_of_blocked_messages_stalls_the_queue(running_app: RunningApp, slack_api: SlackStandIn):
    """A card update being retried holds up its own case's lane only: 150 erasures behind it (more than
    a pass looks at) take nobody else's place, and a new case's card goes at once."""
    app = running_app
    submit(app)
    app.deliver_apart()
    slack_api.script("chat.update", *[Reply.server_error()] * 5)
    app.slack.press("claim", 1, "U0ALEX")
    app.settle()
    app.deliver_due()  # the card update meets a 503: retried later, its lane waits
    with app.store.transaction() as tx:
        for n in range(150):
            payload = {"channel": BILLING, "ts": f"1764000000.{n:06d}"}
            tx.outbox.add(Message.erase_message, app.clock.now(), 1, payload)
    submit(app, customer_name=text("John Roe"), account_number=text("999"))

    app.deliver_due()

    assert [m for m in top_level_posts(slack_api, BILLING) if "John Roe" in str(m["text"])]
    assert cases(app)[1].card_ts is not None


def test_home_refreshes_for_one_person_are_coalesced(running_app: RunningApp, slack_api: SlackStandIn):
    app = running_app
    app.deliver_apart()
    for n in range(4):
        submit(app, customer_name=text(f"Customer {n}"))

    app.deliver_due()

    assert [c.params["user_id"] for c in slack_api.calls_to("views.publish")] == [AGENT]
    assert {row.status for row in outbox_rows(app, Message.publish_home)} == {"delivered"}


def test_a_rate_limit_never_counts_towards_giving_up_and_costs_no_look(
    running_app: RunningApp, slack_api: SlackStandIn
):
    app = running_app
    slack_api.script("chat.postMessage", *[Reply.rate_limited(retry_after=2)] * 6)
    submit(app)
    for _ in range(8):
        app.clock.advance(seconds=3.5)
        app.deliver_due()

    (card,) = outbox_rows(app, Message.post_card)
    assert (card.status, card.attempts, card.failures) == ("delivered", 7, 0)
    assert slack_api.calls_to("conversations.history") == []  # a 429 proves nothing was posted
    assert len(top_level_posts(slack_api, BILLING)) == 1


def test_a_message_refused_for_good_is_kept_dead_reported_once_and_can_be_retried(
    running_app: RunningApp,
    slack_api: SlackStandIn,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
):
    app = running_app
    # The card lands; the agent's note is refused for good (the agent's account was deactivated, say).
    slack_api.script("chat.postMessage", Reply(body={"ok": True}), Reply.error("user_disabled"))
    submit(app)
    for _ in range(3):
        app.deliver_due()

    (notice,) = outbox_rows(app, Message.tell_agent_next_steps)
    assert (notice.status, notice.last_error) == ("dead", "user_disabled")
    alerts = [c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == SUPERVISORS]
    assert len(alerts) == 1  # told once
    assert "the agent's note on what happens next about *ESC-1* to <@U0AGENT>" in alerts[0].params["text"]
    assert f"escalator outbox retry {notice.id}" in alerts[0].params["text"]
    assert value(scrape(app), "escalator_outbox_given_up") == 1

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", app.store.url)
    assert main(["outbox", "list"]) == 0
    listed = capsys.readouterr().out
    assert "ESC-1" in listed and "tell_agent_next_steps" in listed and "U0AGENT" in listed
    assert "user_disabled" in listed
    assert main(["outbox", "retry", str(notice.id)]) == 0
    assert f"queued again: {notice.id}" in capsys.readouterr().out
    app.deliver_due()
    (notice,) = outbox_rows(app, Message.tell_agent_next_steps)
    assert notice.status == "delivered"
    assert value(scrape(app), "escalator_outbox_given_up") == 0
    assert main(["outbox", "list"]) == 0 and "no dead messages" in capsys.readouterr().out

    # Another one, dropped instead; asking for one that is not dead says so.
    slack_api.script("chat.postMessage", Reply(body={"ok": True}), Reply.error("user_disabled"))
    submit(app, customer_name=text("John Roe"))
    app.deliver_due()
    dead = [row.id for row in outbox_rows(app, Message.tell_agent_next_steps) if row.status == "dead"]
    assert main(["outbox", "drop", "--all"]) == 0 and f"dropped: {dead[0]}" in capsys.readouterr().out
    assert main(["outbox", "retry", str(dead[0])]) == 1
    assert value(scrape(app), "escalator_outbox_given_up") == 0


def test_a_move_while_the_first_card_is_on_its_way_is_never_undone(
    running_app: RunningApp, slack_api: SlackStandIn
):
    app = running_app
    slack_api.script("chat.postMessage", Reply(delay=0.8, body={"ok": True}))  # Slack takes its time
    assert app.slack.submit(handoff_values()).json()["response_action"] == "update"
    slack_api.wait_for("chat.postMessage")  # the card is on its way (Slack has it, we have no answer yet)
    moved = threading.Event()

    def move() -> None:
        reason = {"destination": option("supervisors"), "reason": text("Needs a goodwill credit.")}
        app.slack.submit_form("move_form", 1, reason, AGENT)
        moved.set()

    threading.Thread(target=move).start()
    assert moved.wait(5)
    app.settle()
    app.deliver_due()

    case = cases(app)[0]
    (stray,) = top_level_posts(slack_api, BILLING)  # the first card landed after the move committed
    (card,) = top_level_posts(slack_api, SUPERVISORS)
    assert (case.card_channel_id, case.card_ts) == (SUPERVISORS, card["ts"])
    retired = [c for c in slack_api.calls_to("chat.update") if c.params["ts"] == stray["ts"]]
    assert retired and "re-escalated to <#C0123SUP>" in said(retired[-1])
    notes = [c.params["text"] for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == AGENT]
    assert len(notes) == 1 and "C0123SUP" in notes[0]  # the agent hears of the card that counts, once


def test_an_outage_of_slacks_posting_side_is_ridden_out_and_each_card_posted_once(
    paced_app: RunningApp, slack_api: SlackStandIn
):
    """Two minutes without posting, under 20 escalations into two channels: a few tries per channel
    while it lasts, then every card within 30 seconds of the recovery, each once."""
    app = paced_app
    app.deliver_apart()
    recovery = app.clock.now() + timedelta(minutes=2)
    slack_api.down_while("chat.postMessage", lambda: app.clock.now() < recovery)
    for n in range(20):
        submit(app, user=f"U0AGENT{n:02d}", path=option("billing" if n % 2 else "technical"))
    during = 0
    while app.clock.now() < recovery:
        app.deliver_due()
        during = len(slack_api.calls_to("chat.postMessage"))
        app.clock.advance(seconds=1)
    assert during <= 2 * 20  # one try at a time per channel, backing off: not 20 cards retried each
    delivered_at = None
    for second in range(60):
        app.deliver_due()
        if all(c.card_ts for c in cases(app)):
            delivered_at = second
            break
        app.clock.advance(seconds=1)
    assert delivered_at is not None and delivered_at <= 30, delivered_at
    for channel in (BILLING, TECH):
        shown = [m["text"] for m in top_level_posts(slack_api, channel)]
        assert len(shown) == 10 and len(set(shown)) == 10
    assert {row.failures for row in outbox_rows(app, Message.post_card)} <= {0, 1, 2, 3}


def test_a_try_that_outlived_its_lease_has_no_say(running_app: RunningApp, slack_api: SlackStandIn):
    """Its lease ran out and another try took the message over: the first try's ending is ignored."""
    app = running_app
    app.deliver_apart()
    submit(app)
    queue = app.delivery.queue
    (card_id,) = [row.id for row in outbox_rows(app, Message.post_card)]
    first = queue.take(card_id)
    app.clock.advance(minutes=10)  # far past its lease: the try is presumed dead
    second = queue.take(card_id)
    assert first is not None and second is not None
    assert second.message.attempts == 2 and second.message.doubt  # the first may have posted

    queue.delivered(first.message, None, None)  # the slow first try finishes after all
    queue.bury(first.message, "too late", None)

    (row,) = outbox_rows(app, Message.post_card)
    assert (row.status, row.attempts) == ("pending", 2)  # the second try's to finish
    queue.delivered(second.message, None, None)
    (row,) = outbox_rows(app, Message.post_card)
    assert row.status == "delivered"


def test_a_message_that_cannot_be_rendered_is_kept_dead_and_reported_not_retried_forever(
    running_app: RunningApp, slack_api: SlackStandIn
):
    app = running_app
    submit(app)
    with app.store.transaction() as tx:  # a notice missing whom it is for: a bug, not Slack's doing
        tx.outbox.add(Message.timer_notice, app.clock.now(), 1, {"kind": "acknowledge_nudge"}, to=BILLING)
    app.deliver_due()

    (notice,) = outbox_rows(app, Message.timer_notice)
    assert notice.status == "dead" and "KeyError" in notice.last_error
    alerts = [c for c in slack_api.calls_to("chat.postMessage") if c.params["channel"] == SUPERVISORS]
    assert len(alerts) == 1 and "a reminder about *ESC-1*" in alerts[0].params["text"]


def test_a_message_of_a_kind_this_version_does_not_know_is_kept_dead(running_app: RunningApp):
    app = running_app
    submit(app)
    with app.store.transaction() as tx:
        message = tx.outbox.add(Message.update_card, app.clock.now(), 1)
        tx.session.execute(outbox.update().where(outbox.c.id == message).values(kind="an_older_kind"))
    app.deliver_due()

    with app.store.reading() as tx:
        (row,) = tx.session.execute(select(outbox).where(outbox.c.id == message))
    assert (row.status, row.last_error) == ("dead", "no such kind of message: an_older_kind")


def test_a_card_in_doubt_for_a_case_that_moved_is_found_and_retired(
    running_app: RunningApp, slack_api: SlackStandIn
):
    app = running_app
    app.deliver_apart()
    slack_api.script("chat.postMessage", Reply(delay=1.5, body={"ok": True}))  # posted; the answer lost
    submit(app)
    app.deliver_due()
    assert cases(app)[0].card_ts is None
    app.slack.submit_form(
        "move_form", 1, {"destination": option("supervisors"), "reason": text("Up.")}, AGENT
    )
    app.settle()
    app.clock.advance(seconds=5)

    app.deliver_due()

    (stray,) = top_level_posts(slack_api, BILLING)
    retired = [c for c in slack_api.calls_to("chat.update") if c.params["ts"] == stray["ts"]]
    assert retired and "re-escalated to <#C0123SUP>" in said(retired[-1])
    (card,) = top_level_posts(slack_api, SUPERVISORS)
    assert cases(app)[0].card_ts == card["ts"]


def test_a_database_error_while_taking_a_message_never_costs_a_sender(
    running_app: RunningApp, slack_api: SlackStandIn, monkeypatch: pytest.MonkeyPatch
):
    app = running_app
    app.deliver_apart()
    submit(app)
    senders = ThreadPoolExecutor(max_workers=1)
    settings = make_settings(app.store.url, slack_api, ESCALATOR_THREADS=1)
    engine = build_delivery(settings, app.worker.runtime.policy, app.worker.runtime, senders).engine
    original = OutboxQueue.take

    def unreachable(*_args: Any) -> None:
        raise OperationalError("UPDATE outbox", {}, Exception("the database restarted"))

    monkeypatch.setattr(OutboxQueue, "take", unreachable)
    for _ in range(3):
        with pytest.raises(OperationalError):
            engine.run_pass()
    monkeypatch.setattr(OutboxQueue, "take", original)
    done = threading.Event()
    threading.Thread(target=lambda: (engine.run_pass(), done.set()), daemon=True).start()
    assert done.wait(5), "the pass waits for a sender that was never given back"
    senders.shutdown(wait=True)
    assert cases(app)[0].card_ts is not None


def test_a_chart_whose_upload_answer_was_lost_is_not_uploaded_twice(
    running_app: RunningApp, slack_api: SlackStandIn
):
    app = running_app
    slack_api.script("files.completeUploadExternal", Reply(delay=1.5, body={"ok": True, "files": []}))
    app.clock.set(app.clock.now().replace(hour=9, minute=30))  # after digest.at
    app.tick()  # the digest, then its chart: whose upload times out
    app.clock.advance(seconds=5)
    app.tick()

    assert len(slack_api.calls_to("files.completeUploadExternal")) == 1
    (chart,) = outbox_rows(app, Message.post_digest_chart)
    assert chart.status == "delivered"
