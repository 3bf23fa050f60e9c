"""Several monitor processes, one actor: election via the shardwise Redis lock, fenced actions."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from failover_support import wait_for
from redis_support import RedisServer
from shardwise import ActionFence, Coordinator, FencingTokenError, NodeState

ACTOR = Path(__file__).with_name("failover_actor.py")
TTL, INTERVAL = 1.5, 0.2
FAST_SYNC = ["--repl-diskless-sync-delay", "0"]



class Actor:
    def __init__(self, ident: str, coord: RedisServer, data: list[RedisServer], name: str) -> None:
        self.ident = ident
        self.proc = subprocess.Popen(
            [sys.executable, str(ACTOR), "--id", ident, "--coord", str(coord.port),
             "--ports", ",".join(str(s.port) for s in data), "--name", name,
             "--ttl", str(TTL), "--interval", str(INTERVAL)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ),
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def expect(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line.startswith(prefix):
                return line
        raise AssertionError(f"{self.ident}: no line starting with {prefix!r} within {timeout} s")

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def cluster(redis_factory: Callable[..., RedisServer]) -> Iterator[tuple[RedisServer, list[RedisServer]]]:
    coord = redis_factory()
    data = [redis_factory(extra_args=FAST_SYNC) for _ in range(3)]
    for replica in data[1:]:
        replica.client().execute_command("REPLICAOF", "127.0.0.1", data[0].port)
    assert wait_for(
        lambda: all(r.client().info("replication").get("master_link_status") == "up" for r in data[1:]), 10
    )
    yield coord, data


@pytest.fixture
def actors() -> Iterator[list[Actor]]:
    started: list[Actor] = []
    yield started
    for actor in started:
        actor.close()


def ask(actor: Actor, command: str) -> str:
    actor.send(command)
    return actor.expect(command.split()[0], 5)


def entries(client: redis.Redis, key: str) -> list[list[str]]:
    return [e.decode().split() for e in client.lrange(key, 0, -1)]


def role(server: RedisServer) -> str:
    return str(server.client(socket_timeout=1).info("replication")["role"])


def test_leader_killed_new_leader_takes_over_without_repeating_promotions(
    cluster: tuple[RedisServer, list[RedisServer]], actors: list[Actor]
) -> None:
    coord, data = cluster
    client = coord.client()
    prefix = "shardwise:failover:t1"
    for ident in ("a", "b", "c"):
        actors.append(Actor(ident, coord, data, "t1"))
    for actor in actors:
        actor.expect("ready", 20)
    assert wait_for(lambda: len(entries(client, f"{prefix}:leaders")) >= 1, 10)
    leader_id, first_token, _ = entries(client, f"{prefix}:leaders")[0]
    by_id = {a.ident: a for a in actors}

    data[0].kill()  # primary r1 dies: exactly one promotion, by the leader
    assert wait_for(lambda: len(entries(client, f"{prefix}:executed")) == 1, 10)
    executed = entries(client, f"{prefix}:executed")
    assert executed[0][0] == leader_id and executed[0][1] == first_token
    promoted = executed[0][2].split(">")[1]
    assert promoted in ("r2", "r3")
    assert role(data[int(promoted[1]) - 1]) == "master"
    assert wait_for(lambda: client.hget(f"{prefix}:states", "r1") is not None, 5)  # published
    # the other processes did not promote, but their group now points at the new primary too
    expected = f"primary {promoted} {data[int(promoted[1]) - 1].port}"
    for follower in (a for a in actors if a.ident != leader_id):
        assert wait_for(lambda f=follower: ask(f, "primary") == expected, 5), ask(follower, "primary")

    killed_at = time.monotonic()
    by_id[leader_id].close()  # the leader process dies
    assert wait_for(lambda: len(entries(client, f"{prefix}:leaders")) >= 2, TTL + INTERVAL + 3)
    took = time.monotonic() - killed_at
    assert took <= TTL + INTERVAL + 1.5, took
    new_id, new_token, _ = entries(client, f"{prefix}:leaders")[1]
    assert new_id != leader_id and int(new_token) > int(first_token)

    time.sleep(1.0)  # the new leader starts from the shared state: no second promotion
    assert len(entries(client, f"{prefix}:executed")) == 1

    # the new leader does act on a new failure: kill the promoted primary
    data[int(promoted[1]) - 1].kill()
    assert wait_for(lambda: len(entries(client, f"{prefix}:executed")) == 2, 10)
    second = entries(client, f"{prefix}:executed")[1]
    last = "r3" if promoted == "r2" else "r2"
    assert second[0] == new_id and second[2] == f"{promoted}>{last}"
    time.sleep(0.5)
    transitions = [e[2] for e in entries(client, f"{prefix}:executed")]
    assert len(transitions) == len(set(transitions)) == 2
    assert role(data[int(last[1]) - 1]) == "master"


def test_paused_old_leader_late_action_is_rejected_by_its_stale_token(
    cluster: tuple[RedisServer, list[RedisServer]], actors: list[Actor]
) -> None:
    coord, data = cluster
    client = coord.client()
    prefix = "shardwise:failover:t2"
    old = Actor("old", coord, data, "t2")
    actors.append(old)
    old.expect("ready", 20)
    assert wait_for(lambda: len(entries(client, f"{prefix}:leaders")) == 1, 10)
    _, old_token, _ = entries(client, f"{prefix}:leaders")[0]

    os.kill(old.proc.pid, signal.SIGSTOP)  # the leader freezes (GC pause, VM stall...)
    new = Actor("new", coord, data, "t2")
    actors.append(new)
    new.expect("ready", 20)
    assert wait_for(lambda: len(entries(client, f"{prefix}:leaders")) == 2, TTL + INTERVAL + 3)
    new_id, new_token, _ = entries(client, f"{prefix}:leaders")[1]
    assert new_id == "new" and int(new_token) > int(old_token)

    data[0].kill()
    assert wait_for(lambda: len(entries(client, f"{prefix}:executed")) == 1, 10)
    assert entries(client, f"{prefix}:executed")[0][0] == "new"

    os.kill(old.proc.pid, signal.SIGCONT)
    old.send(f"act r3 {old_token}")  # the old leader wakes up and acts with its stale token
    line = old.expect("rejected", 10)
    assert "FencingTokenError" in line
    time.sleep(0.5)
    assert len(entries(client, f"{prefix}:executed")) == 1  # nothing executed by the old leader


def test_fence_and_coordinator_in_process(redis_server: RedisServer) -> None:
    client = redis_server.client(socket_timeout=1)
    fence = ActionFence(client, "f")
    fence.admit(3)
    fence.admit(3)
    fence.admit(5)
    with pytest.raises(FencingTokenError, match="stale"):
        fence.admit(4)
    assert fence.highest == 5

    first = Coordinator(client, "inproc", ttl=1.0, retry_interval=0.1, identity="first").start()
    second = Coordinator(client, "inproc", ttl=1.0, retry_interval=0.1, identity="second")
    try:
        assert first.wait_leader(5)
        seen: list[tuple[str, NodeState]] = []
        second.add_state_listener(lambda e: seen.append((e.node, e.new)))
        second.start()
        assert not second.wait_leader(0.5)
        token = first.token
        assert token is not None
        assert first.claim_promotion(token, "g", "a", "b")
        assert first.shared_primary("g") is None  # claimed, not done yet
        assert first.confirm_promotion(token, "g", "a", "b") == 1
        assert not first.claim_promotion(token, "g", "a", "c")  # primary already moved to b
        assert first.shared_epoch("g") == ("b", 1)
        from shardwise import NodeEvent

        first.handle_node_event(NodeEvent("x", NodeState.UP, NodeState.DOWN, 0.0, "test"))
        assert wait_for(lambda: seen == [("x", NodeState.DOWN)], 5)
        assert second.shared_states() == {"x": NodeState.DOWN}
        first.stop()
        assert second.wait_leader(5)
        assert second.token is not None and second.token > token
        with pytest.raises(FencingTokenError):
            first.claim_promotion(token, "g", "b", "c")
    finally:
        first.stop()
        second.stop()
