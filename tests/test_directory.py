"""Who is in the policy's user groups, as every process (web workers included) keeps it: refreshed in
the background once old, and asked again soon after Slack would not say."""

from __future__ import annotations

import time

import pytest
from conftest import POLICY_YAML, FakeClock, make_settings

from escalator.policy import parse_policy
from escalator.slack.bolt_app import build_gateway
from escalator.slack.directory import MEMBERS_TTL, RETRY_FAILED_AFTER, Directory, DirectoryUnavailable
from escalator.standin.web_api import Reply, SlackStandIn

GROUP_POLICY = POLICY_YAML.replace("    specialists: [U0TECH]\n", "    usergroup: S0TECH\n")


def _directory(slack_api: SlackStandIn, clock: FakeClock) -> Directory:
    settings = make_settings("sqlite://", slack_api)
    return Directory(build_gateway(settings), parse_policy(GROUP_POLICY), clock)


def _wait_for_lookups(slack_api: SlackStandIn, count: int) -> None:
    slack_api.wait_for("usergroups.users.list", count)
    time.sleep(0.05)  # the background lookup stores what it heard


def test_a_failed_first_lookup_is_asked_again_soon_instead_of_counting_nobody_until_a_restart(
    slack_api: SlackStandIn, clock: FakeClock
):
    slack_api.usergroups["S0TECH"] = ["U0TECH"]
    slack_api.script("usergroups.users.list", Reply.server_error())
    directory = _directory(slack_api, clock)

    assert directory.actor("U0TECH").usergroups == frozenset()  # Slack would not say: nobody, for now
    assert directory.actor("U0TECH").usergroups == frozenset()  # and it is not asked on every press
    assert len(slack_api.calls_to("usergroups.users.list")) == 1
    clock.advance(seconds=RETRY_FAILED_AFTER.total_seconds() + 1)
    assert directory.actor("U0TECH").usergroups == frozenset({"S0TECH"})


def test_a_membership_grown_old_is_refreshed_in_the_background_without_holding_up_a_press(
    slack_api: SlackStandIn, clock: FakeClock
):
    slack_api.usergroups["S0TECH"] = ["U0TECH"]
    directory = _directory(slack_api, clock)
    assert directory.actor("U0NEW").usergroups == frozenset()

    slack_api.usergroups["S0TECH"] = ["U0TECH", "U0NEW"]  # someone joins the group in Slack
    clock.advance(seconds=MEMBERS_TTL.total_seconds() / 2 + 1)
    slack_api.script(
        "usergroups.users.list", Reply(delay=0.5, body={"ok": True, "users": ["U0TECH", "U0NEW"]})
    )
    started = time.monotonic()
    assert directory.actor("U0NEW").usergroups == frozenset()  # what was known, at once
    assert time.monotonic() - started < 0.3
    _wait_for_lookups(slack_api, 2)
    time.sleep(0.6)
    assert directory.actor("U0NEW").usergroups == frozenset({"S0TECH"})


def test_before_an_ack_a_lookup_waits_for_slack_only_so_long(slack_api: SlackStandIn, clock: FakeClock):
    slack_api.usergroups["S0TECH"] = ["U0TECH"]
    slack_api.script("usergroups.users.list", Reply(body={"ok": True, "users": ["U0TECH"]}, delay=1.0))
    directory = _directory(slack_api, clock)

    started = time.monotonic()
    with pytest.raises(DirectoryUnavailable):
        directory.actor("U0TECH", within=0.2)
    assert time.monotonic() - started < 0.5
    _wait_for_lookups(slack_api, 1)
    time.sleep(1.0)  # Slack's slow answer arrives, and is kept
    assert directory.actor("U0TECH", within=0.2).usergroups == frozenset({"S0TECH"})
    assert len(slack_api.calls_to("usergroups.users.list")) == 1
