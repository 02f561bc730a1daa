"""The bot scopes the app uses, and what for: `escalator check` names each one the token lacks.

manifest.yml asks for exactly these (a test holds the two together).
"""

from __future__ import annotations

BOT_SCOPES: dict[str, str] = {
    "channels:history": "a retried post looks for its earlier attempt in public channels",
    "channels:read": "finding the policy's #channel names; `escalator check` reads its public channels",
    "chat:write": "cards, their updates, private notes and the digest",
    "commands": "/escalate and the message shortcut",
    "files:write": "the digest's chart",
    "groups:history": "a retried post looks for its earlier attempt in private channels",
    "groups:read": "the same for private channels; `escalator init` lists the bot's channels",
    "im:history": "a retried private note looks for its earlier attempt",
    "im:write": "finding the bot's DM with a person, for that look",
    "mpim:history": "a retried post looks for its earlier attempt in group DMs",
    "mpim:write": "the warm transfer's group DM",
    "reactions:read": "claiming and resolving by reaction",
    "usergroups:read": "who belongs to the user groups the policy names",
    "users:read": "finding the policy's @handles; `escalator check` looks up the people it names",
    "users:read.email": "finding the people the policy names by email",
}
