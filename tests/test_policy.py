"""The policy file: the documented format loads, and every mistake names its key."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest
from conftest import POLICY_YAML, ROOT

from escalator.errors import ConfigurationError
from escalator.policy import Priority, load_policy, parse_duration, parse_policy


def _error(text: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        parse_policy(text, source="policy.yml")
    return str(caught.value)


def test_the_example_policy_loads():
    policy = load_policy(ROOT / "policy.example.yml")
    assert policy.paths["billing"].channel == "C0123BILL"
    assert policy.targets(Priority.P2).acknowledge == timedelta(minutes=15)
    assert policy.business_hours is not None and policy.business_hours.end == time(17, 30)
    assert policy.digest is not None and policy.digest.at == time(9, 0)
    assert policy.reactions.claim == "eyes"


def test_a_missing_key_is_named_by_its_path():
    broken = POLICY_YAML.replace("    channel: C0123BILL\n", "")
    assert "policy.yml: paths.billing.channel: field required" in _error(broken)


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ("acknowledge: 15m", "acknowledge: soon", "priorities.P2.acknowledge: 'soon' is not a duration"),
        (
            "acknowledge: 15m",
            "acknowledge: 0m",
            "priorities.P2.acknowledge: a duration must be longer than zero",
        ),
        (
            "channel: C0123TECH",
            "channel: tech",
            "paths.technical.channel: 'tech' is not a channel name such as \"#billing\" or an ID",
        ),
        (
            "channel: C0123TECH",
            "channel: #tech",
            "paths.technical.channel: is empty; a channel name such as #billing must be in quotes",
        ),
        (
            "specialists: [U0TECH]",
            "specialists: [alex]",
            "paths.technical.specialists.0: 'alex' is not a person's handle such as \"@alex\", their email",
        ),
        (
            "timezone: Europe/London",
            "timezone: Mars/Olympus",
            "timezone: 'Mars/Olympus' is not an IANA timezone",
        ),
        ('  end: "17:30"', '  end: "08:00"', "business_hours: business_hours.start must be earlier"),
        ("  agent: 50", "  agent: 900", "authority: authority.agent must not be larger"),
        ("  claim: eyes", "  claim: white_check_mark", "reactions: reactions.claim and reactions.resolve"),
        (
            "keywords: [bug, error, crash, login]",
            "keywords: [bug]\n    colour: red",
            "paths.technical.colour: unknown key",
        ),
        ("  P4: {", "  P5: {", "priorities.P5.[key]: input should be 'P1', 'P2', 'P3' or 'P4'"),
        ("    specialists: [U0TECH]\n", "", "paths.technical: name the specialists"),
    ],
)
def test_mistakes_name_the_key_and_say_what_to_do(replace: str, by: str, expected: str):
    assert replace in POLICY_YAML
    assert expected in _error(POLICY_YAML.replace(replace, by, 1))


def test_callbacks_have_defaults_and_name_their_keys():
    policy = parse_policy(POLICY_YAML)
    assert (policy.callbacks.remind_before, policy.callbacks.missed_after) == (
        timedelta(minutes=15),
        timedelta(minutes=15),
    )
    set_up = parse_policy(POLICY_YAML + "callbacks:\n  remind_before: 1h\n  missed_after: 30m\n")
    assert (set_up.callbacks.remind_before, set_up.callbacks.missed_after) == (
        timedelta(hours=1),
        timedelta(minutes=30),
    )
    assert "policy.yml: callbacks.remind_before: 'soon' is not a duration" in _error(
        POLICY_YAML + "callbacks:\n  remind_before: soon\n"
    )
    assert "policy.yml: callbacks.missed_after: a duration must be longer than zero" in _error(
        POLICY_YAML + "callbacks:\n  missed_after: 0m\n"
    )
    assert "policy.yml: callbacks.remind: unknown key" in _error(POLICY_YAML + "callbacks:\n  remind: 1h\n")


def test_unquoted_times_are_read_as_times():
    # YAML 1.1 turns an unquoted 09:00 into the number 540; the policy still means nine o'clock.
    policy = parse_policy(POLICY_YAML.replace('start: "09:00"', "start: 09:00"))
    assert policy.business_hours is not None and policy.business_hours.start == time(9, 0)


def test_channels_people_and_groups_may_be_named():
    named = parse_policy(
        POLICY_YAML.replace("channel: C0123BILL", 'channel: "#billing"')
        .replace("specialists: [U0ALEX, U0SAM]", 'specialists: ["@alex", sam@example.com, U0SAM]')
        .replace("specialists: [U0TECH]", 'usergroup: "@tech-team"')
    )
    assert named.names() == {
        ("channel", "#billing"): ["paths.billing.channel"],
        ("user", "@alex"): ["paths.billing.specialists"],
        ("user", "sam@example.com"): ["paths.billing.specialists"],
        ("usergroup", "@tech-team"): ["paths.technical.usergroup"],
    }
    ids = {
        ("channel", "#billing"): "C0BILL",
        ("user", "@alex"): "U0ALEX",
        ("usergroup", "@tech-team"): "S0TECH",
    }
    resolved = named.with_ids(ids)
    assert resolved.paths["billing"].channel == "C0BILL"
    assert resolved.paths["billing"].specialists == ["U0ALEX", "sam@example.com", "U0SAM"]
    assert resolved.paths["technical"].usergroup == "S0TECH"
    assert resolved.names() == {("user", "sam@example.com"): ["paths.billing.specialists"]}
    assert parse_policy(POLICY_YAML).names() == {}


def test_an_unquoted_handle_says_to_quote_it():
    error = _error(POLICY_YAML.replace("specialists: [U0TECH]", "specialists: [@alex]"))
    assert (
        'not valid YAML at line 22, column 19; a name that starts with @ must be in quotes, such as "@alex"'
        in error
    )


def test_not_yaml_and_not_a_mapping():
    assert "not valid YAML at line" in _error("paths: [unclosed")
    assert "must be a YAML mapping" in _error("- a list")


def test_a_missing_file_says_how_to_make_one(tmp_path: Path):
    with pytest.raises(ConfigurationError, match=r"copy policy\.example\.yml"):
        load_policy(tmp_path / "policy.yml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(minutes=90)),
    ],
)
def test_durations(text: str, expected: timedelta):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "15", "m15", "1.5h", "15 minutes", "-5m"])
def test_bad_durations(text: str):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_supervisors_is_not_a_path_name():
    broken = POLICY_YAML.replace("  technical:\n", "  supervisors:\n", 1)
    assert "paths: 'supervisors' is reserved" in _error(broken)
