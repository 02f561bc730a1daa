"""The floor for `bench/load.py`: a bare Bolt app whose listeners only ack (and whose `/escalate` opens
a one-field modal, as the least a real app does), served by gunicorn with the options app.py serves
Escalator with (gthread workers, threads and keep-alive from the same settings):
`escalator.server.gunicorn_options(settings)`. bench/floor_asgi.py is the same floor on uvicorn.

    SLACK_BOT_TOKEN=xoxb-1 SLACK_SIGNING_SECRET=secret SLACK_API_URL=http://127.0.0.1:8765/api/ \\
        PORT=3000 ESCALATOR_WORKERS=2 python bench/floor_app.py

It listens for what the load mix sends (the slash command, the handoff form's submission, reactions,
the claim button) and reads the same environment variables, so any difference in time to ack between
it and the app is the app's own work before `ack()` and the CPU its work after `ack()` takes away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from escalator import server
from escalator.settings import Settings, load_settings
from escalator.slack.ids import SLASH_COMMAND, ActionId, CallbackId
from escalator.web import HEALTH_PATH, SLACK_EVENTS_PATH
from escalator.wiring import configure_logging

StartResponse = Callable[..., Any]


# The least form a real `/escalate` opens: one field, through the same Web API the app calls.
ONE_FIELD_MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": CallbackId.escalate_form.value,
    "title": {"type": "plain_text", "text": "Escalate"},
    "submit": {"type": "plain_text", "text": "Escalate"},
    "blocks": [
        {
            "type": "input",
            "block_id": "summary",
            "label": {"type": "plain_text", "text": "What happened?"},
            "element": {"type": "plain_text_input", "action_id": "summary", "multiline": True},
        }
    ],
}


def only_ack(ack: Ack) -> None:
    ack()


def open_modal(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    ack()
    client.views_open(trigger_id=body["trigger_id"], view=ONE_FIELD_MODAL)


def build_floor_bolt(settings: Settings) -> App:
    app = App(
        # Bolt's single-workspace auth.test happens on the first request: to the stand-in, as the app's.
        client=WebClient(token=settings.SLACK_BOT_TOKEN, base_url=settings.SLACK_API_URL, retry_handlers=[]),
        signing_secret=settings.SLACK_SIGNING_SECRET,
        listener_executor=ThreadPoolExecutor(
            max_workers=settings.ESCALATOR_THREADS, thread_name_prefix="bolt"
        ),
        token_verification_enabled=False,
    )
    register_floor(app, open_modal, only_ack)
    return app


def register_floor(app: Any, open_form: Callable[..., Any], acknowledge: Callable[..., Any]) -> None:
    """What the load mix sends, on a Bolt app (sync or async): the command opens a one-field modal,
    the rest only ack."""
    app.command(SLASH_COMMAND)(open_form)
    app.view_submission(CallbackId.escalate_form.value)(acknowledge)
    app.event("reaction_added")(acknowledge)
    app.action(ActionId.claim.value)(acknowledge)


class FloorWorker:
    """One worker's WSGI app: `/healthz`, and the bare Bolt app on `/slack/events`."""

    def __init__(self, settings: Settings) -> None:
        self._slack = SlackRequestHandler(build_floor_bolt(settings), path=SLACK_EVENTS_PATH)

    def web(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
            return [b"{}"]
        return self._slack(environ, start_response)


class FloorServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in server.gunicorn_options(self._settings).items():
            self.cfg.set(key, value)

    def load(self) -> Callable[..., Iterable[bytes]]:
        # In each worker after the fork, as the app builds its own.
        return FloorWorker(self._settings).web


def main() -> None:
    configure_logging()
    FloorServer(load_settings()).run()


if __name__ == "__main__":
    main()
