"""`escalator demo`: the real app plays the guide's story against the built-in stand-in, with nothing set
up; it exits 0, or 1 naming the step that failed."""

from __future__ import annotations

import io
import signal
import subprocess
from pathlib import Path

import pytest
import requests
from app_process import app_env, escalator_command
from sqlalchemy import select

from escalator import demo
from escalator.demo import app as demo_app
from escalator.domain.escalation import Escalation, State
from escalator.standin.web_api import Reply
from escalator.store.database import Store


def _bare_env(tmp_path: Path) -> dict[str, str]:
    """No Slack token, no policy, no database: what a new user has."""
    return app_env(tmp_path, HOME=str(tmp_path))


def test_a_step_that_fails_is_named_and_the_demo_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def refusing_billing(folder: Path) -> demo_app.Stage:
        stage = demo_app.open_stage(folder)
        stage.stand_in.script("chat.postMessage", Reply.error("channel_not_found"))  # #billing is gone
        return stage

    monkeypatch.setattr(demo, "open_stage", refusing_billing)
    monkeypatch.setattr("escalator.demo.story.STEP_TIMEOUT", 3.0)
    out = io.StringIO()

    code = demo.run_demo(tmp_path / "demo", step_by_step=False, keep=False, out=out)

    assert code == 1
    assert (
        "✗ step 2 (The handoff note, stored and routed) failed: expected the card in #billing and "
        "Maya's next steps within 3 s; it did not come" in out.getvalue()
    )
    # What Slack did show is still told: the card went to the supervisors, with the problem.
    assert "▸ #support-leads: Escalator posts" in out.getvalue()


def test_the_demo_plays_the_whole_story_with_nothing_set_up(tmp_path: Path):
    """With --step (Enter before each step) and --keep (the workspace left running, as a web page)."""
    folder = tmp_path / "demo"
    process = subprocess.Popen(
        escalator_command("demo", "--step", "--keep", "--dir", str(folder)),
        cwd=tmp_path,
        env=_bare_env(tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("\n" * 8)
    process.stdin.flush()
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("(open http://") or line.startswith("✗"):
            break
    page_url = lines[-1].split()[1]
    try:
        page = requests.get(page_url, timeout=5).text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    out = "".join(lines)
    assert process.returncode == 0, out + (process.stderr.read() if process.stderr else "")
    assert out.count("[Enter for the next step]") == 8
    # Who sees what, readably: the card with its buttons, the warm transfer, the reminder, the digest.
    assert "▸ #billing: Escalator posts\n    │ ESC-1 · P2 · Billing" in out
    assert "[Claim]  [Resolve]  [Reassign]  [Escalate up / move]  [Cancel]" in out
    assert "Customer: Jane Doe" in out and "Double charge on invoice #789" in out
    assert "▸ #billing in the card's thread: Escalator posts" in out
    assert "▸ @maya gets a private message from Escalator" in out and "Reminder 1 of 2" in out
    assert "State: 🔒 Closed · customer satisfaction 5/5" in out
    assert "▸ #support-leads: Escalator posts\n    │ Escalations digest" in out
    assert "#billing → C0BILLING" in out and "sam@example.com → U0SAM" in out
    assert "✓ the story played in" in out
    # What it wrote, and what the database holds.
    assert f"the database:  {folder / 'escalator.db'}" in out
    assert "Escalations digest" in (folder / "transcript.txt").read_text()
    store = Store(f"sqlite:///{folder / 'escalator.db'}")
    with store.reading() as tx:
        case = tx.session.scalars(select(Escalation)).one()
    store.dispose()
    assert (case.state, case.csat, case.card_channel_id) == (State.closed, 5, "C0BILLING")
    # The workspace as a page: each channel as it shows now (the card in its latest version).
    assert "<h2>#billing</h2>" in page and "ESC-1 · P2 · Billing" in page
    assert "Closed · customer satisfaction 5/5" in page
    assert "<h2>@maya (their DM with Escalator)</h2>" in page
