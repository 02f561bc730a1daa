"""Delivery under Slack's limits, an outage and kills: `python app.py` (two web workers and the delivery
process) against bench/api_stub.py enforcing Slack's rate limits, answering 429 with Retry-After, and
taking 100 ms per call.

    python bench/delivery.py
    python bench/delivery.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Scenarios (each on a fresh database and a fresh app; `--only burst,spread,outage,kills` picks some):

- burst: 60 agents escalate at once into one channel. The cards' pace against the limit's minimum (3
  at once, then one a second: 57 s for the last), the 429s, and each agent's notice after its card.
- spread: 500 escalations over 10 channels, sent evenly over one minute. The last card against the
  limit's minimum for those same arrival times (a token bucket of 3, one a second, per channel, fed
  when each case was stored), and the share of calls answered 429.
- flood: the same 500 sent as fast as the app acknowledges them, so that the limit sets the pace.
- outage: Slack's posting side answers 503 for two minutes while 100 escalations over 10 channels
  arrive; then each card's delay after the recovery, and that each was posted exactly once.
- kills: 200 escalations over 10 channels at 5 a second; 8 s in, a web worker is SIGKILLed, at 16 s
  the delivery process, at 24 s the web process itself (gunicorn's master; the supervisor starts it
  again, holding the listening socket meanwhile). Every acknowledgement's time, and every card
  exactly once. A request lost with a killed worker is sent again, as Slack's user presses again.

Times are the stand-in's clock (when Slack received each call). Not test assertions: a shared machine
makes them noisy.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml
from load import ROOT, SIGNING_SECRET, Database, app_env, children, free_port, http_get, stop, wait_until_up
from slack_mix import SlackShapes

BENCH = Path(__file__).resolve().parent
CHANNELS = [f"C0BENCH{n:02d}" for n in range(10)]
_REFERENCE = re.compile(r"ESC-(\d+)")


def delivery_policy() -> str:
    """policy.example.yml with ten paths, one channel each, always open, and no digest or incidents."""
    policy = yaml.safe_load((ROOT / "policy.example.yml").read_text())
    for key in ("business_hours", "digest", "incident", "privacy"):
        policy.pop(key, None)
    policy["paths"] = {
        f"path{n}": {"label": f"Team {n}", "channel": channel, "specialists": [f"U0SPEC{n:02d}"]}
        for n, channel in enumerate(CHANNELS)
    }
    return yaml.safe_dump(policy, sort_keys=False)


@dataclass
class Sent:
    """One agent's submission: when it was sent and answered (monotonic), and how many times."""

    n: int
    path: str
    sent_at: float = 0.0
    acked_at: float = 0.0
    tries: int = 0

    @property
    def ack(self) -> float:
        return self.acked_at - self.sent_at


@dataclass
class Outcome:
    name: str
    lines: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)


class Stand:
    """The stand-in and one app over a fresh database, with a sender of signed submissions."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.folder = folder
        (folder / "policy.yml").write_text(delivery_policy())
        self.database = Database(args.database_url, folder)
        self.stub_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.stub_port}/api/"
        log = folder / "stub.log"
        self.stub = subprocess.Popen(
            [
                sys.executable,
                str(BENCH / "api_stub.py"),
                "--port",
                str(self.stub_port),
                "--slack-limits",
                "--latency",
                str(args.latency),
            ],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_until_up(self.stub_port, self.stub, "/_stats", log)
        self.shapes = SlackShapes(f"http://127.0.0.1:{self.stub_port}/response")
        self.local = threading.local()

    def close(self) -> None:
        stop(self.stub)

    def start_app(self, database_url: str) -> tuple[subprocess.Popen[bytes], int, Path]:
        port = free_port()
        policy = self.folder / "policy.yml"
        env = app_env(self.api_url, database_url, policy, port, ESCALATOR_WORKERS="2", SLACK_API_TIMEOUT="3")
        log = self.folder / f"app-{port}.log"
        app = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")],
            cwd=self.folder,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_until_up(port, app, "/healthz", log)
        http_get(self.stub_port, "/_reset", "POST")
        return app, port, log

    def submit(self, port: int, sent: Sent) -> None:
        """Send one submission until it is answered "saved" (its view id makes a resend the same case)."""
        session = getattr(self.local, "session", None) or requests.Session()
        self.local.session = session
        unsigned = self.shapes.view_submission(
            f"VBENCH{sent.n:05d}", sent.n, f"U0AGENT{sent.n:03d}", sent.path
        )
        for _ in range(20):
            sent.tries += 1
            stamp = str(int(time.time()))
            signature = hmac.new(
                SIGNING_SECRET.encode(), f"v0:{stamp}:".encode() + unsigned.body, hashlib.sha256
            ).hexdigest()
            headers = {
                "Content-Type": unsigned.content_type,
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": f"v0={signature}",
            }
            sent.sent_at = time.monotonic()
            try:
                answer = session.post(
                    f"http://127.0.0.1:{port}/slack/events", data=unsigned.body, headers=headers, timeout=10
                )
            except requests.RequestException:
                session = self.local.session = requests.Session()
                time.sleep(0.2)
                continue
            sent.acked_at = time.monotonic()
            if answer.status_code == 200 and b'"update"' in answer.content:
                return
            time.sleep(0.2)
        raise SystemExit(f"submission {sent.n} was never saved")

    def load(
        self, port: int, count: int, rate: float | None, paths: Callable[[int], str]
    ) -> tuple[list[Sent], float]:
        """`count` submissions, all at once (rate None) or `rate` a second; returns them and the wall-clock
        time (the stand-in's clock) the first was sent."""
        sent = [Sent(n, paths(n)) for n in range(count)]
        started_wall, started = time.time(), time.monotonic()

        def one(item: Sent) -> None:
            if rate:
                time.sleep(max(0.0, started + item.n / rate - time.monotonic()))
            self.submit(port, item)

        with ThreadPoolExecutor(max_workers=min(count, 64) if rate is None else 32) as pool:
            list(pool.map(one, sent))
        for item in sent:  # as wall-clock times, to set beside the stand-in's
            item.sent_at += started_wall - started
            item.acked_at += started_wall - started
        return sent, started_wall

    def records(self) -> list[list[Any]]:
        self.last_records: list[list[Any]] = json.loads(http_get(self.stub_port, "/_stats")[1])["records"]
        return self.last_records

    def wait_for_cards(self, count: int, timeout: float, notices: bool = True) -> list[list[Any]]:
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            cards, told = cards_and_notices(records)
            if len(cards) >= count and (not notices or len(told) >= count):
                return records
            if time.monotonic() > deadline:
                print(
                    f"  gave up waiting: {len(cards)} cards, {len(told)} notices of {count}", file=sys.stderr
                )
                return records
            time.sleep(0.5)


def cards_and_notices(records: list[list[Any]]) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    """For each case: when its card was accepted in a channel, and when its agent's notice was."""
    cards: dict[int, list[float]] = defaultdict(list)
    told: dict[int, list[float]] = defaultdict(list)
    for at, method, channel, status, thread, text, _ in records:
        found = _REFERENCE.search(text)
        if method != "chat.postMessage" or status != 200 or not found or thread:
            continue
        case = int(found.group(1))
        if channel in CHANNELS:
            cards[case].append(at)
        elif channel.startswith("U0AGENT") and "is posted in" in text:
            told[case].append(at)
    return cards, told


def fastest_possible(arrivals: list[float]) -> float:
    """When a channel could show its last card at best: a token bucket of 3, one a second, from the
    times the cases were stored."""
    tokens, at, last = 3.0, arrivals[0] if arrivals else 0.0, 0.0
    for arrival in sorted(arrivals):
        now = max(arrival, last)
        tokens = min(3.0, tokens + (now - at))
        if tokens < 1:
            now += 1 - tokens
            tokens = 1.0
        tokens, at, last = tokens - 1, now, now
    return last


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def acks_line(sent: list[Sent]) -> str:
    acks = sorted(item.ack * 1000 for item in sent)
    p = lambda share: acks[min(len(acks) - 1, int(share * len(acks)))]  # noqa: E731
    resent = sum(item.tries - 1 for item in sent)
    return f"acks: p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, max {acks[-1]:.0f} ms; sent again: {resent}"


def ratelimited(records: list[list[Any]]) -> tuple[int, int]:
    return sum(1 for r in records if r[3] == 429), len(records)


def ratelimited_by_method(records: list[list[Any]]) -> str:
    counted = Counter(r[1] for r in records if r[3] == 429)
    return ", ".join(f"{method} {n}" for method, n in counted.most_common()) or "none"


def burst(stand: Stand, database_url: str) -> Outcome:
    outcome = Outcome("burst: 60 agents escalate at once into one channel")
    app, port, _ = stand.start_app(database_url)
    try:
        sent, started = stand.load(port, 60, None, lambda n: "path0")
        records = stand.wait_for_cards(60, timeout=120)
    finally:
        stop(app)
    cards, told = cards_and_notices(records)
    last = max(min(times) for times in cards.values()) - started
    limited, calls = ratelimited(records)
    delays = [min(told[case]) - min(cards[case]) for case in cards if told.get(case)]
    outcome.lines += [
        f"last of {len(cards)} cards {last:.1f} s after the first submission (the limit's minimum: 57.0 s)",
        f"answered 429: {limited} of {calls} calls ({ratelimited_by_method(records)})",
        f"agent's notice after its card: max {max(delays):.2f} s, median {median(delays):.2f} s",
        acks_line(sent),
    ]
    outcome.checks += [
        ("all 60 cards within 65 s", len(cards) == 60 and last <= 65),
        ("at most 3 answers 429", limited <= 3),
        ("each notice within 5 s of its card", len(delays) == 60 and max(delays) <= 5),
        ("each card once", all(len(times) == 1 for times in cards.values())),
    ]
    return outcome


def spread(stand: Stand, database_url: str, rate: float | None = 500 / 60) -> Outcome:
    when = "in one minute" if rate else "as fast as the app takes them"
    outcome = Outcome(f"{'spread' if rate else 'flood'}: 500 escalations over 10 channels {when}")
    app, port, _ = stand.start_app(database_url)
    try:
        sent, started = stand.load(port, 500, rate, lambda n: f"path{n % 10}")
        records = stand.wait_for_cards(500, timeout=180)
    finally:
        stop(app)
    cards, _ = cards_and_notices(records)
    arrivals: dict[str, list[float]] = defaultdict(list)
    for item in sent:
        arrivals[f"path{item.n % 10}"].append(item.acked_at)
    minimum = max(fastest_possible(times) for times in arrivals.values()) - started
    last = max(min(times) for times in cards.values()) - started
    limited, calls = ratelimited(records)
    outcome.lines += [
        f"last of {len(cards)} cards {last:.1f} s after the first submission; the limit's minimum for these "
        f"arrivals {minimum:.1f} s: ratio {last / minimum:.3f}",
        f"answered 429: {limited} of {calls} calls ({100 * limited / calls:.2f} %: "
        f"{ratelimited_by_method(records)})",
        acks_line(sent),
    ]
    outcome.checks += [
        ("time to the last card ≤ 1.1 × the limit's minimum", last <= 1.1 * minimum),
        ("under 1 % of calls answered 429", limited < 0.01 * calls),
        ("each card once", len(cards) == 500 and all(len(t) == 1 for t in cards.values())),
    ]
    return outcome


def flood(stand: Stand, database_url: str) -> Outcome:
    """The same 500, sent as fast as the app acknowledges them: Slack's limit, not their arrival, sets
    the pace (50 cards a channel, one a second)."""
    return spread(stand, database_url, rate=None)


def outage(stand: Stand, database_url: str) -> Outcome:
    outcome = Outcome("outage: posting down for 2 minutes under 100 escalations over 10 channels")
    app, port, _ = stand.start_app(database_url)
    try:
        down = json.dumps({"down": ["chat.postMessage"], "seconds": 120}).encode()
        recovery = json.loads(_post(stand.stub_port, "/_control", down))["down_until"]
        sent, _ = stand.load(port, 100, 10, lambda n: f"path{n % 10}")
        records = stand.wait_for_cards(100, timeout=240)
    finally:
        stop(app)
    cards, _ = cards_and_notices(records)
    after = [min(times) - recovery for times in cards.values()]
    failed_tries = sum(1 for r in records if r[1] == "chat.postMessage" and r[3] == 503)
    outcome.lines += [
        f"{len(cards)} cards; the last {max(after):.1f} s after the recovery (median {median(after):.1f} s)",
        f"posts tried while Slack was down: {failed_tries} (100 cards, 10 channels, 120 s)",
        acks_line(sent),
    ]
    outcome.checks += [
        ("every card within 30 s of the recovery", len(cards) == 100 and max(after) <= 30),
        ("each card exactly once", all(len(t) == 1 for t in cards.values())),
    ]
    return outcome


def kills(stand: Stand, database_url: str) -> Outcome:
    outcome = Outcome("kills: each process SIGKILLed in turn under 200 escalations at 5 a second")
    app, port, log = stand.start_app(database_url)
    killed: list[str] = []

    def killer() -> None:
        for delay, which in ((8, "web worker"), (8, "delivery process"), (8, "web process")):
            time.sleep(delay)
            pid = _process(app.pid, which)
            os.kill(pid, signal.SIGKILL)
            killed.append(f"{which} (pid {pid})")

    try:
        thread = threading.Thread(target=killer)
        thread.start()
        sent, _ = stand.load(port, 200, 5, lambda n: f"path{n % 10}")
        thread.join()
        records = stand.wait_for_cards(200, timeout=180)
        restarted = log.read_text().count("starting it again")
    finally:
        stop(app)
    cards, told = cards_and_notices(records)
    slowest = max(item.ack for item in sent)
    outcome.lines += [
        f"killed: {', '.join(killed)}; the supervisor started {restarted} process(es) again",
        acks_line(sent),
        f"{len(cards)} cards; posted more than once: {sum(1 for t in cards.values() if len(t) > 1)}",
    ]
    outcome.checks += [
        ("every acknowledgement under 3 s", slowest < 3.0),
        ("every card exactly once", len(cards) == 200 and all(len(t) == 1 for t in cards.values())),
        ("every agent told once", len(told) == 200 and all(len(t) == 1 for t in told.values())),
    ]
    return outcome


def _process(supervisor: int, which: str) -> int:
    def command(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return ""

    tree = children(supervisor)
    web = [pid for pid in tree if "escalator web" in command(pid)]
    masters = [
        pid
        for pid in web
        if int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == supervisor
    ]
    if which == "delivery process":
        return next(pid for pid in tree if "escalator deliver" in command(pid))
    if which == "web process":
        return masters[0]
    return next(pid for pid in web if pid not in masters)


def _post(port: int, path: str, body: bytes) -> bytes:
    return requests.post(f"http://127.0.0.1:{port}{path}", data=body, timeout=5).content


SCENARIOS = {"burst": burst, "spread": spread, "flood": flood, "outage": outage, "kills": kills}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="sqlite")
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--latency", type=float, default=0.1, help="seconds each Web API call takes")
    parser.add_argument("--records", type=Path, help="a folder to keep each scenario's calls in (JSON)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="escalator-delivery-") as scratch:
        stand = Stand(args, Path(scratch))
        try:
            outcomes = []
            for name in args.only.split(","):
                with stand.database.fresh() as database_url:
                    outcome = SCENARIOS[name](stand, database_url)
                outcomes.append(outcome)
                if args.records:
                    args.records.mkdir(parents=True, exist_ok=True)
                    (args.records / f"{name}.json").write_text(json.dumps(stand.last_records))
                print(f"\n{outcome.name}")
                for line in outcome.lines:
                    print(f"  {line}")
                for check, ok in outcome.checks:
                    print(f"  {'✓' if ok else '✗'} {check}")
        finally:
            stand.close()
    counts = Counter(ok for outcome in outcomes for _, ok in outcome.checks)
    print(f"\n{counts[True]} targets met, {counts[False]} missed")


if __name__ == "__main__":
    main()
