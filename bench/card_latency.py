"""Time from a handoff form's submission to its card in the channel, when each new connection to Slack
costs what a TLS handshake does.

    python bench/card_latency.py
    python bench/card_latency.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

For each rate (10 and 50 submissions a second by default), on a fresh database and a fresh `python
app.py` in HTTP mode: a warm-up of a few submissions (their cards awaited), then handoff forms sent at
that fixed rate for `--duration` seconds (open loop, bench/loadgen.py, in a process of its own). The
stand-in (bench/api_stub.py, `--connect-cost 0.05`) makes each new connection wait 50 ms before its
first answer, as a TLS handshake with Slack does; a kept-alive connection pays once. The forms go to
`--channels` paths in turn, each with a channel of its own, from as many agents: 100 by default, so
that at 50 a second no channel gets more than Slack's one post a second (which the app keeps to) and
the figure is the app's own delay, not Slack's pace.

Reported per rate: the card's latency, from when its submission was due to when its `chat.postMessage`
reached the stand-in (p50, p99, max; cards matched to submissions through the escalation's reference in
the card's text and its idempotency key), the time to ack, how many connections the app opened to
the stand-in for how many Web API calls, and the peak memory (VmHWM) of each of the app's processes.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import yaml
from load import (
    BENCH,
    ROOT,
    SIGNING_SECRET,
    Database,
    app_env,
    free_port,
    http_get,
    start_server,
    stop,
    wait_until_up,
)
from load_report import percentile
from loadgen import LoadResult, LoadSpec, run_load
from procs import ProcessPeak, peak_memory, peaks_label
from slack_mix import Kind, MixSpec
from sqlalchemy import create_engine, text

ONLY_FORMS = {Kind.view: 1.0}
WARM_UP = 20  # submissions before the clock starts: imports, caches and the first connections
_REFERENCE = re.compile(r"ESC-(\d+)")


def channels(count: int) -> list[str]:
    return [f"C0CARD{n:03d}" for n in range(count)]


def cards_policy(count: int) -> str:
    """policy.example.yml with `count` paths, a channel and a specialist each, always open, without
    digest or incidents."""
    policy = yaml.safe_load((ROOT / "policy.example.yml").read_text())
    for key in ("business_hours", "digest", "incident", "privacy"):
        policy.pop(key, None)
    policy["paths"] = {
        f"path{n}": {"label": f"Team {n}", "channel": channel, "specialists": [f"U0SPEC{n:03d}"]}
        for n, channel in enumerate(channels(count))
    }
    return yaml.safe_dump(policy, sort_keys=False)


@dataclass
class RateReport:
    rate: float
    sent: int
    saved: int
    card_ms: list[float]  # sorted
    ack_ms: list[float]  # sorted
    connections: int  # opened by the app to the stand-in during the phase
    calls: int  # Web API calls the app made during the phase
    peaks: list[ProcessPeak]


class Stand:
    """The stand-in with its connection cost, and the load generator."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args = args
        self.folder = folder
        (folder / "policy.yml").write_text(cards_policy(args.channels))
        self.channels = set(channels(args.channels))
        self.paths = tuple(f"path{n}" for n in range(args.channels))
        self.agents = tuple(f"U0AGENT{n:03d}" for n in range(args.channels))
        self.database = Database(args.database_url, folder)
        self.stub_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.stub_port}/api/"
        log = folder / "stub.log"
        command = [sys.executable, str(BENCH / "api_stub.py"), "--port", str(self.stub_port)]
        command += ["--connect-cost", str(args.connect_cost), "--latency", str(args.latency)]
        self.stub = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        wait_until_up(self.stub_port, self.stub, "/_stats", log)
        self.generator = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))

    def close(self) -> None:
        self.generator.shutdown()
        stop(self.stub)

    def stats(self) -> dict[str, Any]:
        return json.loads(http_get(self.stub_port, "/_stats")[1])

    def send(self, port: int, mix: MixSpec, rate: float | None, clients: int) -> LoadResult:
        spec = LoadSpec(
            host="127.0.0.1",
            port=port,
            secret=SIGNING_SECRET,
            response_url=f"http://127.0.0.1:{self.stub_port}/response",
            mix=mix,
            rate=rate,
            clients=clients,
            timeout=10.0,
            check_saved=True,
        )
        return self.generator.submit(run_load, spec).result()

    def forms(self, label: str, count: int, seed: int) -> MixSpec:
        return MixSpec(label, count, (), ONLY_FORMS, seed=seed, paths=self.paths, agents=self.agents)

    def wait_for_cards(self, count: int) -> dict[int, float]:
        """Until `count` cards are in, or none came for `--patience` seconds: each case's first card."""
        seen, last_change = -1, time.monotonic()
        while True:
            cards = card_times(self.stats()["records"], self.channels)
            if len(cards) >= count:
                return cards
            if len(cards) != seen:
                seen, last_change = len(cards), time.monotonic()
            elif time.monotonic() - last_change > self.args.patience:
                print(f"  gave up waiting: {len(cards)} cards of {count}", file=sys.stderr)
                return cards
            time.sleep(0.5)

    def phase(self, rate: float, seed: int) -> RateReport:
        with self.database.fresh() as database_url:
            port = free_port()
            env = app_env(
                self.api_url,
                database_url,
                self.folder / "policy.yml",
                port,
                ESCALATOR_WORKERS=str(self.args.workers),
            )
            log = self.folder / f"app-{port}.log"
            app = start_server(self.args.app, self.folder, env, port, self.args.workers, log)
            try:
                warm = self.send(port, self.forms(f"c{seed}w", WARM_UP, seed), None, 4)
                self.wait_for_cards(len(warm.saved_view_ids))
                http_get(self.stub_port, "/_reset", "POST")
                count = round(rate * self.args.duration)
                result = self.send(port, self.forms(f"c{seed}", count, seed), rate, self.args.connections)
                cards = self.wait_for_cards(len(result.saved_view_ids))
                stats = self.stats()
                peaks = peak_memory(app.pid)
                engine = create_engine(database_url)
                try:
                    with engine.connect() as connection:
                        rows = connection.execute(text("SELECT id, idempotency_key FROM escalations")).all()
                finally:
                    engine.dispose()
            finally:
                stop(app)
        views = {str(key).removeprefix("view:"): int(case) for case, key in rows}
        latencies = [
            1000 * (cards[views[view]] - sent_at)
            for view, sent_at in result.view_sent_at.items()
            if view in views and views[view] in cards
        ]
        acks = [1000 * latency for latency, status in zip(result.latencies, result.statuses, strict=True)]
        return RateReport(
            rate=rate,
            sent=count,
            saved=len(result.saved_view_ids),
            card_ms=sorted(latencies),
            ack_ms=sorted(a for a, status in zip(acks, result.statuses, strict=True) if status == 200),
            connections=int(stats["connections"]),
            calls=len(stats["records"]),
            peaks=peaks,
        )


def card_times(records: list[list[Any]], card_channels: set[str]) -> dict[int, float]:
    """Each case's first card accepted in a path's channel (the stand-in's clock)."""
    cards: dict[int, float] = {}
    for at, method, channel, status, thread, words, _ in records:
        if method != "chat.postMessage" or status != 200 or channel not in card_channels or thread:
            continue
        found = _REFERENCE.search(words)
        if found:
            cards.setdefault(int(found.group(1)), at)
    return cards


def table(reports: list[RateReport]) -> str:
    lines = [
        "| submissions/s | sent | saved | cards | card p50 (ms) | card p99 (ms) | card max (ms) "
        "| ack p50 (ms) | ack p99 (ms) | new connections / Web API calls, by the last card "
        "| peak RSS per process (MiB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in reports:
        lines.append(
            f"| {r.rate:g} | {r.sent:,} | {r.saved:,} | {len(r.card_ms):,} "
            f"| {percentile(r.card_ms, 0.5):.0f} | {percentile(r.card_ms, 0.99):.0f} "
            f"| {max(r.card_ms, default=float('nan')):.0f} "
            f"| {percentile(r.ack_ms, 0.5):.1f} | {percentile(r.ack_ms, 0.99):.1f} "
            f"| {r.connections:,} / {r.calls:,} | {peaks_label(r.peaks)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="sqlite", help="'sqlite' or a postgresql+psycopg:// URL")
    parser.add_argument("--rates", default="10,50", help="submissions per second, a phase for each")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of submissions per rate")
    parser.add_argument("--workers", type=int, default=2, help="ESCALATOR_WORKERS")
    parser.add_argument("--channels", type=int, default=100, help="paths, each with a channel of its own")
    parser.add_argument("--connections", type=int, default=4, help="connections to the app opened first")
    parser.add_argument(
        "--connect-cost", type=float, default=0.05, help="seconds each new connection to Slack costs"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each Web API answer takes")
    parser.add_argument(
        "--patience", type=float, default=60.0, help="seconds without a new card before giving up"
    )
    parser.add_argument("--app", type=Path, default=ROOT / "app.py", help="the app to start")
    parser.add_argument("--out", type=Path, help="also write the markdown report here")
    args = parser.parse_args()
    if args.database_url.startswith("postgresql://"):
        args.database_url = "postgresql+psycopg://" + args.database_url.split("://", 1)[1]
    command = "python bench/card_latency.py " + " ".join(sys.argv[1:])

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # still stop the app and the stand-in
    reports = []
    with tempfile.TemporaryDirectory(prefix="escalator-cards-") as scratch:
        stand = Stand(args, Path(scratch))
        try:
            for seed, rate in enumerate((float(r) for r in args.rates.split(",") if r), start=1):
                print(f"{rate:g} submissions/s…", file=sys.stderr, flush=True)
                reports.append(stand.phase(rate, seed))
                last = reports[-1]
                print(
                    f"  card p50 {percentile(last.card_ms, 0.5):.0f} ms, "
                    f"p99 {percentile(last.card_ms, 0.99):.0f} ms; {len(last.card_ms)} of {last.saved} "
                    f"cards; {last.connections} connections for {last.calls} calls",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            stand.close()
    store = "SQLite" if args.database_url == "sqlite" else "PostgreSQL"
    markdown = (
        f"```\n{command}\n```\n\nSubmission to card, {store}, {args.workers} web workers, "
        f"{args.channels} channels, "
        f"{args.duration:g} s per rate, {1000 * args.connect_cost:g} ms per new connection to Slack:\n\n"
        f"{table(reports)}\n"
    )
    print(markdown)
    if args.out:
        args.out.write_text(markdown)


if __name__ == "__main__":
    main()
