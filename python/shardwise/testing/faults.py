"""Seeded fault schedules and the injector that applies them.

The schedule (which fault, when, for how long, on which client or server) is drawn from the seed
before the run starts, so the same seed gives the same schedule. Two things are resolved while
running: a client pause aimed at "the holder" pauses whichever client holds the lock (preferably
between its read and its write) when the fault comes due, and everything's timing follows the
machine. Faults come one at a time, with a quiet gap between them, and every fault is healed
before the next (and at the end, even on Ctrl-C).

Kinds (times are fractions or multiples of the lock TTL):

- ``pause-client``: SIGSTOP a client, then SIGCONT (a GC pause), often longer than the TTL;
- ``pause-server``: SIGSTOP a lock server, then SIGCONT;
- ``kill-server``: kill -9 a lock server, restart it later from its append-only file (fsync always);
- ``wipe-server``: kill -9, restart it *empty* (no persistence): lock keys and fencing counters are
  forgotten. Not in the default set: no Redis lock keeps its promises across it (see the docs);
- ``client-pause``: ``CLIENT PAUSE`` (ALL or WRITE) on a lock server;
- ``latency``: the proxy in front of a server delays every chunk;
- ``drop``: the proxy resets every connection to a server;
- ``blackhole``: the proxy holds back all traffic to and from a server, then delivers it late.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

from shardwise.testing.proxy import FaultyProxy
from shardwise.testing.servers import RedisServer

__all__ = ["ALL_FAULTS", "DEFAULT_FAULTS", "Fault", "FaultRecord", "Injector", "parse_faults", "schedule"]

ALL_FAULTS = (
    "pause-client",
    "pause-server",
    "kill-server",
    "wipe-server",
    "client-pause",
    "latency",
    "drop",
    "blackhole",
)
DEFAULT_FAULTS = tuple(f for f in ALL_FAULTS if f != "wipe-server")
_WEIGHTS = {"pause-client": 4, "pause-server": 1, "kill-server": 1, "wipe-server": 1, "client-pause": 1,
            "latency": 1, "drop": 1, "blackhole": 1}  # fmt: skip


@dataclass(frozen=True)
class Fault:
    """One planned fault: at ``at`` seconds after the start, for ``duration`` seconds."""

    at: float
    kind: str
    target: int  # client index for pause-client, else server index
    duration: float
    holder: bool = False  # pause-client: aim at the current holder
    amount: float = 0.0  # latency: seconds added to each chunk
    mode: str = ""  # client-pause: ALL or WRITE


@dataclass(frozen=True)
class FaultRecord:
    """A fault as it happened (seconds since the start of the run)."""

    kind: str
    target: str
    start: float
    end: float
    detail: str = ""


def parse_faults(text: str) -> tuple[str, ...]:
    """``all``, ``none``, ``default`` or a comma list of kinds; ``+kind`` adds to the default set."""
    text = text.strip()
    if text in ("all", "none", "default"):
        return {"all": ALL_FAULTS, "none": (), "default": DEFAULT_FAULTS}[text]
    items = [item.strip() for item in text.split(",") if item.strip()]
    chosen = list(DEFAULT_FAULTS) if items and all(i.startswith("+") for i in items) else []
    for item in items:
        name = item.lstrip("+")
        if name not in ALL_FAULTS:
            raise ValueError(f"unknown fault {name!r}: choose from {', '.join(ALL_FAULTS)}, all, none")
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


def schedule(
    seed: str, kinds: Sequence[str], *, duration: float, ttl: float, clients: int, servers: int
) -> list[Fault]:
    """The faults of a run, drawn from ``seed`` alone."""
    rng = random.Random(f"{seed}:faults:{','.join(kinds)}:{duration}:{ttl}:{clients}:{servers}")
    faults: list[Fault] = []
    if not kinds:
        return faults
    weights = [_WEIGHTS[k] for k in kinds]
    at = rng.uniform(0.3, 0.8) * ttl
    while True:
        kind = rng.choices(list(kinds), weights)[0]
        fault = _draw(rng, kind, at, ttl, clients, servers)
        if fault.at + fault.duration > duration:  # every fault ends (and is healed) within the run
            return faults
        faults.append(fault)
        at += fault.duration + rng.uniform(0.5, 1.5) * ttl


def _draw(rng: random.Random, kind: str, at: float, ttl: float, clients: int, servers: int) -> Fault:
    server = rng.randrange(servers)
    if kind == "pause-client":
        long = rng.random() < 0.6
        duration = rng.uniform(1.5, 3.0) * ttl if long else rng.uniform(0.1, 0.8) * ttl
        return Fault(at, kind, rng.randrange(clients), duration, holder=rng.random() < 0.75)
    if kind == "latency":
        return Fault(at, kind, server, rng.uniform(0.5, 2.0) * ttl, amount=rng.uniform(0.05, 0.5) * ttl)
    if kind == "client-pause":
        return Fault(at, kind, server, rng.uniform(0.3, 2.0) * ttl, mode=rng.choice(("ALL", "WRITE")))
    if kind == "drop":
        return Fault(at, kind, server, 0.0)
    if kind in ("kill-server", "wipe-server"):
        return Fault(at, kind, server, rng.uniform(0.3, 1.5) * ttl)
    return Fault(at, kind, server, rng.uniform(0.3, 2.0) * ttl)  # pause-server, blackhole


class Injector:
    """Applies faults to the run's clients, servers and proxies, and heals them."""

    def __init__(
        self,
        clients: Sequence[subprocess.Popen[bytes]],
        servers: Sequence[RedisServer],
        proxies: Sequence[FaultyProxy],
        board_path: str,
        origin_ns: int,
    ) -> None:
        self.clients = list(clients)
        self.servers = list(servers)
        self.proxies = list(proxies)
        self.origin_ns = origin_ns
        self.records: list[FaultRecord] = []
        self._board_file = open(board_path, "rb")  # noqa: SIM115 - closed by close()
        self._board = mmap.mmap(self._board_file.fileno(), 0, access=mmap.ACCESS_READ)

    def close(self) -> None:
        self._board.close()
        self._board_file.close()

    def now(self) -> float:
        return (time.monotonic_ns() - self.origin_ns) / 1e9

    def run(self, faults: Sequence[Fault], until: float) -> None:
        """Apply ``faults`` in order until ``until`` seconds after the origin."""
        for fault in faults:
            if not self._sleep_until(fault.at, until):
                break
            self.apply(fault, until)
        self._sleep_until(until, until)

    def _sleep_until(self, at: float, until: float) -> bool:
        delay = min(at, until) - self.now()
        if delay > 0:
            time.sleep(delay)
        return self.now() < until

    def apply(self, fault: Fault, until: float) -> None:
        """Inject ``fault``, hold it for its duration (cut at ``until``), heal it, record it."""
        target, heal = self._inject(fault)
        start = self.now()
        try:
            if fault.duration > 0:
                time.sleep(max(0.0, min(start + fault.duration, until) - self.now()))
        finally:
            detail = heal()
            self.records.append(
                FaultRecord(fault.kind, target, round(start, 3), round(self.now(), 3), detail)
            )

    def _inject(self, fault: Fault) -> tuple[str, Callable[[], str]]:
        if fault.kind == "pause-client":
            index = self._holder(fault.target) if fault.holder else fault.target
            process = self.clients[index]
            _signal(process, signal.SIGSTOP)
            return f"client {index}", _then(lambda: _signal(process, signal.SIGCONT))
        server = self.servers[fault.target]
        proxy = self.proxies[fault.target]
        name = f"server {fault.target}"
        if fault.kind == "pause-server":
            server.pause()
            return name, _then(server.resume)
        if fault.kind in ("kill-server", "wipe-server"):
            server.kill()
            return name, lambda: self._restart(fault.target, wipe=fault.kind == "wipe-server")
        if fault.kind == "client-pause":
            admin = server.client(socket_timeout=2.0, socket_connect_timeout=2.0)
            _client_pause(admin, max(1, round(fault.duration * 1000)), fault.mode)
            return name, lambda: _unpause(admin, fault.mode)
        if fault.kind == "latency":
            proxy.set_latency(fault.amount)
            return name, _then(proxy.heal, f"{fault.amount * 1000:.0f} ms")
        if fault.kind == "drop":
            proxy.drop()
            return name, lambda: ""
        if fault.kind == "blackhole":
            proxy.blackhole()
            return name, _then(proxy.heal)
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    def _holder(self, preferred: int, patience: float = 0.5) -> int:
        """The client between its read and its write, else one holding the lock, else ``preferred``;
        waits up to ``patience`` seconds for one. Clients are scanned from ``preferred`` on."""
        order = [(preferred + i) % len(self.clients) for i in range(len(self.clients))]
        deadline = time.monotonic() + patience
        fallback = None
        while True:
            for index in order:
                if self._board[index] == 2:
                    return index
                if fallback is None and self._board[index] == 1:
                    fallback = index
            if fallback is not None and time.monotonic() >= deadline - patience / 2:
                return fallback
            if time.monotonic() >= deadline:
                return preferred
            time.sleep(0.001)

    def _restart(self, index: int, *, wipe: bool) -> str:
        server = self.servers[index]
        server.stop()
        if wipe:
            server.wipe()
        server.start(port=server.port)
        return "restarted empty" if wipe else "restarted from its append-only file"

    def heal_all(self) -> None:
        """Undo anything still in effect: resume clients and servers, restart dead servers, heal proxies."""
        for process in self.clients:
            _signal(process, signal.SIGCONT)
        for i, server in enumerate(self.servers):
            server.resume()
            if not server.running():
                self._restart(i, wipe=False)
            with _quiet():
                _unpause(server.client(socket_timeout=1.0, socket_connect_timeout=1.0), "ALL")
        for proxy in self.proxies:
            with _quiet():
                proxy.heal()


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    if process.poll() is None:
        with _quiet():
            os.kill(process.pid, signum)


def _then(action: Callable[[], None], detail: str = "") -> Callable[[], str]:
    """A heal step: run ``action``, then describe what was done."""

    def heal() -> str:
        action()
        return detail

    return heal


def _client_pause(admin: redis.Redis, ms: int, mode: str) -> None:
    admin.execute_command("CLIENT", "PAUSE", ms, mode)  # type: ignore[no-untyped-call]


def _unpause(admin: redis.Redis, mode: str) -> str:
    with _quiet():
        admin.execute_command("CLIENT", "UNPAUSE")  # type: ignore[no-untyped-call]
    admin.close()
    return mode


def _quiet() -> contextlib.suppress:
    """Suppress the errors of a best-effort cleanup call."""
    return contextlib.suppress(Exception)
