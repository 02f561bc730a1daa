"""The guide's own story, played through the real app: Maya escalates Jane Doe's double charge on invoice
#789, Alex takes it to the end, Maya closes the loop, and the supervisors read the digest.

Each step does what a person does in Slack (a signed request, as Slack sends it), waits for what Slack
would then show, and tells who sees what.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from escalator.demo.app import Stage, next_morning
from escalator.standin.readable import blocks_text, view_text
from escalator.standin.sender import handoff_values, select, text
from escalator.standin.web_api import Call

MAYA, ALEX, PRIYA = "U0MAYA", "U0ALEX", "U0PRIYA"  # the agent, a billing specialist, a supervisor
FRONTLINE, BILLING, LEADS = "C0AGENTS", "C0BILLING", "C0LEADS"
STEP_TIMEOUT = 20.0  # seconds a step waits for what it expects before it counts as failed
# A step is over once Slack has been asked nothing new for this long, or at most _SETTLE after what it
# expected came: a timer due later (the reminder) is never taken for this step's.
_QUIET = 0.4
_SETTLE = 1.5
_SHOWN = {
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "views.open",
    "views.update",
    "response_url",
}


class StepFailed(Exception):
    pass


Expectation = Callable[[list[Call]], bool]


@dataclass(frozen=True)
class Step:
    title: str
    play: Callable[[Story], None]


class Story:
    """The steps, and what they learn on the way (the case's number, its card, the forms opened)."""

    def __init__(self, stage: Stage, say: Callable[[str], None]) -> None:
        self.stage = stage
        self.say = say
        self.case_id: int | None = None
        self.card_ts = ""
        self._seen = 0  # stand-in calls told so far

    # What people do -------------------------------------------------------------------------------

    def act(self, who: str, what: str, response: requests.Response) -> requests.Response:
        took = response.elapsed.total_seconds() * 1000
        if response.status_code != 200:
            raise StepFailed(f"{what}: the app answered HTTP {response.status_code}: {response.text[:200]}")
        self.say(f"  ({who}'s {what} was acknowledged to Slack in {took:.0f} ms; Slack allows 3,000)")
        return response

    def expect(self, what: str, condition: Expectation) -> list[Call]:
        """Wait until the calls since the last look satisfy `condition`, then until Slack goes quiet;
        tell who sees what."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while not condition(self._new()):
            if time.monotonic() > deadline:
                self._tell(self._new())
                raise StepFailed(f"expected {what} within {STEP_TIMEOUT:.0f} s; it did not come")
            time.sleep(0.05)
        quiet_since, count = time.monotonic(), len(self._new())
        settled = quiet_since + _SETTLE
        while time.monotonic() - quiet_since < _QUIET and time.monotonic() < settled:
            time.sleep(0.05)
            if len(self._new()) != count:
                quiet_since, count = time.monotonic(), len(self._new())
        calls = self._new()
        self._seen += len(calls)
        self._tell(calls)
        return calls

    def opened_form(self, calls: list[Call], callback_id: str) -> dict[str, Any]:
        for call in calls:
            view = call.params.get("view")
            if isinstance(view, str):
                view = json.loads(view)
            if (
                call.method == "views.open"
                and isinstance(view, dict)
                and view.get("callback_id") == callback_id
            ):
                return view
        raise StepFailed(f"no {callback_id} form opened")

    def press(self, who: str, label: str, action_id: str, channel: str, ts: str) -> None:
        assert self.case_id is not None
        response = self.stage.slack.press(action_id, self.case_id, who, channel_id=channel, message_ts=ts)
        self.act(self.name(who), f"press of [{label}]", response)

    def submit(self, who: str, form: str, values: dict[str, dict[str, Any]]) -> None:
        assert self.case_id is not None
        response = self.stage.slack.submit_form(form, self.case_id, values, who)
        self.act(self.name(who), "form", response)

    # Telling who sees what ------------------------------------------------------------------------

    def name(self, conversation: str) -> str:
        return self.stage.stand_in.workspace.name_of(conversation)

    def _new(self) -> list[Call]:
        return [c for c in self.stage.stand_in.calls[self._seen :]]

    def _tell(self, calls: list[Call]) -> None:
        for call in calls:
            where = self._where(call)
            if where is None:
                continue
            self.say(f"\n  ▸ {where}")
            lines = self._lines(call)
            for line in lines:
                self.say(f"    │ {line}" if line else "    │")

    def _where(self, call: Call) -> str | None:
        params, answer = call.params, call.response or {}
        if call.method == "views.publish":
            return f"{self.name(str(params.get('user_id')))}'s App Home is refreshed"
        if call.method == "files.completeUploadExternal":
            where = self.name(str(params.get("channel_id")))
            return f"{where}, in the digest's thread: a chart of the last 14 days"
        if call.method not in _SHOWN:
            return None
        channel = str(params.get("channel") or answer.get("channel") or "")
        if call.method == "chat.postMessage":
            posted = str(answer.get("channel") or channel)
            if posted.startswith("D"):
                return f"{self.name(posted)} gets a private message from Escalator"
            thread = " in the card's thread" if params.get("thread_ts") else ""
            return f"{self.name(posted)}{thread}: Escalator posts"
        if call.method == "chat.update":
            return f"{self.name(channel)}: the message updates in place"
        if call.method == "chat.postEphemeral":
            return f"{self.name(str(params.get('user')))} alone sees, in {self.name(channel)}"
        if call.method == "response_url":
            return "the person who pressed it alone sees"
        return "a form opens"

    def _lines(self, call: Call) -> list[str]:
        names, now = self.name, self.stage.stand_in.clock
        if call.method in ("views.publish", "files.completeUploadExternal"):
            return []  # App Home shows when someone opens it; the chart is an image
        view = call.params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if isinstance(view, dict):
            return view_text(view, names, now)
        blocks = call.params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        return blocks_text(blocks or [], names, str(call.params.get("text") or ""), now)


def _posted(to: str, *, thread: bool | None = None, holding: str = "") -> Expectation:
    def found(calls: list[Call]) -> bool:
        return any(
            c.method == "chat.postMessage"
            and (c.response or {}).get("ok")
            and to in (str(c.params.get("channel")), str((c.response or {}).get("channel")))
            and (thread is None or bool(c.params.get("thread_ts")) == thread)
            and holding in c.text_everywhere
            for c in calls
        )

    return found


def _updated(channel: str, holding: str) -> Expectation:
    return lambda calls: any(
        c.method == "chat.update" and c.params.get("channel") == channel and holding in c.text_everywhere
        for c in calls
    )


def _opened(callback_id: str) -> Expectation:
    return lambda calls: any(c.method == "views.open" and callback_id in c.text_everywhere for c in calls)


def _all(*conditions: Expectation) -> Expectation:
    return lambda calls: all(condition(calls) for condition in conditions)


# The steps ----------------------------------------------------------------------------------------


def escalate(story: Story) -> None:
    story.say("Maya is on a call with Jane Doe, who sees a double charge on invoice #789. She types")
    story.say("`/escalate` in #frontline.")
    story.act("Maya", "/escalate", story.stage.slack.command(user_id=MAYA, channel_id=FRONTLINE))
    story.expect("the handoff form", _opened("escalate_form"))


def hand_off(story: Story) -> None:
    story.say("Maya fills in the handoff note as the guide's example has it, and presses Escalate.")
    response = story.act("Maya", "handoff note", story.stage.slack.submit(handoff_values(), user_id=MAYA))
    answer = response.json()
    if answer.get("response_action") != "update":
        raise StepFailed(f"the form was not accepted: {answer}")
    story.say("\n  ▸ Maya's form now shows")
    for line in view_text(answer["view"], story.name, story.stage.stand_in.clock):
        story.say(f"    │ {line}")
    calls = story.expect(
        "the card in #billing and Maya's next steps", _all(_posted(BILLING, thread=False), _posted("D0MAYA"))
    )
    card = next(c for c in calls if c.method == "chat.postMessage" and c.params.get("channel") == BILLING)
    story.card_ts = str((card.response or {}).get("ts"))
    story.case_id = _button_value(card.params.get("blocks") or [], "claim")


def claim(story: Story) -> None:
    story.say("In #billing, Alex presses the card's Claim button.")
    story.press(ALEX, "Claim", "claim", BILLING, story.card_ts)
    story.expect(
        "the card claimed, the warm transfer in its thread, and Maya told",
        _all(
            _updated(BILLING, "Claimed by"),
            _posted(BILLING, thread=True, holding="Jane Doe"),
            _posted("D0MAYA"),
        ),
    )


def update(story: Story) -> None:
    story.say("Alex calls the bank, then presses Post update on the card.")
    story.press(ALEX, "Post update", "post_update", BILLING, story.card_ts)
    story.expect("the update form", _opened("update_form"))
    story.submit(
        ALEX, "update_form", {"update": text("Refund request filed with the bank; answer expected by 3pm.")}
    )
    story.expect(
        "the update in the card's thread", _posted(BILLING, thread=True, holding="Refund request filed")
    )


def hand_back(story: Story) -> None:
    story.say("The bank reverses the duplicate charge. Alex presses Resolve and writes the handback note.")
    story.press(ALEX, "Resolve", "resolve", BILLING, story.card_ts)
    story.expect("the handback form", _opened("resolve_form"))
    handback = {
        "done": text("Reversed the duplicate charge on invoice #789 with the bank."),
        "for_customer": text(
            "The duplicate charge is reversed; it leaves your statement in 3–5 working days."
        ),
    }
    story.submit(ALEX, "resolve_form", handback)
    story.expect(
        "the handback to Maya, with the buttons to close the loop", _posted("D0MAYA", holding="close_loop")
    )


def remind(story: Story) -> None:
    after = story.stage.policy.close_the_loop.remind_after.total_seconds()
    story.say(f"Maya is on another call. {after:g} s later (the demo policy's close_the_loop.remind_after)")
    story.say("Escalator reminds her that Jane has not been told yet.")
    story.expect("the close-the-loop reminder", _posted("D0MAYA", holding="Reminder 1 of"))


def close_the_loop(story: Story) -> None:
    story.say("Maya calls Jane back with Alex's words, presses Customer informed — close, and records")
    story.say("how Jane felt.")
    story.press(MAYA, "Customer informed — close", "close_loop", "D0MAYA", "")
    story.expect("the closing form", _opened("close_form"))
    story.submit(MAYA, "close_form", {"csat": select("5", "radio_buttons")})
    story.expect("the card closed", _updated(BILLING, "Closed"))


def digest(story: Story) -> None:
    policy = story.stage.policy
    assert policy.digest is not None
    morning = next_morning(policy, story.stage.clock.now())
    story.say(f"The demo's clock jumps to the next morning, {morning.astimezone(policy.zone):%a %H:%M}: the")
    story.say(f"digest is due (digest.at) in {story.name(policy.digest.channel)}, for the supervisors.")
    story.stage.clock.jump_to(morning)
    story.expect("the digest", _posted(LEADS, thread=False, holding="Escalations"))


STEPS = [
    Step("An agent escalates", escalate),
    Step("The handoff note, stored and routed", hand_off),
    Step("A specialist claims it: the warm transfer", claim),
    Step("An update", update),
    Step("The handback", hand_back),
    Step("The close-the-loop reminder", remind),
    Step("The agent closes the loop", close_the_loop),
    Step("The daily digest", digest),
]


def _button_value(blocks: list[dict[str, Any]], action_id: str) -> int:
    for block in blocks:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return int(element["value"])
    raise StepFailed(f"the card has no {action_id} button")
