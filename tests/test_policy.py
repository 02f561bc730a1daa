"""The policy file: the documented format loads, and every mistake names its key."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest
from conftest import POLICY_YAML, ROOT
from test_rota import ROTA_POLICY_YAML

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
    rota = policy.paths["billing"].rota
    assert rota is not None and rota.shifts[2].end == time(6, 0) and rota.after_hours == ["U0ONCALL"]


def test_the_examples_commented_supervisors_rota_is_valid():
    example = (ROOT / "policy.example.yml").read_text()
    start = example.index("  # rota:")
    commented = example[start : example.index("authority:")]
    uncommented = "\n".join(line.replace("  # ", "  ", 1) for line in commented.splitlines()) + "\n"
    rota = parse_policy(example.replace(commented, uncommented)).supervisors.rota
    assert rota is not None and rota.after_hours == ["U0LEAD"]


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


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        (
            'from: "09:00", to: "13:00"',
            'from: "09:00", to: "09:00"',
            "paths.billing.rota.shifts.0.to: must not equal the shift's from",
        ),
        (
            'days: [mon, tue, wed, thu, fri], from: "09',
            'days: [mon, tues], from: "09',
            "paths.billing.rota.shifts.0.days.1: input should be 'mon'",
        ),
        (
            'from: "13:00", to: "17:30"',
            'from: "13:00", to: "25:30"',
            "paths.billing.rota.shifts.1.to: '25:30' is not a time of day",
        ),
        (
            'to: "2026-12-26"',
            "to: 2026-12-20",
            "paths.billing.rota.overrides.0.to: must not be before from (2026-12-24)",
        ),
        (
            'to: "2026-12-26"',
            "to: Boxing Day",
            "paths.billing.rota.overrides.0.to: input should be a valid date",
        ),
        (
            "on_duty: [U0ALEX]}",
            "on_duty: []}",
            "paths.billing.rota.shifts.0.on_duty: list should have at least 1 item",
        ),
        (
            "after_hours: [U0ONCALL]",
            "after_hours: [oncall]",
            "paths.billing.rota.after_hours.0: 'oncall' is not a person's handle",
        ),
        (
            "after_hours: [U0ONCALL]",
            "after_hours: []",
            "paths.billing.rota.after_hours: list should have at least 1 item",
        ),
        (
            "note: Christmas cover}",
            "note: Christmas cover, who: sam}",
            "paths.billing.rota.overrides.0.who: unknown key",
        ),
        (
            "note: Christmas cover}\n",
            "note: Christmas cover}\n        - {from: 2026-12-26, to: 2026-12-31, on_duty: [U0ALEX]}\n",
            "paths.billing.rota: overrides 0 and 1 overlap",
        ),
        (
            "on_duty: [U0LEAD]}",
            "on_duty: [lead]}",
            "supervisors.rota.shifts.0.on_duty.0: 'lead' is not a person's handle",
        ),
        ("  rota:\n    shifts:", "  rota:\n    shift:", "supervisors.rota.shift: unknown key"),
    ],
)
def test_rota_mistakes_name_the_key(replace: str, by: str, expected: str):
    assert replace in ROTA_POLICY_YAML
    assert expected in _error(ROTA_POLICY_YAML.replace(replace, by, 1))


def test_a_rota_names_someone_and_may_stand_for_the_specialists():
    rota_start = ROTA_POLICY_YAML.index("    rota:\n      shifts:")
    rota_end = ROTA_POLICY_YAML.index("  technical:")
    nobody = ROTA_POLICY_YAML[:rota_start] + "    rota: {overrides: []}\n" + ROTA_POLICY_YAML[rota_end:]
    assert "paths.billing.rota: a rota names shifts, after_hours, or both" in _error(nobody)
    only_a_rota = parse_policy(ROTA_POLICY_YAML.replace("    specialists: [U0ALEX, U0SAM]\n", ""))
    assert only_a_rota.paths["billing"].specialists == []
    no_one = ROTA_POLICY_YAML[:rota_start] + ROTA_POLICY_YAML[rota_end:]
    assert "paths.billing: name the specialists (people), a usergroup or a rota" in _error(
        no_one.replace("    specialists: [U0ALEX, U0SAM]\n", "")
    )


def test_a_bad_unquoted_date_is_named():
    assert "not valid YAML: a date that is no date (month must be in 1..12)" in _error(
        ROTA_POLICY_YAML.replace("from: 2026-12-24", "from: 2026-13-24")
    )


def test_people_on_rotas_may_be_named():
    named = parse_policy(
        ROTA_POLICY_YAML.replace("on_duty: [U0ALEX]}", 'on_duty: ["@alex"]}')
        .replace("after_hours: [U0ONCALL]", "after_hours: [oncall@example.com]")
        .replace("on_duty: [U0LEAD]}", 'on_duty: ["@lead"]}')
    )
    assert named.names() == {
        ("user", "@alex"): ["paths.billing.rota.shifts.0.on_duty"],
        ("user", "oncall@example.com"): ["paths.billing.rota.after_hours"],
        ("user", "@lead"): ["supervisors.rota.shifts.0.on_duty"],
    }
    resolved = named.with_ids(
        {("user", "@alex"): "U0ALEX", ("user", "oncall@example.com"): "U0ONCALL", ("user", "@lead"): "U0LEAD"}
    )
    billing = resolved.paths["billing"].rota
    assert billing is not None and billing.shifts[0].on_duty == ["U0ALEX"]
    assert billing.after_hours == ["U0ONCALL"] and billing.overrides[0].on_duty == ["U0SAM"]
    assert resolved.supervisors.rota is not None and resolved.supervisors.rota.shifts[0].on_duty == ["U0LEAD"]
    assert resolved.names() == {}


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


LEVELS_YAML = POLICY_YAML.replace(
    "  supervisor: 500\n",
    """  supervisor: 500
  levels:
    - name: Support manager
      limit: 2000
      approvers: ["@morgan"]
      usergroup: "@support-managers"
    - name: Head of customer care
      approvers: [U0DANA]
""",
)


def test_levels_above_the_supervisors_load_and_their_names_are_resolved():
    policy = parse_policy(LEVELS_YAML)
    assert [level.name for level in policy.authority.levels] == ["Support manager", "Head of customer care"]
    assert policy.authority.levels[1].limit is None
    assert policy.names() == {
        ("user", "@morgan"): ["authority.levels.0.approvers"],
        ("usergroup", "@support-managers"): ["authority.levels.0.usergroup"],
    }
    resolved = policy.with_ids({("user", "@morgan"): "U0MORGAN", ("usergroup", "@support-managers"): "S0MGR"})
    assert resolved.authority.levels[0].approvers == ["U0MORGAN"]
    assert resolved.authority.levels[0].usergroup == "S0MGR"
    assert resolved.authority.levels[1].approvers == ["U0DANA"]
    assert parse_policy(POLICY_YAML).authority.levels == []  # the old shape, as before


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ("limit: 2000", "limit: 400", "authority.levels.0.limit: must be larger than the level below (500)"),
        (
            "      approvers: [U0DANA]\n",
            "      approvers: [U0DANA]\n      limit: 1500\n",
            "authority.levels.1.limit: must be larger than the level below (2000)",
        ),
        (
            "      limit: 2000\n",
            "",
            "authority.levels.0.limit: only the last level may leave out its limit",
        ),
        (
            "approvers: [U0DANA]",
            "approvers: []",
            "authority.levels.1: name the approvers (people) or a usergroup",
        ),
        (
            "name: Head of customer care",
            "name: support manager",
            "authority.levels.1.name: 'support manager' is the name of a lower level",
        ),
        (
            "approvers: [U0DANA]",
            "approvers: [dana]",
            "authority.levels.1.approvers.0: 'dana' is not a person's",
        ),
        ("limit: 2000", "limit: lots", "authority.levels.0.limit: input should be a valid decimal"),
        ("- name: Head of customer care", "- title: Head", "authority.levels.1.title: unknown key"),
    ],
)
def test_mistakes_in_the_levels_name_the_key(replace: str, by: str, expected: str):
    assert replace in LEVELS_YAML
    assert expected in _error(LEVELS_YAML.replace(replace, by, 1))
