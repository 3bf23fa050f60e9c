"""One lock check: servers, proxies, client processes, faults, then the checker.

:func:`run_check` starts a counter server that no fault touches, one durable lock server per
master the lock needs (each behind a :class:`~shardwise.testing.proxy.FaultyProxy`), a sampler
that reads the lock key on every server every few milliseconds, and ``clients`` worker processes.
It injects the seeded fault schedule from the main thread for ``duration`` seconds, heals
everything, waits for the clients to finish their round, and checks the history. Whatever
happens (an error, Ctrl-C, SIGTERM), every process it started is stopped before it returns; if
this process is killed outright, the kernel kills the servers and clients it spawned (Linux).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from shardwise.testing.checker import CheckResult, check
from shardwise.testing.counter import Counter
from shardwise.testing.faults import ALL_FAULTS, DEFAULT_FAULTS, Fault, FaultRecord, Injector, schedule
from shardwise.testing.history import History, KeySample, load_events
from shardwise.testing.locks import LockKind, resolve_lock
from shardwise.testing.proxy import FaultyProxy
from shardwise.testing.servers import RedisServer, redis_server_binary
from shardwise.testing.worker import WorkerConfig

__all__ = ["RunConfig", "RunResult", "run_check"]

_READY_TIMEOUT = 60.0
LOCK_NAME = "lockcheck"


@dataclass(frozen=True)
class RunConfig:
    """What to run: the lock (a built-in name or ``module:attribute``), how many client processes,
    for how long (seconds), the lock TTL (seconds), the seed and the fault kinds."""

    lock: str = "shardwise"
    clients: int = 4
    duration: float = 20.0
    ttl: float = 1.0
    seed: str = "1"
    faults: tuple[str, ...] = DEFAULT_FAULTS
    keep_dir: Path | None = None  # keep the raw histories and logs there

    def __post_init__(self) -> None:
        if not isinstance(self.clients, int) or not 2 <= self.clients <= 64:
            raise ValueError(f"clients must be a whole number from 2 to 64, got {self.clients!r}")
        if not self.duration > 0:
            raise ValueError(f"duration must be > 0 seconds, got {self.duration!r}")
        if not 0.05 <= self.ttl <= 60:
            raise ValueError(f"ttl must be between 0.05 and 60 seconds, got {self.ttl!r}")
        unknown = [f for f in self.faults if f not in ALL_FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}: choose from {', '.join(ALL_FAULTS)}")


@dataclass
class RunResult:
    config: RunConfig
    kind: LockKind
    history: History
    result: CheckResult
    faults: list[FaultRecord] = field(default_factory=list)
    planned_faults: list[Fault] = field(default_factory=list)


class KeySampler:
    """Reads the lock key (value and PTTL) on every server, directly, every ``interval`` seconds."""

    def __init__(self, ports: list[int], key: str, interval: float = 0.005) -> None:
        self.samples: list[KeySample] = []
        self._key = key
        self._interval = interval
        self._stop = threading.Event()
        self._clients = [
            redis.Redis(
                host="127.0.0.1",
                port=p,
                socket_timeout=0.05,
                socket_connect_timeout=0.05,
                retry=Retry(NoBackoff(), 0),
            )
            for p in ports
        ]
        self._thread = threading.Thread(target=self._run, name="shardwise-lockcheck-sampler", daemon=True)

    def start(self) -> KeySampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        for client in self._clients:
            client.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for i, client in enumerate(self._clients):
                sent = time.monotonic_ns()
                try:
                    pipe = client.pipeline(transaction=True)
                    pipe.get(self._key)
                    pipe.pttl(self._key)
                    value, pttl = pipe.execute()
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                    answer: tuple[str | None, int, bool] = (text, int(pttl), True)
                except redis.RedisError:
                    answer = (None, -2, False)
                # the answer shows the key as it was at some moment no later than now
                self.samples.append(KeySample(time.monotonic_ns(), i, *answer, sent=sent))


def run_check(config: RunConfig, *, say: Callable[[str], None] | None = None) -> RunResult:
    """Run one lock check and return the history and the checker's verdict."""
    kind = resolve_lock(config.lock)
    redis_server_binary()  # fail early and clearly without redis-server
    with _terminate_as_interrupt(), contextlib.ExitStack() as stack:
        workdir = _workdir(config, stack)
        say = say or (lambda _: None)
        counter_server = _server(stack, durable=False)
        lock_servers = [_server(stack, durable=True) for _ in range(kind.servers)]
        proxies = [stack.enter_context(FaultyProxy(s.port)) for s in lock_servers]
        counter = Counter(counter_server.client(socket_timeout=10), client_id=-1)
        counter.reset()
        board = workdir / "board"
        board.write_bytes(bytes(config.clients))
        processes = _spawn_clients(
            config, stack, workdir, [p.port for p in proxies], counter_server.port, board
        )
        sampler = None
        if kind.key is not None:
            sampler = KeySampler([s.port for s in lock_servers], kind.key(LOCK_NAME))
        plan = schedule(
            config.seed,
            config.faults,
            duration=config.duration,
            ttl=config.ttl,
            clients=config.clients,
            servers=kind.servers,
        )
        say(
            f"{kind.name}: {config.clients} clients, {config.duration:g} s, ttl {config.ttl:g} s, "
            f"seed {config.seed}, {len(plan)} faults planned"
        )
        if sampler is not None:
            stack.callback(sampler.stop)
            sampler.start()
        origin = time.monotonic_ns()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            process.stdin.flush()
        injector = Injector(processes, lock_servers, proxies, str(board), origin)
        stack.callback(injector.close)
        try:
            injector.run(plan, config.duration)
        finally:
            injector.heal_all()
        _wait_for_clients(processes, config)
        if sampler is not None:
            sampler.stop()
        history = History.from_events(
            load_events(sorted(workdir.glob("client-*.jsonl"))),
            entries=counter.log(),
            final_counter=counter.value(),
            samples=[] if sampler is None else sampler.samples,
            servers=kind.servers,
            fenced=kind.fenced,
            start=origin,
        )
        history.end = max(history.end, origin)
        result = check(history, ttl_s=config.ttl)
        return RunResult(config, kind, history, result, injector.records, plan)


def _workdir(config: RunConfig, stack: contextlib.ExitStack) -> Path:
    if config.keep_dir is not None:
        path = Path(config.keep_dir) / config.lock.replace(":", "_")
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path
    temp = tempfile.TemporaryDirectory(prefix="shardwise-lockcheck-")
    stack.callback(temp.cleanup)
    return Path(temp.name)


def _server(stack: contextlib.ExitStack, *, durable: bool) -> RedisServer:
    server = RedisServer(durable=durable, die_with_parent=True)
    stack.callback(server.close)
    return server.start()


def _spawn_clients(
    config: RunConfig,
    stack: contextlib.ExitStack,
    workdir: Path,
    lock_ports: list[int],
    counter_port: int,
    board: Path,
) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    processes: list[subprocess.Popen[bytes]] = []
    stack.callback(_kill_all, processes)
    for index in range(config.clients):
        worker = WorkerConfig(
            index=index,
            seed=config.seed,
            lock=config.lock,
            ttl=config.ttl,
            duration=config.duration,
            lock_ports=lock_ports,
            counter_port=counter_port,
            events_path=str(workdir / f"client-{index}.jsonl"),
            board_path=str(board),
            parent_pid=os.getpid(),
            name=LOCK_NAME,
        )
        path = workdir / f"client-{index}.json"
        worker.dump(path)
        with open(workdir / f"client-{index}.log", "wb") as log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "shardwise.testing.worker", str(path)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env=env,
                )
            )
    _wait_ready(processes, workdir)
    return processes


def _wait_ready(processes: list[subprocess.Popen[bytes]], workdir: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT
    waiting = {p.stdout.fileno(): (i, p) for i, p in enumerate(processes) if p.stdout is not None}
    while waiting:
        remaining = deadline - time.monotonic()
        readable, _, _ = select.select(list(waiting), [], [], max(0.0, remaining))
        if not readable:
            raise RuntimeError(
                f"lockcheck clients {sorted(i for i, _ in waiting.values())} did not start in time"
            )
        for fd in readable:
            index, process = waiting.pop(fd)
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if line != b"ready":
                log = (workdir / f"client-{index}.log").read_text(errors="replace").strip()
                raise RuntimeError(f"lockcheck client {index} failed to start: {log[-1500:] or line!r}")


def _wait_for_clients(processes: list[subprocess.Popen[bytes]], config: RunConfig) -> None:
    """Let each client finish its last round; kill the ones that do not in time."""
    deadline = time.monotonic() + 4 * config.ttl + 10.0
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill(process)


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5.0)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _kill_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        _kill(process)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """In the main thread, turn SIGTERM and SIGHUP into KeyboardInterrupt so cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
