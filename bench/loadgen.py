"""The load generator for `bench/load.py`: keep-alive HTTP/1.1 connections on one asyncio loop, run in a
process of its own so that it shares no interpreter lock with the stand-in or the server.

Two ways to send:

- open loop at a fixed rate: request i is due at start + i/rate and goes out then, on an idle
  connection or a new one, whether or not earlier ones have been answered. Its time to ack counts from
  when it was due, so a server (or a generator) that falls behind shows it in the figures instead of
  hiding it (no coordinated omission);
- closed loop ("full speed"): N clients, each on its own connection, send the next request as soon as
  the previous one is answered; its time to ack counts from when it was sent.

Every request is built and signed before the clock starts, so the timed part only writes bytes and
reads answers.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field

from slack_mix import MixSpec, Prepared, SlackShapes, build_mix, sign_all

IDLE_LIMIT = 4.0  # seconds; gunicorn closes a keep-alive connection idle for 5
MAX_CONNECTIONS = 512  # open loop: more requests in flight than this wait for a connection


@dataclass(frozen=True)
class LoadSpec:
    host: str
    port: int
    secret: str
    response_url: str
    mix: MixSpec
    rate: float | None  # requests per second; None: closed loop with `clients` clients
    clients: int = 32  # open loop: connections opened before the start (more open as needed)
    duration: float | None = None  # closed loop: stop sending after this; None: send the whole mix
    timeout: float = 10.0
    check_saved: bool = False  # the app answers a saved handoff form with response_action "update"


@dataclass
class LoadResult:
    kinds: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds, to the end of the answer
    statuses: list[int] = field(default_factory=list)  # 0: no answer (timeout, connection lost)
    refused_views: int = 0  # view submissions answered 200 but without "update" (not saved)
    view_ids: list[str] = field(default_factory=list)  # the submissions sent
    saved_view_ids: list[str] = field(default_factory=list)  # those the app answered "saved"
    # Each submission's first send: when it was due (open loop) or sent, by the wall clock (time.time()).
    view_sent_at: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0  # from the first send to the last answer
    send_lag_max: float = 0.0  # open loop: how late the generator itself was, at worst
    connections: int = 0


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.reusable = True
        self.last_used = time.monotonic()

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer)

    async def exchange(self, raw: bytes) -> tuple[int, bytes]:
        self._writer.write(raw)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.strip().lower() == b"close":
                self.reusable = False
        body = await self._read_chunked() if chunked else await self._reader.readexactly(length)
        self.last_used = time.monotonic()
        return status, body

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    def close(self) -> None:
        self.reusable = False
        self._writer.close()


class _Recorder:
    def __init__(self, check_saved: bool) -> None:
        self.result = LoadResult()
        self._check_saved = check_saved

    def record(self, request: Prepared, latency: float, status: int, body: bytes, sent_at: float) -> None:
        self.result.kinds.append(request.kind.value)
        self.result.latencies.append(latency)
        self.result.statuses.append(status)
        if request.view_id is not None:
            self.result.view_ids.append(request.view_id)
            first = self.result.view_sent_at.get(request.view_id, sent_at)
            self.result.view_sent_at[request.view_id] = min(first, sent_at)
            if self._check_saved and status == 200:
                if b'"update"' in body:
                    self.result.saved_view_ids.append(request.view_id)
                else:
                    self.result.refused_views += 1


async def _send(connection: Connection, request: Prepared, timeout: float) -> tuple[int, bytes]:
    try:
        return await asyncio.wait_for(connection.exchange(request.raw), timeout)
    except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        connection.close()
        return 0, b""


class _Pool:
    """Keep-alive connections for the open loop: reuse an idle one, else open one, up to a cap."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self._host, self._port, self._limit = host, port, limit
        self._idle: deque[Connection] = deque()
        self._open = 0
        self._returned = asyncio.Condition()
        self.most_open = 0

    async def take(self) -> Connection:
        async with self._returned:
            while True:
                while self._idle:
                    # The one idle longest: requests take turns on the connections, which gunicorn's
                    # workers accepted between them, so every worker gets its share.
                    candidate = self._idle.popleft()
                    if time.monotonic() - candidate.last_used < IDLE_LIMIT:
                        return candidate
                    self._discard(candidate)
                if self._open < self._limit:
                    break
                await self._returned.wait()
            self._open += 1
            self.most_open = max(self.most_open, self._open)
        try:
            return await Connection.open(self._host, self._port)
        except BaseException:  # refused, or the caller gave up waiting
            async with self._returned:
                self._open -= 1
                self._returned.notify()
            raise

    async def give_back(self, connection: Connection) -> None:
        async with self._returned:
            if connection.reusable:
                self._idle.append(connection)
            else:
                self._discard(connection)
            self._returned.notify()

    def _discard(self, connection: Connection) -> None:
        connection.close()
        self._open -= 1

    async def open_some(self, count: int) -> None:
        """Connections ready before the clock starts, as a busy sender such as Slack keeps."""
        for _ in range(count):
            self._idle.append(await Connection.open(self._host, self._port))
        self._open += count
        self.most_open = max(self.most_open, self._open)

    def close(self) -> None:
        while self._idle:
            self._discard(self._idle.popleft())


async def open_loop(
    host: str,
    port: int,
    requests: list[Prepared],
    rate: float,
    connections: int,
    timeout: float,
    check_saved: bool,
) -> LoadResult:
    loop = asyncio.get_running_loop()
    wall = time.time() - loop.time()  # loop time + wall: the wall clock, to set beside the stand-in's
    recorder = _Recorder(check_saved)
    pool = _Pool(host, port, MAX_CONNECTIONS)
    await pool.open_some(connections)

    async def one(request: Prepared, due: float) -> None:
        # A request waiting for a connection is already late: its time counts from when it was due.
        try:
            connection = await asyncio.wait_for(pool.take(), timeout)
        except (TimeoutError, OSError):
            recorder.record(request, loop.time() - due, 0, b"", wall + due)
            return
        status, body = await _send(connection, request, timeout)
        recorder.record(request, loop.time() - due, status, body, wall + due)
        await pool.give_back(connection)

    tasks = []
    start = loop.time() + 0.05
    lag = 0.0
    for i, request in enumerate(requests):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lag = max(lag, loop.time() - due)
        tasks.append(asyncio.create_task(one(request, due)))
    await asyncio.gather(*tasks)
    recorder.result.elapsed = loop.time() - start
    recorder.result.send_lag_max = lag
    recorder.result.connections = pool.most_open
    pool.close()
    return recorder.result


async def closed_loop(
    host: str,
    port: int,
    requests: list[Prepared],
    clients: int,
    duration: float | None,
    timeout: float,
    check_saved: bool,
) -> LoadResult:
    loop = asyncio.get_running_loop()
    wall = time.time() - loop.time()
    recorder = _Recorder(check_saved)
    next_index = itertools.count()
    start = loop.time()
    stop = start + duration if duration is not None else float("inf")
    last_answer = start

    async def client() -> None:
        nonlocal last_answer
        connection: Connection | None = None
        while loop.time() < stop:
            i = next(next_index)
            if i >= len(requests):
                break
            if connection is None or not connection.reusable:
                try:
                    connection = await asyncio.wait_for(Connection.open(host, port), timeout)
                except (TimeoutError, OSError):
                    recorder.record(requests[i], 0.0, 0, b"", wall + loop.time())
                    connection = None
                    await asyncio.sleep(0.01)
                    continue
            sent = loop.time()
            status, body = await _send(connection, requests[i], timeout)
            last_answer = loop.time()
            recorder.record(requests[i], last_answer - sent, status, body, wall + sent)
        if connection is not None:
            connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    recorder.result.elapsed = last_answer - start
    recorder.result.connections = clients
    return recorder.result


def run_load(spec: LoadSpec) -> LoadResult:
    """Build and sign the mix, then send it. Runs in the generator process."""
    mix = build_mix(spec.mix, SlackShapes(spec.response_url))
    requests = sign_all(mix, spec.secret, f"{spec.host}:{spec.port}")
    if spec.rate is not None:
        run = open_loop(
            spec.host, spec.port, requests, spec.rate, spec.clients, spec.timeout, spec.check_saved
        )
    else:
        run = closed_loop(
            spec.host, spec.port, requests, spec.clients, spec.duration, spec.timeout, spec.check_saved
        )
    return asyncio.run(run)
