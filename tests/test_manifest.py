"""manifest.yml is a valid Slack app manifest and asks for exactly what the app uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from conftest import ROOT
from jsonschema import Draft7Validator

from escalator.slack.ids import SLASH_COMMAND, CallbackId
from escalator.slack.scopes import BOT_SCOPES

SPECS = Path(__file__).parent / "specs"

# Bot scopes each Web API method and event needs (Slack's method and event reference pages).
METHOD_SCOPES = {
    "auth.test": set(),
    "views.open": set(),
    "views.update": set(),  # the handoff form, once its account number is found to be a key account
    "views.publish": set(),
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    # The warm transfer's group DM of agent, owner and bot; the bot's DM with a person (see below).
    "conversations.open": {"mpim:write", "im:write"},
    # Before posting again what may already be posted: the bot's own recent messages, wherever it posts.
    "conversations.history": {"channels:history", "groups:history", "im:history", "mpim:history"},
    "conversations.replies": {"channels:history", "groups:history", "im:history", "mpim:history"},
    "usergroups.users.list": {"usergroups:read"},
    # `escalator check`: the policy's channels (public and private), people and user groups exist.
    "conversations.info": {"channels:read", "groups:read"},
    "users.info": {"users:read"},
    "usergroups.list": {"usergroups:read"},
    # The policy's names (`#billing`, `@alex`, `alex@example.com`), found at start; `escalator init`.
    "conversations.list": {"channels:read", "groups:read"},
    "users.conversations": {"channels:read", "groups:read"},
    "users.list": {"users:read"},
    "users.lookupByEmail": {"users:read.email"},
    "files.upload": {"files:write"},  # files_upload_v2: the digest's chart
}
EVENT_SCOPES = {
    "reaction_added": {"reactions:read"},
    "reaction_removed": {"reactions:read"},
    "app_home_opened": set(),
}
# Slash commands and shortcuts need the `commands` scope.
SURFACE_SCOPES = {"commands"}


def _manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def _methods_called_in_source() -> set[str]:
    source = "\n".join(p.read_text() for p in (ROOT / "src").rglob("*.py"))
    uploads = {"files.upload"} if ".upload_file(" in source else set()
    return (
        set(re.findall(r'(?:\.call\(|pages\(\s*\w+,)\s*"([a-z]+\.[A-Za-z.]+)"', source))
        | {"auth.test"}
        | uploads
    )


def test_manifest_matches_slacks_schema():
    schema = json.loads((SPECS / "manifest.schema.1.0.0.json").read_text())
    errors = sorted(Draft7Validator(schema).iter_errors(_manifest()), key=str)
    assert errors == []


def test_manifest_declares_the_command_shortcut_and_events():
    manifest = _manifest()
    features = manifest["features"]
    assert [c["command"] for c in features["slash_commands"]] == [SLASH_COMMAND]
    assert [(s["type"], s["callback_id"]) for s in features["shortcuts"]] == [
        ("message", CallbackId.escalate_message.value)
    ]
    assert features["app_home"]["home_tab_enabled"] is True
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == set(EVENT_SCOPES)
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_manifest_asks_for_exactly_the_scopes_used():
    called = _methods_called_in_source()
    assert called <= set(METHOD_SCOPES), f"add the scopes of {called - set(METHOD_SCOPES)} to this test"
    needed = set().union(*(METHOD_SCOPES[m] for m in called), *EVENT_SCOPES.values(), SURFACE_SCOPES)
    assert set(_manifest()["oauth_config"]["scopes"]["bot"]) == needed


def test_escalator_check_expects_the_manifests_scopes():
    assert set(BOT_SCOPES) == set(_manifest()["oauth_config"]["scopes"]["bot"])
