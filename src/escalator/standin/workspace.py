"""The workspace the stand-in pretends to be: its channels, people and user groups, as Slack lists them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = True  # the bot is in it
    is_archived: bool = False
    purpose: str = ""

    def as_slack(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_member": self.is_member,
            "purpose": {"value": self.purpose},
        }


@dataclass
class Person:
    id: str
    handle: str  # Slack's `name`: @alex
    real_name: str
    email: str
    display_name: str = ""
    deleted: bool = False

    def as_slack(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.handle,
            "real_name": self.real_name,
            "deleted": self.deleted,
            "is_bot": False,
            "profile": {
                "real_name": self.real_name,
                "display_name": self.display_name,
                "email": self.email,
            },
        }


@dataclass
class Group:
    id: str
    handle: str
    name: str
    members: list[str] = field(default_factory=list)
    disabled: bool = False

    def as_slack(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "handle": self.handle,
            "name": self.name,
            "date_delete": 1 if self.disabled else 0,
        }


@dataclass
class Workspace:
    channels: list[Channel] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)

    def channel(self, channel_id: str) -> Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def person(self, user_id: str) -> Person | None:
        return next((p for p in self.people if p.id == user_id), None)

    def group(self, group_id: str) -> Group | None:
        return next((g for g in self.groups if g.id == group_id), None)

    def name_of(self, conversation: str) -> str:
        """#billing, @alex (a DM with them), or the ID when the stand-in does not know it."""
        if (channel := self.channel(conversation)) is not None:
            return f"#{channel.name}"
        if (person := self.person(conversation)) is not None:
            return f"@{person.handle}"
        if conversation.startswith("D") and (person := self.person("U" + conversation[1:])) is not None:
            return f"@{person.handle}"
        return conversation


def example_workspace() -> Workspace:
    """A support team: an agent, two billing specialists, a technical one, a supervisor; their channels."""
    return Workspace(
        channels=[
            Channel("C0AGENTS", "frontline", purpose="where agents work"),
            Channel("C0BILLING", "billing", purpose="billing specialists: escalated cases land here"),
            Channel("C0TECH", "tech-support", purpose="technical specialists"),
            Channel("C0LEADS", "support-leads", purpose="supervisors: escalations up, breaches, digest"),
            Channel("C0RANDOM", "random", is_member=False),
        ],
        people=[
            Person("U0MAYA", "maya", "Maya Patel", "maya@example.com", "Maya"),
            Person("U0ALEX", "alex", "Alex Kim", "alex@example.com", "Alex"),
            Person("U0SAM", "sam", "Sam Ortiz", "sam@example.com", "Sam"),
            Person("U0TARIQ", "tariq", "Tariq Haddad", "tariq@example.com", "Tariq"),
            Person("U0PRIYA", "priya", "Priya Nair", "priya@example.com", "Priya"),
        ],
        groups=[Group("S0BILLING", "billing-team", "Billing team", ["U0ALEX", "U0SAM"])],
    )
