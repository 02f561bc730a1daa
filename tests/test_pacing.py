"""The pacer's rules, on an injected clock: Slack's per-channel posts and method tiers, kept across
processes (two pacers over one database stand for two machines), and the pauses a 429 or an outage asks
for."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import FakeClock

from escalator.delivery.pacer import (
    POST_PER_CONVERSATION,
    SLACK_LIMITS,
    TIER_3,
    Paced,
    Pacer,
    call_key,
    outage_backoff,
)
from escalator.domain.messages import Message, pace_key
from escalator.store.database import Store


def _turns(pacer: Pacer, store: Store, key: str) -> bool:
    with store.transaction() as tx:
        return pacer.turn(tx, key).granted


def _granted_within(
    pacer: Pacer, store: Store, clock: FakeClock, key: str, seconds: float, step: float
) -> int:
    """How many calls on `key` go through in `seconds`, asking every `step` seconds."""
    granted = 0
    for _ in range(int(seconds / step)):
        while _turns(pacer, store, key):
            granted += 1
        clock.advance(seconds=step)
    return granted


def test_posts_to_one_channel_burst_three_then_go_one_a_second(store: Store, clock: FakeClock):
    pacer = Pacer(store, clock)
    billing = call_key("chat.postMessage", {"channel": "C0123BILL"})
    assert [_turns(pacer, store, billing) for _ in range(4)] == [True, True, True, False]
    clock.advance(seconds=1.0)
    assert not _turns(pacer, store, billing)  # a little slower than one a second, for the network's jitter
    clock.advance(seconds=0.1)
    assert _turns(pacer, store, billing)
    # Over a minute of steady demand: the burst, then one every 1.02 s.
    assert _granted_within(pacer, store, clock, billing, 60, 0.05) == pytest.approx(60 / 1.02, abs=1)


def test_a_backlog_in_one_channel_takes_no_turn_from_another(store: Store, clock: FakeClock):
    pacer = Pacer(store, clock)
    billing, technical = (call_key("chat.postMessage", {"channel": c}) for c in ("C0123BILL", "C0123TECH"))
    while _turns(pacer, store, billing):
        pass
    assert _turns(pacer, store, technical)
    assert call_key("chat.postMessage", {"channel": "U0AGENT"}) == "post:U0AGENT"  # a DM is its own


def test_a_tier_never_has_more_calls_in_a_minute_than_slack_allows(store: Store, clock: FakeClock):
    """Tier 3 (chat.update): 50 a minute, bursts included, in any minute however the calls come."""
    pacer = Pacer(store, clock)
    edits = call_key("chat.update", {"channel": "C0123BILL", "ts": "1.2"})
    times = []
    for _ in range(int(90 / 0.1)):
        while _turns(pacer, store, edits):
            times.append(clock.now())
        clock.advance(seconds=0.1)
    for start in times:
        assert len([t for t in times if start <= t < start + timedelta(minutes=1)]) <= 50
    assert len(times) >= 70  # and nearly all of it is used: 5 at once, then 45 a minute


def test_every_pace_key_a_message_is_queued_with_is_the_key_of_its_first_call(policy):
    """A message takes its first call's turn together with the message: the keys must agree."""
    assert pace_key(Message.post_card, "C0123BILL") == call_key("chat.postMessage", {"channel": "C0123BILL"})
    assert pace_key(Message.update_card, None) == call_key("chat.update", {})
    assert pace_key(Message.publish_home, None) == call_key("views.publish", {})
    assert pace_key(Message.post_digest_chart, None) == call_key("files.getUploadURLExternal", {})
    assert SLACK_LIMITS["edit"] == TIER_3 and SLACK_LIMITS["post"] == POST_PER_CONVERSATION


def test_a_429_pauses_the_key_for_every_process_with_bounded_jitter(database_url: str, clock: FakeClock):
    """Two pacers on one database: what one machine hears from Slack, the other obeys."""
    stores = [Store(database_url), Store(database_url)]
    stores[0].migrate()
    try:
        first, second = (Pacer(store, clock, jitter=lambda: 1.0) for store in stores)
        key = call_key("chat.postMessage", {"channel": "C0123BILL"})
        until = first.rate_limited(key, retry_after=30)
        assert (
            timedelta(seconds=30) < until - clock.now() <= timedelta(seconds=31)
        )  # a second of jitter at most
        clock.advance(seconds=29)
        assert not _turns(second, stores[1], key)
        other = call_key("chat.postMessage", {"channel": "C0123TECH"})
        assert _turns(second, stores[1], other)  # only that channel waits
        clock.advance(seconds=2.5)
        assert _turns(second, stores[1], key)
    finally:
        for store in stores:
            store.dispose()


def test_a_delivery_waits_briefly_for_its_later_calls_and_hands_back_a_long_wait(
    store: Store, clock: FakeClock
):
    pacer = Pacer(store, clock)
    history = call_key("conversations.history", {"channel": "C0123BILL"})
    with pacer.delivering(prepaid="post:C0123BILL"):
        pacer.before_call("post:C0123BILL")  # its turn came with the message: no wait
        for _ in range(5):
            pacer.before_call(history)  # Tier 3's burst
        started = clock.now()
        pacer.before_call(history)  # waits its turn (the fake clock moves instead of sleeping)
        assert timedelta(0) < clock.now() - started < timedelta(seconds=2)
    pacer.rate_limited(history, retry_after=20)
    with pacer.delivering(prepaid=None), pytest.raises(Paced) as paced:
        pacer.before_call(history)
    assert paced.value.until >= clock.now() + timedelta(seconds=19)


def test_a_listeners_call_never_waits_but_counts_against_the_background(store: Store, clock: FakeClock):
    """A form must open within seconds: a listener's call goes at once however many went before it,
    and what it used is counted, so the deliveries' calls of that method leave it room."""
    pacer = Pacer(store, clock)
    for _ in range(30):
        pacer.before_call("chat.postEphemeral")  # over Tier 4's burst of 10: goes anyway, counted
    assert pacer.counted()  # by a thread of its own: the calls never waited for it
    assert not _turns(pacer, store, "chat.postEphemeral")
    clock.advance(seconds=10)
    assert not _turns(pacer, store, "chat.postEphemeral")  # the budget they used is still being repaid


def test_an_outage_backs_the_key_off_and_a_success_starts_afresh(store: Store, clock: FakeClock):
    pacer = Pacer(store, clock, jitter=lambda: 0.0)
    key = "post:C0123BILL"
    pacer.failing(key)
    assert _turns(pacer, store, key)  # one failure is not an outage
    for failures in range(2, 9):
        pacer.failing(key)
        assert not _turns(pacer, store, key)
        clock.advance(seconds=outage_backoff(failures - 1) + 0.01)
        assert _turns(pacer, store, key)
    assert outage_backoff(8) == 10.0  # then every 10 s, so a recovery is found within seconds
    with store.transaction() as tx:
        assert tx.rates.take(key, clock.now().timestamp() + 100, 1, 2).failures == 8
    pacer.recovered(key)
    with store.transaction() as tx:
        assert tx.rates.take(key, clock.now().timestamp() + 200, 1, 2).failures == 0


def test_no_call_of_a_try_starts_once_its_time_is_up(store: Store, clock: FakeClock):
    """A try's last moment to start a call leaves room for the call before its lease runs out."""
    pacer = Pacer(store, clock)
    with pacer.delivering(prepaid="post:C0123BILL", deadline=clock.now() + timedelta(seconds=5)):
        pacer.before_call("post:C0123BILL")
        clock.advance(seconds=5)
        with pytest.raises(Paced):
            pacer.before_call("chat.update")


def test_a_turn_taken_and_not_used_is_given_back(store: Store, clock: FakeClock):
    pacer = Pacer(store, clock)
    while _turns(pacer, store, "edit"):
        pass
    pacer.give_back("edit")  # a card update that found nothing to update
    assert _turns(pacer, store, "edit")
    assert not _turns(pacer, store, "edit")
