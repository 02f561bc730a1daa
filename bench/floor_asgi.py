"""The floor for `bench/load.py` on uvicorn: bench/floor_app.py's bare Bolt app, as Bolt's AsyncApp
behind its ASGI adapter, served by uvicorn with the same worker processes and keep-alive.

    SLACK_BOT_TOKEN=xoxb-1 SLACK_SIGNING_SECRET=secret SLACK_API_URL=http://127.0.0.1:8765/api/ \\
        PORT=3000 ESCALATOR_WORKERS=2 python bench/floor_asgi.py

The other shape a minimal Bolt app takes in production: one event loop per worker instead of a thread
pool, so the floor the app is held to is the faster of the two, not the one the app happens to use.
Needs `uvicorn` and `aiohttp` (AsyncWebClient's transport).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn
from floor_app import ONE_FIELD_MODAL, register_floor
from slack_bolt.adapter.asgi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from escalator.settings import Settings, load_settings
from escalator.web import HEALTH_PATH, SLACK_EVENTS_PATH

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def only_ack(ack: AsyncAck) -> None:
    await ack()


async def open_modal(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
    await ack()
    await client.views_open(trigger_id=body["trigger_id"], view=ONE_FIELD_MODAL)


def build_floor_bolt(settings: Settings) -> AsyncApp:
    app = AsyncApp(
        client=AsyncWebClient(
            token=settings.SLACK_BOT_TOKEN, base_url=settings.SLACK_API_URL, retry_handlers=[]
        ),
        signing_secret=settings.SLACK_SIGNING_SECRET,
    )
    register_floor(app, open_modal, only_ack)
    return app


class FloorAsgi:
    """One worker's ASGI app: `/healthz`, and the bare Bolt app on `/slack/events`."""

    def __init__(self) -> None:
        self._slack = AsyncSlackRequestHandler(build_floor_bolt(load_settings()), path=SLACK_EVENTS_PATH)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == HEALTH_PATH:
            headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"{}"})
            return
        await self._slack(scope, receive, send)


def main() -> None:
    settings = load_settings()
    # An import string and a factory: each worker process builds its own app after it starts.
    uvicorn.run(
        "floor_asgi:FloorAsgi",
        factory=True,
        app_dir=str(Path(__file__).resolve().parent),
        host="0.0.0.0",
        port=settings.PORT,
        workers=settings.ESCALATOR_WORKERS,
        timeout_keep_alive=5,  # gunicorn's keepalive in escalator.server.gunicorn_options
        access_log=False,
        backlog=2048,
    )


if __name__ == "__main__":
    main()
