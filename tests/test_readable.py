"""Block Kit as the demo prints it: what a person would read in Slack, in a terminal."""

from __future__ import annotations

from escalator.standin.readable import blocks_text, mrkdwn, view_text

NAMES = {"U0ALEX": "@alex", "C0BILLING": "#billing"}.get


def names(conversation: str) -> str:
    return NAMES(conversation) or conversation


def test_mentions_links_dates_and_escapes_read_as_slack_shows_them():
    text = (
        "*ESC-1* for <@U0ALEX> in <#C0BILLING> · <https://slack.com/archives/C0BILLING/p1|the card> · "
        "raised <!date^1764666000^{ago}|Tue> · due <!date^1764669600^{time}|11:00> · a &lt;b&gt; &amp; "
        ":white_check_mark: :unknown_emoji: <!here>"
    )

    shown = mrkdwn(text, names, now=lambda: 1764666000 + 125)

    assert shown == (
        "ESC-1 for @alex in #billing · the card · raised 2 min ago · due Tue 02 Dec 10:00:00 UTC · "
        "a <b> & ✅ :unknown_emoji: @here"
    )


def test_blocks_read_as_title_fields_context_and_buttons():
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "ESC-1 · P2"}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": "*Customer*\nJane Doe"}],
            "accessory": {"type": "button", "text": {"type": "plain_text", "text": "Full note"}},
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Owners: <@U0ALEX>"}]},
        {"type": "divider"},
        {
            "type": "actions",
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Claim"}}],
        },
    ]

    assert blocks_text(blocks, names) == [
        "ESC-1 · P2",
        "══════════",
        "  Customer: Jane Doe",
        "[Full note]",
        "  · Owners: @alex",
        "─" * 40,
        "[Claim]",
    ]
    assert blocks_text([], names, fallback="only <@U0ALEX> text") == ["only @alex text"]


def test_a_form_reads_as_its_title_inputs_and_buttons():
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Close the loop"},
        "submit": {"type": "plain_text", "text": "Close"},
        "blocks": [
            {
                "type": "input",
                "label": {"type": "plain_text", "text": "Comment"},
                "optional": True,
                "element": {"type": "plain_text_input"},
            }
        ],
    }

    assert view_text(view, names) == [
        "┌ Close the loop ┐",
        "Comment (optional): ________",
        "[Cancel]  [Close]",
    ]
