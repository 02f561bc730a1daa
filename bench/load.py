"""Time to Slack's acknowledgement under load, side by side with the framework's floor.

    python bench/load.py --database-url sqlite --workers 2
    python bench/load.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test --workers 2,4
    python bench/load.py --escalate-only-clients 8,32 --rates '' --full-speed-clients 0

Starts a lean stand-in of the Web API (bench/api_stub.py) and a load generator (bench/loadgen.py), each
in a process of its own, then for every worker count and every load, one after the other:

1. the floors: a bare Bolt app whose listeners only ack, and whose `/escalate` acks and then opens a
   one-field modal, on the very same gunicorn gthread configuration as the app (bench/floor_app.py),
   and the same as Bolt's AsyncApp on uvicorn with as many workers (bench/floor_asgi.py);
2. the app: `python app.py` in HTTP mode on a fresh database, its cards posted beforehand by a warm-up
   of handoff form submissions so that claims have cards to land on.

With `--escalate-only-clients 8,32`, each also gets `/escalate` commands alone, in a closed loop of that
many clients on keep-alive connections: time to ack and throughput of opening the form, against the
floors' (bench/load_report.py takes the better floor for each figure), and a check that every command
answered had its `views.open` reach the stand-in.

All get the same signed mix (slash commands, handoff form submissions, claim reactions on cards, claim
buttons; a few submissions and reactions delivered twice, as Slack retries; the forms go to
`--card-channels` billing paths in turn, each with its channel, since the app keeps to Slack's one post
a second per channel) at each fixed rate (open loop: times count from when each request was due) and
then at full speed (closed loop, N clients on keep-alive connections). Reported per phase: time to ack
(p50, p99, max), throughput, errors (any answer but 200, or none within the timeout), the CPU per
request of the server's processes, the peak memory (VmHWM) of each of them by role (the app's
supervisor, web master, web workers and delivery process; a floor's master and workers), and how busy
the whole machine was meanwhile. After each app phase, once its outbox is empty, it checks that
nothing was done twice: one escalation per submitted form, one card per escalation, at most one claim
per escalation and one warm transfer per claim.

The figures are machine-dependent and noisy on a shared machine; they are not test assertions.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
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
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import yaml
from load_report import ESCALATE, FLOORS, MIX, PhaseReport, load_label, report, summary_line
from loadgen import LoadResult, LoadSpec, run_load
from procs import children, peak_memory, worker_pids
from slack_mix import SPECIALISTS, Card, Kind, MixSpec
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench-token"
CARD_CHANNEL = "C0123BILL"
FLOOR_SCRIPTS = {"floor-gthread": BENCH / "floor_app.py", "floor-uvicorn": BENCH / "floor_asgi.py"}
ONLY_COMMANDS = {Kind.command: 1.0}


def card_paths(count: int) -> dict[str, str]:
    """The billing paths the mix's forms take in turn, and their channels: "billing" (C0123BILL), then
    "billing2" (C0123BILL02) and on. The app keeps to Slack's one post a second per channel, so cards
    spread over `count` channels drain `count` times as fast after a warm-up of a thousand."""
    return {"billing": CARD_CHANNEL} | {f"billing{n}": f"{CARD_CHANNEL}{n:02d}" for n in range(2, count + 1)}


def bench_policy(incidents: bool = True, card_channels: int = 1) -> str:
    """policy.example.yml without business hours or a digest (routing never depends on the hour of the
    run), its billing paths (`card_paths`) owned by bench/slack_mix.py's eight specialists; without its
    `incident` section when `incidents` is off (to see what placing cases among incidents costs)."""
    policy = yaml.safe_load((ROOT / "policy.example.yml").read_text())
    policy.pop("business_hours", None)
    policy.pop("digest", None)
    if not incidents:
        policy.pop("incident", None)
    billing = policy["paths"]["billing"]
    billing["specialists"] = list(SPECIALISTS)
    for n, (key, channel) in enumerate(card_paths(card_channels).items(), start=1):
        if key != "billing":  # no keywords: what the text suggests stays the one billing path
            path = {"label": f"Billing {n}", "channel": channel, "specialists": list(SPECIALISTS)}
            policy["paths"][key] = path
    return yaml.safe_dump(policy, sort_keys=False)


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


def start_server(
    script: Path, folder: Path, env: dict[str, str], port: int, workers: int, log: Path
) -> subprocess.Popen[bytes]:
    """Start `script` (app.py or a floor) logging to `log`; return once it answers `/healthz` and its
    `workers` are up."""
    process = subprocess.Popen(
        [sys.executable, str(script)], cwd=folder, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    try:
        wait_until_up(port, process, "/healthz", log)
        deadline = time.monotonic() + 30
        while len(worker_pids(process.pid)) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
    except BaseException:
        stop(process)
        raise
    return process


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


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


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


@dataclass(frozen=True)
class Phase:
    """One server at one load."""

    server: str  # "floor-gthread", "floor-uvicorn" or "app"
    workers: int
    load: str  # MIX or ESCALATE
    rate: float | None  # None: a closed loop of `clients`
    clients: int
    seed: int


class Bench:
    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args = args
        self.folder = folder
        (folder / "policy.yml").write_text(bench_policy(not args.without_incidents, args.card_channels))
        self.card_paths = card_paths(args.card_channels)
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
        """Start `script` (app.py or a floor); yield (port, its pid, its log) once its workers are up."""
        port = free_port()
        env = app_env(
            self.api_url, database_url, self.folder / "policy.yml", port, ESCALATOR_WORKERS=str(workers)
        )
        if self.args.threads:
            env["ESCALATOR_THREADS"] = str(self.args.threads)
        log = self.folder / f"{script.stem}-{port}.log"
        process = start_server(script, self.folder, env, port, workers, log)
        try:
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

    def mix(self, load: str, rate: float | None, cards: tuple[Card, ...], seed: int) -> MixSpec:
        self.phase_number += 1
        count = int((rate or self.args.full_speed_cap) * self.args.duration)
        if load == ESCALATE:
            return MixSpec(f"p{self.phase_number}", count, (), weights=ONLY_COMMANDS, seed=seed)
        return MixSpec(
            label=f"p{self.phase_number}",
            count=count,
            cards=cards,
            redeliver=self.args.redeliver,
            seed=seed,
            paths=tuple(self.card_paths),
        )

    def measured(
        self,
        phase: Phase,
        port: int,
        root: int,
        mix: MixSpec,
        settle: Callable[[LoadResult], None] = lambda _: None,
    ) -> PhaseReport:
        """Send the phase's mix; the server's CPU counts until `settle` returns (the app's work after
        its acks included), the machine's only while the load runs."""
        pids = [root, *children(root)]
        cpu_before, (busy_before, total_before) = cpu_seconds(pids), machine_ticks()
        result = self.load(
            port,
            mix,
            phase.rate,
            duration=None if phase.rate else self.args.duration,
            clients=phase.clients,
            check_saved=phase.server == "app",
        )
        busy_after, total_after = machine_ticks()
        settle(result)
        cpu_after = cpu_seconds(pids)
        return PhaseReport(
            server=phase.server,
            workers=phase.workers,
            load=phase.load,
            rate=phase.rate,
            clients=phase.clients,
            result=result,
            cpu_ms_per_request=1000 * (cpu_after - cpu_before) / max(1, len(result.statuses)),
            peaks=peak_memory(root),
            machine_busy=(busy_after - busy_before) / max(1, total_after - total_before),
        )

    def run(self, phase: Phase) -> PhaseReport:
        if phase.server != "app":
            return self.floor_phase(phase)
        return self.app_phase(phase) if phase.load == MIX else self.app_escalate_phase(phase)

    def floor_phase(self, phase: Phase) -> PhaseReport:
        cards = tuple(Card(i, CARD_CHANNEL, f"1764000000.{i:06d}") for i in range(1, 201))
        script = FLOOR_SCRIPTS[phase.server]
        with self.server(script, phase.workers, "sqlite:///unused.db") as (port, root, _):
            http_get(self.stub_port, "/_reset", "POST")
            warm = MixSpec("floorwarm", 200, cards, seed=phase.seed)
            self.wait_for_forms(self.load(port, warm, None, duration=None, clients=8))
            http_get(self.stub_port, "/_reset", "POST")
            mix = self.mix(phase.load, phase.rate, cards, phase.seed)
            if phase.load == MIX:
                return self.measured(phase, port, root, mix)
            report = self.measured(phase, port, root, mix, settle=self.wait_for_forms)
            report.checks = [self.forms_opened(report.result)]
            return report

    def app_escalate_phase(self, phase: Phase) -> PhaseReport:
        """`/escalate` alone: the app on a fresh database, warmed up by a few hundred commands."""
        with (
            self.database.fresh() as database_url,
            self.server(self.args.app, phase.workers, database_url) as (port, root, log),
        ):
            http_get(self.stub_port, "/_reset", "POST")
            warm = MixSpec(f"w{phase.seed}e", 200, (), weights=ONLY_COMMANDS, seed=phase.seed)
            self.wait_for_forms(self.load(port, warm, None, duration=None, clients=8))
            http_get(self.stub_port, "/_reset", "POST")
            mix = self.mix(ESCALATE, None, (), phase.seed)
            report = self.measured(phase, port, root, mix, settle=self.wait_for_forms)
            report.checks = [self.forms_opened(report.result)]
            report.log_problems = log_problems(log)
            return report

    def wait_for_forms(self, result: LoadResult, timeout: float = 60.0) -> None:
        """Until every command answered has had its form opened (views.open runs after the ack)."""
        wanted = commands_answered(result)
        deadline = time.monotonic() + timeout
        while self.stub_stats()["calls"].get("views.open", 0) < wanted and time.monotonic() < deadline:
            time.sleep(0.2)

    def forms_opened(self, result: LoadResult) -> tuple[str, bool, str]:
        answered = commands_answered(result)
        opened = self.stub_stats()["calls"].get("views.open", 0)
        return ("a form opened per command", opened == answered, f"{answered} acked, {opened} views.open")

    def app_phase(self, phase: Phase) -> PhaseReport:
        rate, workers, seed = phase.rate, phase.workers, phase.seed
        mix_size = int((rate or self.args.full_speed_cap) * self.args.duration)
        # Each card gets about two claims (one wins, the next is refused), up to --max-cards cards.
        wanted = max(20, min(self.args.max_cards, math.ceil(mix_size * 0.5 / 2)))
        with (
            self.database.fresh() as database_url,
            self.server(self.args.app, workers, database_url) as (port, root, log),
        ):
            engine = create_engine(database_url)
            try:
                http_get(self.stub_port, "/_reset", "POST")
                sent_views, saved_views = self.warm_up(port, wanted, seed)
                cards = self.cards(engine)
                mix = self.mix(MIX, rate, cards, seed)
                report = self.measured(phase, port, root, mix, settle=lambda _: self.drain(engine))
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
            MixSpec(f"w{seed}a", cards, (), weights=views_only, seed=seed, paths=tuple(self.card_paths)),
            None,
            duration=None,
            clients=8,
            check_saved=True,
        )
        # A few of each kind (claims on cards numbered above the real ones: they find no card).
        spare = tuple(Card(10_000_000 + i, CARD_CHANNEL, f"1.{i}") for i in range(20))
        second = self.load(
            port,
            MixSpec(f"w{seed}b", 100, spare, seed=seed, paths=tuple(self.card_paths)),
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

    def drain(self, engine: Engine) -> None:
        """Wait until the outbox holds nothing left to deliver (the work after the acks is done)."""
        timeout = self.args.drain_timeout
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
        channels = set(self.card_paths.values())
        cards_posted = [ts for channel, thread, ts, _ in posts if channel in channels and not thread]
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
                f"{len(cards_posted)} cards posted in {len(channels)} channels, {escalations} escalations",
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


def commands_answered(result: LoadResult) -> int:
    return sum(
        1
        for kind, status in zip(result.kinds, result.statuses, strict=True)
        if status == 200 and kind == Kind.command.value
    )


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


def servers(asked: str) -> list[str]:
    """The floors first, then the app, at each load: all see the same machine conditions."""
    names = {name for part in asked.split(",") for name in (FLOORS if part == "floor" else (part,))}
    if "floor-uvicorn" in names and importlib.util.find_spec("uvicorn") is None:
        print("uvicorn is not installed: no uvicorn floor (pip install uvicorn aiohttp)", file=sys.stderr)
        names.discard("floor-uvicorn")
    return [name for name in (*FLOORS, "app") if name in names]


def phases(args: argparse.Namespace) -> Iterator[Phase]:
    """For each worker count: `/escalate` alone at each client count, then the mix at each rate and
    at full speed."""
    loads: list[tuple[str, float | None, int]] = [
        (ESCALATE, None, int(c)) for c in args.escalate_only_clients.split(",") if c
    ]
    loads += [(MIX, float(r), args.connections) for r in args.rates.split(",") if r]
    if args.full_speed_clients:
        loads.append((MIX, None, args.full_speed_clients))
    for workers in [int(w) for w in args.workers.split(",")]:
        for seed, (load, rate, clients) in enumerate(loads, start=1):
            for server in servers(args.servers):
                yield Phase(server, workers, load, rate, clients, seed)


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
    parser.add_argument(
        "--card-channels", type=int, default=50, help="billing paths, a channel each, the forms go to"
    )
    parser.add_argument("--max-cards", type=int, default=1000, help="escalations raised in each app warm-up")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=900.0,
        help="seconds to wait for the app's outbox to empty (it keeps to Slack's paces)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a request counts as lost")
    parser.add_argument(
        "--escalate-only-clients",
        default="",
        help="closed loops of /escalate alone, e.g. 8,32 clients (none by default)",
    )
    parser.add_argument(
        "--servers",
        default="floor,app",
        help="which to run at each load: floor-gthread, floor-uvicorn, app; 'floor' for both floors",
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
    command = "python bench/load.py " + " ".join(sys.argv[1:])

    # Stopped from outside: still stop the servers and the stand-in (the finally clauses below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    reports: list[PhaseReport] = []
    with tempfile.TemporaryDirectory(prefix="escalator-load-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        bench = Bench(args, folder)
        try:
            for phase in phases(args):
                print(
                    f"{phase.workers} workers, {load_label(phase.load, phase.rate, phase.clients)}, "
                    f"{phase.server}…",
                    file=sys.stderr,
                    flush=True,
                )
                reports.append(bench.run(phase))
                print(f"  {summary_line(reports[-1])}", file=sys.stderr, flush=True)
        finally:
            bench.close()
    markdown = report(reports, args, command)
    print(markdown)
    if args.out:
        args.out.write_text(markdown)


if __name__ == "__main__":
    main()
