"""A server's process tree as the benchmarks see it: which process is which, and each one's peak memory.

`python app.py` is a supervisor → `escalator web` (gunicorn's master → its workers) and `escalator
deliver`; a floor is gunicorn's master → workers, or uvicorn's parent → workers (and multiprocessing's
resource tracker). Peaks are VmHWM: the most resident memory since the process started, so a phase run
on a fresh server reports that phase's peak, its warm-up included.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The order a report lists them in: the processes that do the work first.
ROLES = ("web worker", "worker", "deliverer", "web master", "supervisor", "master", "resource tracker")


@dataclass(frozen=True)
class ProcessPeak:
    role: str
    pid: int
    mib: float


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def children(pid: int) -> list[int]:
    """Every process descending from `pid` (app.py's supervisor → web process → its workers, and the
    delivery process; the floor's gunicorn master → its workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents.setdefault(parent_of(int(entry.name)), []).append(int(entry.name))
            except OSError:
                continue
    found, waiting = [], list(parents.get(pid, []))
    while waiting:
        child = waiting.pop()
        found.append(child)
        waiting.extend(parents.get(child, []))
    return sorted(found)


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def role(pid: int, root: int) -> str:
    command = command_line(pid)
    if "resource_tracker" in command:
        return "resource tracker"
    if "escalator deliver" in command:
        return "deliverer"
    if "escalator web" in command:
        return "web worker" if "escalator web" in command_line(parent_of(pid)) else "web master"
    if pid == root:
        return "supervisor" if any(Path(part).name == "app.py" for part in command.split()) else "master"
    return "worker"


def worker_pids(root: int) -> list[int]:
    """The processes that answer requests: web workers (the app) or workers (a floor)."""
    return [pid for pid in children(root) if role(pid, root) in ("web worker", "worker")]


def peak_memory(root: int) -> list[ProcessPeak]:
    """Each process's VmHWM, the root's included, in ROLES order."""
    peaks = []
    for pid in [root, *children(root)]:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            kind = role(pid, root)
        except OSError:
            continue  # gone meanwhile
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
        peaks.append(ProcessPeak(kind, pid, kib / 1024))
    return sorted(peaks, key=lambda p: (ROLES.index(p.role), p.pid))


def peaks_label(peaks: list[ProcessPeak]) -> str:
    """ "web worker 112, web worker 113, deliverer 120, …" (MiB)."""
    return ", ".join(f"{p.role} {p.mib:.0f}" for p in peaks)
