"""Time to Slack's acknowledgement under load, side by side with the framework's floor.

    python bench/load.py --database-url sqlite --workers 2
    python bench/load.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test --workers 2,4

Starts a lean stand-in of the Web API (bench/api_stub.py) and a load generator (bench/loadgen.py), each
in a process of its own, then for every worker count and every rate, one after the other:

1. the floor: a bare Bolt app whose listeners only ack (bench/floor_app.py), on the very same gunicorn
   gthread configuration as the app;
2. the app: `python app.py` in HTTP mode on a fresh database, its cards posted beforehand by a warm-up
   of handoff form submissions so that claims have cards to land on.

Both get the same signed mix (slash commands, handoff form submissions, claim reactions on cards, claim
buttons; a few submissions and reactions delivered twice, as Slack retries) at each fixed rate (open
loop: times count from when each request was due) and then at full speed (closed loop, N clients on
keep-alive connections). Reported per phase: time to ack (p50, p99, max), throughput, errors (any
answer but 200, or none within the timeout), the CPU per request and the peak memory (VmHWM) of the
gunicorn master's children (its workers, and the app's delivery process where it has one), and how
busy the whole machine was meanwhile. After each app phase, once its outbox is empty,
it checks that nothing was done twice: one escalation per submitted form, one card per escalation,
at most one claim per escalation and one warm transfer per claim.

The figures are machine-dependent and noisy on a shared machine; they are not test assertions.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import yaml
from loadgen import LoadResult, LoadSpec, run_load
from slack_mix import SPECIALISTS, Card, Kind, MixSpec
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench-token"
CARD_CHANNEL = "C0123BILL"
SLACK_DEADLINE = 3.0  # seconds: Slack shows the user an error when the ack takes longer


def bench_policy(incidents: bool = True) -> str:
    """policy.example.yml without business hours or a digest (routing never depends on the hour of the
    run), its billing path owned by bench/slack_mix.py's eight specialists; without its `incident`
    section when `incidents` is off (to see what placing cases among incidents costs)."""
    policy = yaml.safe_load((ROOT / "policy.example.yml").read_text())
    policy.pop("business_hours", None)
    policy.pop("digest", None)
    if not incidents:
        policy.pop("incident", None)
    policy["paths"]["billing"]["specialists"] = list(SPECIALISTS)
    return yaml.safe_dump(policy, sort_keys=False)


@dataclass
class PhaseReport:
    server: str  # "floor" or "app"
    workers: int
    rate: float | None  # None: full speed
    result: LoadResult
    cpu_ms_per_request: float
    peak_mib: list[float]
    machine_busy: float  # share of both cores busy during the phase, all processes
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    log_problems: list[tuple[int, str]] = field(default_factory=list)  # (count, warning or error line)

    def latencies_ms(self, kind: str | None = None) -> list[float]:
        return sorted(
            latency * 1000
            for k, latency, status in zip(
                self.result.kinds, self.result.latencies, self.result.statuses, strict=True
            )
            if status == 200 and (kind is None or k == kind)
        )

    @property
    def errors(self) -> int:
        return sum(1 for status in self.result.statuses if status != 200)

    @property
    def errors_detail(self) -> str:
        """The count, and what they were: HTTP statuses, or "none" for no answer in time."""
        if not self.errors:
            return "0"
        seen = Counter(
            "none" if status == 0 else str(status) for status in self.result.statuses if status != 200
        )
        return f"{self.errors} ({', '.join(f'{status}: {n}' for status, n in seen.most_common())})"

    @property
    def late(self) -> int:
        return sum(1 for latency in self.result.latencies if latency > SLACK_DEADLINE)

    @property
    def throughput(self) -> float:
        answered = len(self.result.statuses) - self.errors
        return answered / self.result.elapsed if self.result.elapsed else 0.0


def percentile(values: list[float], share: float) -> float:
    """Nearest rank on sorted values."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, math.ceil(share * len(values)) - 1))]


# Processes: the stand-in, the server, and what the workers use.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(port: int, path: str, method: str = "GET") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def app_env(api_url: str, database_url: str, policy: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment an app under test starts with: this one's, without its Slack, Escalator and
    database settings, and the bench's instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ESCALATOR_", "DATABASE_URL"))}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=api_url,
        DATABASE_URL=database_url,
        ESCALATOR_POLICY=str(policy),
        PORT=str(port),
        **extra,
    )
    return env


def wait_until_up(port: int, process: subprocess.Popen[bytes], path: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if http_get(port, path)[0] == 200:
                return
        except OSError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{path} on port {port} did not come up; its log:\n{log.read_text()[-4000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def children(pid: int) -> list[int]:
    """Every process descending from `pid` (app.py's supervisor → web process → its workers, and the
    delivery process; the floor's gunicorn master → its workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    found, waiting = [], list(parents.get(pid, []))
    while waiting:
        child = waiting.pop()
        found.append(child)
        waiting.extend(parents.get(child, []))
    return sorted(found)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def peak_memory_mib(pids: list[int]) -> list[float]:
    peaks = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
        peaks.append(kib / 1024)
    return peaks


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@dataclass
class Database:
    """One fresh database per app phase: a SQLite file, or a PostgreSQL schema of its own."""

    base: str  # "sqlite" or a postgresql+psycopg:// URL
    folder: Path

    @contextmanager
    def fresh(self) -> Iterator[str]:
        if self.base == "sqlite":
            yield f"sqlite:///{self.folder / f'load-{uuid.uuid4().hex[:8]}.db'}"
            return
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        admin = create_engine(self.base)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in self.base else "?"
        try:
            yield f"{self.base}{separator}options=-csearch_path%3D{schema}"
        finally:
            admin.dispose()
            _retrying(lambda: _execute(admin, f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def _execute(engine: Engine, sql: str) -> int:
    with engine.begin() as connection:
        result = connection.execute(text(sql))
        return int(result.scalar() or 0) if result.returns_rows else 0


def _retrying(work: Callable[[], int], tries: int = 30) -> int:
    """The shared machine's PostgreSQL may be restarted by someone else: wait for it to come back."""
    for attempt in range(tries):
        try:
            return work()
        except OperationalError as exc:
            if attempt == tries - 1:
                raise
            print(f"  database unavailable ({type(exc.orig).__name__}); retrying", file=sys.stderr)
            time.sleep(1)
    raise AssertionError("unreachable")


class Bench:
    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args = args
        self.folder = folder
        (folder / "policy.yml").write_text(bench_policy(not args.without_incidents))
        self.database = Database(args.database_url, folder)
        self.stub_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.stub_port}/api/"
        self.response_url = f"http://127.0.0.1:{self.stub_port}/response"
        self.stub_log = folder / "stub.log"
        self.stub = subprocess.Popen(
            [sys.executable, str(BENCH / "api_stub.py"), "--port", str(self.stub_port)],
            stdout=self.stub_log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_until_up(self.stub_port, self.stub, "/_stats", self.stub_log)
        self.generator = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        self.phase_number = 0

    def close(self) -> None:
        self.generator.shutdown()
        stop(self.stub)

    def stub_stats(self) -> dict[str, Any]:
        return json.loads(http_get(self.stub_port, "/_stats")[1])

    @contextmanager
    def server(self, script: Path, workers: int, database_url: str) -> Iterator[tuple[int, int, Path]]:
        """Start `script` (app.py or the floor) under gunicorn; yield (port, master pid, its log)."""
        port = free_port()
        env = app_env(
            self.api_url, database_url, self.folder / "policy.yml", port, ESCALATOR_WORKERS=str(workers)
        )
        if self.args.threads:
            env["ESCALATOR_THREADS"] = str(self.args.threads)
        log = self.folder / f"{script.stem}-{port}.log"
        process = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=self.folder,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(port, process, "/healthz", log)
            deadline = time.monotonic() + 30
            while len(children(process.pid)) < workers and time.monotonic() < deadline:
                time.sleep(0.1)
            yield port, process.pid, log
        finally:
            stop(process)

    def load(
        self,
        port: int,
        mix: MixSpec,
        rate: float | None,
        *,
        duration: float | None,
        clients: int,
        check_saved: bool = False,
    ) -> LoadResult:
        spec = LoadSpec(
            host="127.0.0.1",
            port=port,
            secret=SIGNING_SECRET,
            response_url=self.response_url,
            mix=mix,
            rate=rate,
            clients=clients,
            duration=duration,
            timeout=self.args.timeout,
            check_saved=check_saved,
        )
        return self.generator.submit(run_load, spec).result()

    def mix(self, rate: float | None, cards: tuple[Card, ...], seed: int) -> MixSpec:
        self.phase_number += 1
        count = int((rate or self.args.full_speed_cap) * self.args.duration)
        return MixSpec(
            label=f"p{self.phase_number}",
            count=count,
            cards=cards,
            redeliver=self.args.redeliver,
            seed=seed,
        )

    def measured(
        self,
        server: str,
        workers: int,
        rate: float | None,
        port: int,
        master: int,
        mix: MixSpec,
        settle: Callable[[], None] = lambda: None,
    ) -> PhaseReport:
        """Send the phase's mix; the workers' CPU counts until `settle` returns (the app's work after
        its acks included), the machine's only while the load runs."""
        pids = children(master)
        cpu_before, (busy_before, total_before) = cpu_seconds(pids), machine_ticks()
        result = self.load(
            port,
            mix,
            rate,
            duration=None if rate else self.args.duration,
            clients=self.args.full_speed_clients if rate is None else self.args.connections,
            check_saved=server == "app",
        )
        busy_after, total_after = machine_ticks()
        settle()
        cpu_after = cpu_seconds(pids)
        return PhaseReport(
            server=server,
            workers=workers,
            rate=rate,
            result=result,
            cpu_ms_per_request=1000 * (cpu_after - cpu_before) / max(1, len(result.statuses)),
            peak_mib=peak_memory_mib(pids),
            machine_busy=(busy_after - busy_before) / max(1, total_after - total_before),
        )

    def floor_phase(self, workers: int, rate: float | None, seed: int) -> PhaseReport:
        cards = tuple(Card(i, CARD_CHANNEL, f"1764000000.{i:06d}") for i in range(1, 201))
        with self.server(BENCH / "floor_app.py", workers, "sqlite:///unused.db") as (port, master, _):
            self.load(port, MixSpec("floorwarm", 200, cards, seed=seed), None, duration=None, clients=8)
            return self.measured("floor", workers, rate, port, master, self.mix(rate, cards, seed))

    def app_phase(self, workers: int, rate: float | None, seed: int) -> PhaseReport:
        mix_size = int((rate or self.args.full_speed_cap) * self.args.duration)
        # Each card gets about two claims (one wins, the next is refused), up to --max-cards cards.
        wanted = max(20, min(self.args.max_cards, math.ceil(mix_size * 0.5 / 2)))
        with (
            self.database.fresh() as database_url,
            self.server(self.args.app, workers, database_url) as (port, master, log),
        ):
            engine = create_engine(database_url)
            try:
                http_get(self.stub_port, "/_reset", "POST")
                sent_views, saved_views = self.warm_up(port, wanted, seed)
                cards = self.cards(engine)
                mix = self.mix(rate, cards, seed)
                report = self.measured(
                    "app", workers, rate, port, master, mix, settle=lambda: self.drain(engine)
                )
                sent_views |= set(report.result.view_ids)
                saved_views |= set(report.result.saved_view_ids)
                report.checks = self.nothing_done_twice(engine, sent_views, saved_views)
                report.log_problems = log_problems(log)
                if not all(ok for _, ok, _ in report.checks):
                    kept = Path(tempfile.gettempdir()) / "escalator-load-logs" / f"{log.stem}-{workers}w.log"
                    kept.parent.mkdir(exist_ok=True)
                    kept.write_bytes(log.read_bytes())
                    print(f"  a check failed: the app's log is kept in {kept}", file=sys.stderr)
                if report.result.refused_views:
                    # A form answered "couldn't save" (a redelivery racing its first delivery, say).
                    report.checks.append(
                        ("forms answered 'not saved'", False, f"{report.result.refused_views} in the phase")
                    )
                return report
            finally:
                engine.dispose()

    def warm_up(self, port: int, cards: int, seed: int) -> tuple[set[str], set[str]]:
        """Raise the escalations whose cards the claims aim at, then every other kind once or twice."""
        views_only = {Kind.view: 1.0}
        first = self.load(
            port,
            MixSpec(f"w{seed}a", cards, (), weights=views_only, seed=seed),
            None,
            duration=None,
            clients=8,
            check_saved=True,
        )
        # A few of each kind (claims on cards numbered above the real ones: they find no card).
        spare = tuple(Card(10_000_000 + i, CARD_CHANNEL, f"1.{i}") for i in range(20))
        second = self.load(
            port,
            MixSpec(f"w{seed}b", 100, spare, seed=seed),
            None,
            duration=None,
            clients=8,
            check_saved=True,
        )
        sent = set(first.view_ids) | set(second.view_ids)
        return sent, set(first.saved_view_ids) | set(second.saved_view_ids)

    def cards(self, engine: Engine) -> tuple[Card, ...]:
        self.drain(engine)
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT id, card_channel_id, card_ts FROM escalations "
                    "WHERE card_ts IS NOT NULL ORDER BY id"
                )
            ).all()
        return tuple(Card(int(row[0]), str(row[1]), str(row[2])) for row in rows)

    def drain(self, engine: Engine, timeout: float = 300.0) -> None:
        """Wait until the outbox holds nothing left to deliver (the work after the acks is done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending = _retrying(
                lambda: _execute(engine, "SELECT count(*) FROM outbox WHERE status = 'pending'")
            )
            if not pending:
                time.sleep(0.5)  # listeners still answering after their last delivery
                return
            time.sleep(0.25)
        print(f"  warning: {pending} outbox messages still pending after {timeout:.0f} s", file=sys.stderr)

    def nothing_done_twice(
        self, engine: Engine, sent_views: set[str], saved_views: set[str]
    ) -> list[tuple[str, bool, str]]:
        stats = self.stub_stats()
        posts = stats["posts"]
        cards_posted = [ts for channel, thread, ts, _ in posts if channel == CARD_CHANNEL and not thread]
        # The warm transfer (the policy's default: in the card's thread) greets the new owner.
        intros = [thread for _, thread, _, words in posts if thread and words.startswith("Hi <@")]
        with engine.connect() as connection:

            def scalar(sql: str) -> int:
                return int(connection.execute(text(sql)).scalar() or 0)

            escalations = scalar("SELECT count(*) FROM escalations")
            keys = {
                str(r[0]).removeprefix("view:")
                for r in connection.execute(text("SELECT idempotency_key FROM escalations")).all()
            }
            card_ts = {str(r[0]) for r in connection.execute(text("SELECT card_ts FROM escalations")).all()}
            claims = scalar("SELECT count(*) FROM escalation_events WHERE action = 'claim'")
            claimed_twice = scalar(
                "SELECT count(*) FROM (SELECT escalation_id FROM escalation_events WHERE action = 'claim' "
                "GROUP BY escalation_id HAVING count(*) > 1) AS twice"
            )
            owned = scalar("SELECT count(*) FROM escalations WHERE owner_user_id IS NOT NULL")
            failed = scalar("SELECT count(*) FROM outbox WHERE status <> 'delivered'")
        return [
            (
                # Every form the app said it saved is stored, once; a submission that got no answer in
                # time may or may not have been (Slack would show the agent an error for it).
                "one escalation per submitted form",
                escalations == len(keys) and saved_views <= keys <= sent_views,
                f"{len(sent_views)} distinct forms sent, {len(saved_views)} answered saved, "
                f"{escalations} escalations ({len(saved_views - keys)} saved ones missing, "
                f"{escalations - len(keys)} twice)",
            ),
            (
                "one card per escalation",
                len(cards_posted) == len(set(cards_posted)) == escalations and set(cards_posted) == card_ts,
                f"{len(cards_posted)} cards posted to {CARD_CHANNEL}, {escalations} escalations",
            ),
            (
                "at most one claim per escalation",
                claimed_twice == 0 and owned == claims,
                f"{claims} claims, {owned} owned escalations, {claimed_twice} claimed twice",
            ),
            (
                "one warm transfer per claim",
                len(intros) == len(set(intros)) == claims,
                f"{len(intros)} introductions in {len(set(intros))} card threads for {claims} claims",
            ),
            ("outbox all delivered", failed == 0, f"{failed} messages not delivered"),
        ]


def log_problems(log: Path) -> list[tuple[int, str]]:
    """The app's warnings and errors, counted by message (numbers, ids and times taken out)."""
    seen: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        # The app's own format, then gunicorn's ("[pid] [CRITICAL] WORKER TIMEOUT (pid:…)").
        match = re.search(r" (WARNING|ERROR|CRITICAL) (\S+) \[\d+\] (.*)", line) or re.search(
            r"\[\d+\] \[(WARNING|ERROR|CRITICAL)\] ()(.*)", line
        )
        if match:
            message = re.sub(r"\d+(\.\d+)?", "N", match.group(3))[:140]
            seen[f"{match.group(1)} {match.group(2) or 'gunicorn'}: {message}"] += 1
    return [(n, message) for message, n in seen.most_common()]


# Reporting.


def rate_label(rate: float | None, clients: int) -> str:
    return f"{rate:g}/s" if rate else f"full speed ({clients} clients)"


def phase_table(reports: list[PhaseReport], clients: int) -> str:
    lines = [
        "| workers | load | server | requests | ack p50 (ms) | ack p99 (ms) | ack max (ms) "
        "| throughput (req/s) | errors | over 3 s | worker CPU per request (ms) "
        "| peak RSS per process (MiB) | machine busy |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in reports:
        ms = r.latencies_ms()
        lines.append(
            f"| {r.workers} | {rate_label(r.rate, clients)} | {r.server} | {len(r.result.statuses):,} "
            f"| {percentile(ms, 0.5):.1f} | {percentile(ms, 0.99):.1f} | {max(ms, default=float('nan')):.0f} "
            f"| {r.throughput:.0f} | {r.errors_detail} | {r.late} | {r.cpu_ms_per_request:.1f} "
            f"| {', '.join(f'{m:.0f}' for m in r.peak_mib)} | {r.machine_busy:.0%} |"
        )
    return "\n".join(lines)


def kinds_table(reports: list[PhaseReport], clients: int) -> str:
    lines = [
        "| workers | load | request | count | ack p50 (ms) | ack p99 (ms) | ack max (ms) |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in reports:
        if r.server != "app":
            continue
        for kind in Kind:
            ms = r.latencies_ms(kind.value)
            lines.append(
                f"| {r.workers} | {rate_label(r.rate, clients)} | {kind.value} | {len(ms):,} "
                f"| {percentile(ms, 0.5):.1f} | {percentile(ms, 0.99):.1f} "
                f"| {max(ms, default=float('nan')):.0f} |"
            )
    return "\n".join(lines)


def targets_table(reports: list[PhaseReport], clients: int) -> str:
    lines = ["| workers | load | target | floor | app | met |", "| ---: | --- | --- | ---: | ---: | --- |"]
    pairs: dict[tuple[int, float | None], dict[str, PhaseReport]] = {}
    for r in reports:
        pairs.setdefault((r.workers, r.rate), {})[r.server] = r
    for (workers, rate), pair in pairs.items():
        floor, app = pair.get("floor"), pair.get("app")
        if floor is None or app is None:
            continue
        label = rate_label(rate, clients)
        if rate:
            floor_p99, app_p99 = percentile(floor.latencies_ms(), 0.99), percentile(app.latencies_ms(), 0.99)
            ratio = app_p99 / floor_p99
            met = ratio <= 1.5 and app.errors == 0
            lines.append(
                f"| {workers} | {label} | p99 within 1.5× the floor's | {floor_p99:.1f} ms "
                f"| {app_p99:.1f} ms ({ratio:.2f}×) | {'yes' if met else 'no'} |"
            )
            if rate == 100:
                lines.append(
                    f"| {workers} | {label} | p99 under 300 ms | | {app_p99:.1f} ms "
                    f"| {'yes' if app_p99 < 300 and app.errors == 0 else 'no'} |"
                )
        else:
            share = app.throughput / floor.throughput if floor.throughput else float("nan")
            met = share >= 0.5 and app.errors == 0
            lines.append(
                f"| {workers} | {label} | at least half the floor's throughput "
                f"| {floor.throughput:.0f} req/s | {app.throughput:.0f} req/s ({share:.0%}) "
                f"| {'yes' if met else 'no'} |"
            )
    return "\n".join(lines)


def checks_table(reports: list[PhaseReport], clients: int) -> str:
    lines = ["| workers | load | check | result | ok |", "| ---: | --- | --- | --- | --- |"]
    for r in reports:
        for name, ok, detail in r.checks:
            lines.append(
                f"| {r.workers} | {rate_label(r.rate, clients)} | {name} | {detail} "
                f"| {'yes' if ok else 'NO'} |"
            )
    return "\n".join(lines)


def log_table(reports: list[PhaseReport], clients: int) -> str:
    lines = ["| workers | load | lines | message |", "| ---: | --- | ---: | --- |"]
    for r in reports:
        for n, message in r.log_problems[:5]:
            shown = message.replace("|", "\\|")
            lines.append(f"| {r.workers} | {rate_label(r.rate, clients)} | {n:,} | {shown} |")
    return "\n".join(lines)


def scaling_table(reports: list[PhaseReport]) -> str:
    lines = ["| workers | floor (req/s) | app (req/s) |", "| ---: | ---: | ---: |"]
    for workers in sorted({r.workers for r in reports}):
        by_server = {r.server: r for r in reports if r.workers == workers and r.rate is None}
        floor, app = by_server.get("floor"), by_server.get("app")
        lines.append(
            f"| {workers} | {floor.throughput if floor else float('nan'):.0f} "
            f"| {app.throughput if app else float('nan'):.0f} |"
        )
    return "\n".join(lines)


def report(reports: list[PhaseReport], args: argparse.Namespace, command: str) -> str:
    clients = args.full_speed_clients
    store = "SQLite" if args.database_url == "sqlite" else "PostgreSQL"
    parts = [
        f"```\n{command}\n```",
        f"Time to ack, {store}, {args.duration:g} s per phase:\n\n{phase_table(reports, clients)}",
        f"The app's time to ack by request:\n\n{kinds_table(reports, clients)}",
        f"Targets:\n\n{targets_table(reports, clients)}",
        f"Nothing done twice (after each app phase, its outbox drained):\n\n{checks_table(reports, clients)}",
    ]
    parts.append(f"The app's warnings and errors (log lines, by message):\n\n{log_table(reports, clients)}")
    if len({r.workers for r in reports}) > 1:
        parts.append(f"Full-speed throughput by worker processes:\n\n{scaling_table(reports)}")
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default="sqlite",
        help="'sqlite' (a fresh file per phase) or a postgresql+psycopg:// URL",
    )
    parser.add_argument("--rates", default="50,100,200", help="fixed rates, requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--full-speed-clients", type=int, default=32, help="0 to skip the full-speed phase")
    parser.add_argument(
        "--full-speed-cap", type=float, default=1500.0, help="sizes the full-speed mix (req/s)"
    )
    parser.add_argument("--connections", type=int, default=16, help="fixed rates: connections opened first")
    parser.add_argument("--workers", default="2", help="worker processes, e.g. 2,4: a run for each")
    parser.add_argument("--threads", type=int, default=0, help="ESCALATOR_THREADS (default: the app's own)")
    parser.add_argument(
        "--redeliver", type=float, default=0.02, help="share of submissions/reactions sent twice"
    )
    parser.add_argument("--max-cards", type=int, default=1000, help="escalations raised in each app warm-up")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a request counts as lost")
    parser.add_argument(
        "--servers", default="floor,app", help="which to run at each load: floor, app or both"
    )
    parser.add_argument(
        "--app", type=Path, default=ROOT / "app.py", help="the app to start (another checkout's)"
    )
    parser.add_argument("--keep", type=Path, help="keep the servers' logs and databases in this folder")
    parser.add_argument(
        "--without-incidents", action="store_true", help="drop the policy's incident section (detection off)"
    )
    parser.add_argument("--out", type=Path, help="also write the markdown report here")
    args = parser.parse_args()
    if args.database_url.startswith("postgresql://"):
        args.database_url = "postgresql+psycopg://" + args.database_url.split("://", 1)[1]
    rates: list[float | None] = [float(r) for r in args.rates.split(",") if r]
    if args.full_speed_clients:
        rates.append(None)
    command = "python bench/load.py " + " ".join(sys.argv[1:])

    # Stopped from outside: still stop the servers and the stand-in (the finally clauses below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    reports: list[PhaseReport] = []
    servers = [s for s in ("floor", "app") if s in args.servers.split(",")]
    with tempfile.TemporaryDirectory(prefix="escalator-load-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        bench = Bench(args, folder)
        try:
            for workers in [int(w) for w in args.workers.split(",")]:
                for seed, rate in enumerate(rates, start=1):
                    # The floor, then the app at the same load: both see the same machine conditions.
                    for server in servers:
                        label = rate_label(rate, args.full_speed_clients)
                        print(f"{workers} workers, {label}, {server}…", file=sys.stderr, flush=True)
                        phase = bench.floor_phase if server == "floor" else bench.app_phase
                        reports.append(phase(workers, rate, seed))
                        last = reports[-1]
                        ms = last.latencies_ms()
                        print(
                            f"  p50 {percentile(ms, 0.5):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, "
                            f"{last.throughput:.0f} req/s, errors {last.errors_detail}, "
                            f"generator late by {1000 * last.result.send_lag_max:.0f} ms at worst, "
                            f"{last.result.connections} connections",
                            file=sys.stderr,
                            flush=True,
                        )
        finally:
            bench.close()
    markdown = report(reports, args, command)
    print(markdown)
    if args.out:
        args.out.write_text(markdown)


if __name__ == "__main__":
    main()
