"""One lockcheck client process: ``python -m shardwise.testing.worker CONFIG.json``.

It prints ``ready`` once connected, starts its seeded schedule when it reads ``go`` on stdin, and
exits at the end of the run. It dies with its parent: the kernel kills it (Linux ``PR_SET_PDEATHSIG``)
and it exits when its stdin closes. Every event is one JSON line, flushed at once, so a paused or
killed client loses nothing it had recorded.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import mmap
import os
import random
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import redis

from shardwise.testing.counter import Counter
from shardwise.testing.history import Event
from shardwise.testing.locks import LockSetup, LockUnderTest, resolve_lock

__all__ = ["HoldPlan", "WorkerConfig", "client_rng", "next_plan"]

# What each client is doing, one byte per client in a shared file (the fault injector aims at holders).
IDLE, HOLDING, MID_WRITE = 0, 1, 2


@dataclass(frozen=True)
class WorkerConfig:
    index: int
    seed: str
    lock: str
    ttl: float
    duration: float
    lock_ports: list[int]
    counter_port: int
    events_path: str
    board_path: str
    parent_pid: int
    name: str = "lockcheck"

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> WorkerConfig:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class HoldPlan:
    """One round of a client's schedule (seconds): pause, acquire (waiting at most ``wait``),
    then for each action a delay and the gap between its read and its write, then a linger."""

    think: float
    wait: float
    actions: tuple[tuple[float, float], ...]
    linger: float


def client_rng(seed: str, client: int, ttl: float) -> random.Random:
    """The seeded random source of one client's schedule (same seed, same schedule)."""
    return random.Random(f"{seed}:client:{client}:ttl:{ttl}")


def next_plan(rng: random.Random, ttl: float) -> HoldPlan:
    """Draw one round. The number of draws does not depend on outcomes, so a seed fixes the plans."""
    think = rng.uniform(0.0, 0.05) * ttl
    wait = rng.uniform(0.5, 2.0) * ttl
    count = rng.choice((1, 1, 2))
    actions = tuple((rng.uniform(0.0, 0.05) * ttl, rng.uniform(0.0, 0.1) * ttl) for _ in range(2))[:count]
    linger = rng.uniform(0.0, 0.05) * ttl
    return HoldPlan(think, wait, actions, linger)


class Recorder:
    """Appends events to the client's JSON-lines file; safe from any thread."""

    def __init__(self, out: IO[str], client: int) -> None:
        self._out = out
        self._client = client
        self._mutex = threading.Lock()
        self._next_op = 0

    def _write(self, event: Event) -> None:
        with self._mutex:
            self._out.write(event.to_json() + "\n")
            self._out.flush()

    def invoke(self, f: str, token: int | None = None) -> int:
        with self._mutex:
            op = self._next_op
            self._next_op += 1
        self._write(Event(self._client, op, "invoke", f, time.monotonic_ns(), token=token))
        return op

    def complete(self, op: int, f: str, outcome: str, **fields: object) -> None:
        self._write(Event(self._client, op, outcome, f, time.monotonic_ns(), **fields))  # type: ignore[arg-type]

    def notice(self, source: str) -> None:
        self._write(Event(self._client, -1, "notice", "notice", time.monotonic_ns(), detail=source))


class Board:
    """This client's byte in the shared state file."""

    def __init__(self, path: str, index: int) -> None:
        self._file = open(path, "r+b")  # noqa: SIM115 - lives as long as the process
        self._map = mmap.mmap(self._file.fileno(), 0)
        self._index = index

    def set(self, state: int) -> None:
        self._map[self._index] = state


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200]


class Client:
    """The loop of one client: acquire, read-modify-write the counter while holding, release."""

    def __init__(self, config: WorkerConfig, recorder: Recorder, board: Board) -> None:
        self.config = config
        self.recorder = recorder
        self.board = board
        self.kind = resolve_lock(config.lock)
        io_timeout = max(0.05, min(1.0, config.ttl / 2))
        clients = [
            redis.Redis(
                host="127.0.0.1", port=p, socket_timeout=io_timeout, socket_connect_timeout=io_timeout
            )
            for p in config.lock_ports
        ]
        self.lock: LockUnderTest = self.kind.make(
            LockSetup(clients, config.name, config.ttl, lambda: recorder.notice("on_lost"))
        )
        counter_client = redis.Redis(host="127.0.0.1", port=config.counter_port, socket_timeout=10)
        self.counter = Counter(counter_client, config.index)
        self.counter.client.ping()

    def run(self) -> None:
        rng = client_rng(self.config.seed, self.config.index, self.config.ttl)
        deadline = time.monotonic() + self.config.duration
        while time.monotonic() < deadline:
            plan = next_plan(rng, self.config.ttl)
            time.sleep(plan.think)
            if self._acquire(plan.wait):
                self._hold(plan)

    def _acquire(self, wait: float) -> bool:
        op = self.recorder.invoke("acquire")
        try:
            acquired = self.lock.acquire(wait)
        except Exception as exc:  # unknown: it may have taken the lock on the server
            self.recorder.complete(op, "acquire", "info", detail=_describe(exc))
            time.sleep(0.01 * self.config.ttl)
            return False
        if not acquired:
            self.recorder.complete(op, "acquire", "fail")
            return False
        self.recorder.complete(op, "acquire", "ok", token=self.lock.token())
        return True

    def _hold(self, plan: HoldPlan) -> None:
        self.board.set(HOLDING)
        try:
            for delay, gap in plan.actions:
                time.sleep(delay)
                if not self.lock.still_held():
                    self.recorder.notice("check")
                    break
                if not self._increment(gap):
                    break
            time.sleep(plan.linger)
        finally:
            self.board.set(IDLE)
        self._release()

    def _increment(self, gap: float) -> bool:
        """One read-modify-write; False when the counter refused it (the holder notices)."""
        token = self.lock.token() if self.kind.fenced else 0
        token = token or 0
        op = self.recorder.invoke("incr", token=token)
        write_t: int | None = None
        value: int | None = None
        try:
            accepted, value = self.counter.read(token, op)
            if not accepted:
                self.recorder.notice("refused")
                self.recorder.complete(op, "incr", "fail", detail=f"read refused: token {token} < {value}")
                return False
            self.board.set(MID_WRITE)
            time.sleep(gap)
            write_t = time.monotonic_ns()
            accepted, highest = self.counter.write(token, op, value, value + 1)
            self.board.set(HOLDING)
            if not accepted:
                self.recorder.notice("refused")
                self.recorder.complete(
                    op, "incr", "fail", read=value, detail=f"write refused: token {token} < {highest}"
                )
                return False
            self.recorder.complete(op, "incr", "ok", read=value, wrote=value + 1, write_t=write_t)
            return True
        except Exception as exc:
            self.board.set(HOLDING)
            wrote = None if value is None or write_t is None else value + 1
            self.recorder.complete(
                op, "incr", "info", read=value, wrote=wrote, write_t=write_t, detail=_describe(exc)
            )
            return False

    def _release(self) -> None:
        op = self.recorder.invoke("release")
        try:
            released = self.lock.release()
        except Exception as exc:
            self.recorder.complete(op, "release", "info", detail=_describe(exc))
            return
        if released:
            self.recorder.complete(op, "release", "ok")
        else:
            self.recorder.notice("release")
            self.recorder.complete(op, "release", "fail", detail="the lock was no longer ours")


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL us when our parent dies (Linux); exit now if it already has."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(3)


def _exit_when_stdin_closes() -> None:
    for _ in sys.stdin:
        pass
    os._exit(3)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m shardwise.testing.worker CONFIG.json", file=sys.stderr)
        return 2
    config = WorkerConfig.load(Path(argv[0]))
    die_with_parent(config.parent_pid)
    with open(config.events_path, "a", encoding="utf-8") as out:
        client = Client(config, Recorder(out, config.index), Board(config.board_path, config.index))
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            return 3
        threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
        client.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
