"""The pieces lockcheck is built from: redis-server processes, the fault proxy, seeded schedules,
and cleanup (nothing may outlive a run, even one that is interrupted or killed)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from itertools import pairwise
from pathlib import Path

import pytest
import redis
from shardwise.testing import FaultyProxy, LockKind, RedisServer, RunConfig
from shardwise.testing.faults import ALL_FAULTS, DEFAULT_FAULTS, parse_faults, schedule
from shardwise.testing.locks import resolve_lock
from shardwise.testing.worker import client_rng, next_plan

pytestmark = pytest.mark.redis


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def wait_until(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


# --- servers -----------------------------------------------------------------------------------


def test_durable_server_keeps_acknowledged_writes_across_kill_9_and_wipe_forgets_them() -> None:
    with RedisServer(durable=True) as server:
        client = server.client(socket_timeout=5)
        client.set("fence", 41)
        client.incr("fence")
        server.kill()
        server.restart()
        assert server.client(socket_timeout=5).get("fence") == b"42"
        server.kill()
        server.wipe()
        server.restart()
        assert server.client(socket_timeout=5).get("fence") is None


def test_paused_server_stops_answering_and_stop_is_bounded() -> None:
    server = RedisServer().start()
    try:
        server.pause()
        with pytest.raises(redis.TimeoutError):
            server.client(socket_timeout=0.2, retry=None).ping()
        server.resume()
        assert server.client(socket_timeout=2).ping()
        server.pause()
        start = time.monotonic()
        server.stop()  # paused: stop resumes it, then terminates
        assert time.monotonic() - start < 5
        assert not server.running()
    finally:
        server.close()


def test_wipe_refuses_a_running_server() -> None:
    with RedisServer() as server, pytest.raises(RuntimeError, match="before wiping"):
        server.wipe()


def test_server_dies_with_its_parent_when_asked() -> None:
    code = textwrap.dedent(
        """
        import sys, time
        from shardwise.testing import RedisServer
        server = RedisServer(die_with_parent=True).start()
        print(server.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert alive(pid)
        parent.kill()  # no cleanup code runs in the parent
        parent.wait(10)
        assert wait_until(lambda: not alive(pid), 10), f"redis-server {pid} outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()


# --- proxy -------------------------------------------------------------------------------------


def test_proxy_forwards_and_adds_latency() -> None:
    with RedisServer() as server, FaultyProxy(server.port) as proxy:
        client = redis.Redis(port=proxy.port, socket_timeout=5)
        assert client.ping()
        proxy.set_latency(0.1)
        start = time.monotonic()
        client.ping()
        assert time.monotonic() - start >= 0.19  # 0.1 s each way
        proxy.heal()
        start = time.monotonic()
        client.ping()
        assert time.monotonic() - start < 0.1


def test_proxy_drop_resets_connections_and_new_ones_work() -> None:
    with RedisServer() as server, FaultyProxy(server.port) as proxy:
        conn = redis.Connection(port=proxy.port, socket_timeout=5)
        conn.connect()
        conn.send_command("PING")
        assert conn.read_response() in (b"PONG", "PONG")
        proxy.drop()
        with pytest.raises(redis.ConnectionError):
            conn.send_command("PING")
            conn.read_response()
        assert redis.Redis(port=proxy.port, socket_timeout=5).ping()


def test_blackhole_holds_commands_back_and_delivers_them_late() -> None:
    with RedisServer() as server, FaultyProxy(server.port) as proxy:
        client = redis.Redis(port=proxy.port, socket_timeout=0.3, retry=None)
        client.ping()
        proxy.blackhole()
        with pytest.raises(redis.TimeoutError):
            client.incr("late")  # sent, never answered
        direct = server.client(socket_timeout=5)
        assert direct.get("late") is None  # not delivered yet
        proxy.heal()
        assert wait_until(lambda: direct.get("late") == b"1", 5), "the held-back INCR never arrived"


def test_proxy_forgets_connections_once_both_sides_closed() -> None:
    with RedisServer() as server, FaultyProxy(server.port) as proxy:
        clients = [redis.Redis(port=proxy.port, socket_timeout=5) for _ in range(3)]
        for client in clients:
            client.ping()
        assert proxy.connections == 3
        for client in clients:
            client.close()
        assert wait_until(lambda: proxy.connections == 0, 5), proxy.connections


def test_proxy_rejects_a_bad_port() -> None:
    with pytest.raises(ValueError, match="target_port"):
        FaultyProxy(0)


# --- schedules ---------------------------------------------------------------------------------


def test_same_seed_same_schedule_other_seed_other_schedule() -> None:
    args = {"duration": 30.0, "ttl": 0.5, "clients": 4, "servers": 5}
    first = schedule("7", DEFAULT_FAULTS, **args)  # type: ignore[arg-type]
    assert first == schedule("7", DEFAULT_FAULTS, **args)  # type: ignore[arg-type]
    assert first != schedule("8", DEFAULT_FAULTS, **args)  # type: ignore[arg-type]
    assert {f.kind for f in first} <= set(DEFAULT_FAULTS)
    for seed in map(str, range(50)):
        faults = schedule(seed, DEFAULT_FAULTS, **args)  # type: ignore[arg-type]
        assert faults and all(f.at + f.duration <= 30.0 for f in faults)  # healed within the run
        assert all(b.at >= a.at + a.duration for a, b in pairwise(faults))  # one at a time
    assert schedule("7", (), **args) == []  # type: ignore[arg-type]


def test_client_plans_depend_on_the_seed_only() -> None:
    def plans(seed: str) -> list[object]:
        rng = client_rng(seed, 2, 0.5)
        return [next_plan(rng, 0.5) for _ in range(50)]

    assert plans("a") == plans("a") and plans("a") != plans("b")


def test_parse_faults() -> None:
    assert parse_faults("default") == DEFAULT_FAULTS
    assert parse_faults("all") == ALL_FAULTS and "wipe-server" in ALL_FAULTS
    assert parse_faults("none") == ()
    assert parse_faults("drop, latency") == ("drop", "latency")
    assert parse_faults("+wipe-server") == (*DEFAULT_FAULTS, "wipe-server")
    with pytest.raises(ValueError, match="unknown fault 'flood'"):
        parse_faults("drop,flood")


def test_run_config_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="unknown faults"):
        RunConfig(faults=("flood",))
    with pytest.raises(ValueError, match="clients must be"):
        RunConfig(clients=1)
    with pytest.raises(ValueError, match="duration must be"):
        RunConfig(duration=0)


def test_lock_kind_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="servers must be"):
        LockKind("mine", lambda setup: None, servers=0)  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="make must be callable"):
        LockKind("mine", None)  # type: ignore[arg-type]


def test_resolve_lock_names_what_is_wrong() -> None:
    assert resolve_lock("redlock").servers == 5
    with pytest.raises(ValueError, match="unknown lock 'mutex'"):
        resolve_lock("mutex")
    with pytest.raises(ValueError, match="cannot import"):
        resolve_lock("no_such_module_xyz:LOCK")
    with pytest.raises(ValueError, match=r"not a shardwise\.testing\.LockKind"):
        resolve_lock("lockcheck_locks:NOT_A_KIND")


# --- nothing outlives a run --------------------------------------------------------------------

RUNNER = textwrap.dedent(
    """
    from shardwise.testing import RunConfig, run_check
    config = RunConfig(lock="redlock", clients=3, duration=60, ttl=0.5, faults=())
    run_check(config, say=lambda m: print(m, flush=True))
    """
)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_an_interrupted_or_killed_run_leaves_no_process_behind(how: int) -> None:
    runner = subprocess.Popen([sys.executable, "-c", RUNNER], stdout=subprocess.PIPE, text=True)
    try:
        assert runner.stdout is not None
        assert "clients" in runner.stdout.readline()  # servers up, clients ready, faults about to start
        spawned = descendants(runner.pid)
        assert len(spawned) >= 5 + 1 + 3, spawned  # five lock servers, the counter server, three clients
        runner.send_signal(how)
        runner.wait(20)
        assert wait_until(lambda: not any(alive(pid) for pid in spawned), 15), [
            pid for pid in spawned if alive(pid)
        ]
    finally:
        if runner.poll() is None:
            runner.kill()
