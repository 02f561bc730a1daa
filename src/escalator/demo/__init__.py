"""`escalator demo`: the real app, with no Slack workspace, tokens or configuration, playing the guide's
story against the built-in Slack stand-in; also a smoke test (exit 0, or 1 naming the step that failed)."""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from escalator.demo.app import Stage, found_names, open_stage
from escalator.demo.story import STEPS, StepFailed, Story


def run_demo(folder: Path | None, *, step_by_step: bool, keep: bool, out: TextIO = sys.stdout) -> int:
    folder = folder or Path(tempfile.mkdtemp(prefix="escalator-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    transcript = (folder / "transcript.txt").open("w", encoding="utf-8")

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)
        print(line, file=transcript, flush=True)

    started = time.monotonic()
    say("Escalator demo: the real app against a Slack stand-in, on a throwaway database.")
    try:
        stage = open_stage(folder)
    except Exception as exc:
        say(f"\n✗ the app did not start: {type(exc).__name__}: {exc}")
        say(f"  its log: {folder / 'escalator.log'}")
        transcript.close()
        return 1
    code = 0
    try:
        _introduce(stage, say)
        story = Story(stage, say)
        for number, step in enumerate(STEPS, 1):
            if step_by_step:
                _wait_for_enter(out)
            say(f"\n── {number}/{len(STEPS)}  {step.title} " + "─" * max(0, 60 - len(step.title)))
            try:
                step.play(story)
            except (StepFailed, OSError, ValueError, KeyError) as exc:
                say(f"\n✗ step {number} ({step.title}) failed: {exc}")
                code = 1
                break
        if code == 0:
            say(f"\n✓ the story played in {time.monotonic() - started:.1f} s")
        say("\nWhat it wrote:")
        say(f"  the database:  {stage.database}")
        say(f"    look inside: DATABASE_URL=sqlite:///{stage.database} escalator history ESC-1")
        say(f"  the policy:    {folder / 'policy.yml'}")
        say(f"  the app's log: {stage.log}")
        say(f"  this story:    {folder / 'transcript.txt'}")
        if keep:
            _keep_running(stage, say)
    finally:
        stage.close()
        transcript.close()
    return code


def _introduce(stage: Stage, say: Callable[[str], None]) -> None:
    people = ", ".join(f"@{p.handle} ({p.real_name})" for p in stage.stand_in.workspace.people)
    say(f"The workspace: {people}.")
    say("Maya is a frontline agent; Alex and Sam are billing specialists, Tariq technical; Priya supervises.")
    found = ", ".join(f"{name} → {slack_id}" for name, slack_id in found_names(stage).items())
    say(f"The policy names channels and people; at start the app found their IDs: {found}.")
    say(f"The app serves {stage.app_url}/slack/events; Slack's Web API is the stand-in at")
    say(f"{stage.stand_in.url}.")


def _wait_for_enter(out: TextIO) -> None:
    print("\n[Enter for the next step]", end="", file=out, flush=True)
    sys.stdin.readline()


def _keep_running(stage: Stage, say: Callable[[str], None]) -> None:
    page = stage.stand_in.url.removesuffix("/api/") + "/"
    say(f"\nStill running: the app at {stage.app_url}/slack/events and the Slack stand-in at {page}")
    say(f"(open {page} to see each channel as it shows now). Ctrl-C to stop.")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
