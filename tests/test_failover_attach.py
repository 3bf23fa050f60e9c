"""Attached placements and balancers stop returning a dead node and return it after recovery.

Uses the real shardwise classes when this build has them (placement ``HashRing``, a selection
balancer with ``mark_down``/``mark_up``); the recording doubles of test_failover_monitor.py only
cover the attach plumbing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import shardwise
from failover_servers import TcpServer
from failover_support import wait_for
from shardwise import Monitor, NodeState, TcpCheck

NAMES = ("a", "b", "c")



@pytest.fixture
def servers() -> Iterator[dict[str, TcpServer]]:
    started = {name: TcpServer().start() for name in NAMES}
    yield started
    for server in started.values():
        server.kill()


def monitor_for(servers: dict[str, TcpServer]) -> Monitor:
    monitor = Monitor(interval=0.1, timeout=0.3, rise=2, fall=2)
    for name, server in servers.items():
        monitor.add_node(name, TcpCheck("127.0.0.1", server.port))
    return monitor


class Picker(threading.Thread):
    """Picks continuously from another thread; records what it got after a given moment."""

    def __init__(self, pick: Callable[[int], str]) -> None:
        super().__init__(daemon=True)
        self.pick = pick
        self.stop = threading.Event()
        self.picked: list[tuple[float, str]] = []
        self.errors: list[BaseException] = []

    def run(self) -> None:
        i = 0
        while not self.stop.is_set() and i < 2_000_000:
            try:
                self.picked.append((time.monotonic(), self.pick(i)))
            except BaseException as error:  # pragma: no cover - reported by the test
                self.errors.append(error)
                return
            i += 1
            if i % 64 == 0:
                time.sleep(0.001)


def test_attached_ring_drops_dead_node_and_restores_it(servers: dict[str, TcpServer]) -> None:
    ring: Any = shardwise.HashRing({"a": 1.0, "b": 2.0, "c": 1.0})
    keys = np.arange(20_000, dtype=np.uint64)
    before = [ring.nodes[i] for i in ring.place(keys)]
    assert "b" in before
    monitor = monitor_for(servers)
    monitor.attach(ring)
    down_at: list[float] = []
    monitor.add_listener(lambda e: down_at.append(time.monotonic()) if e.new is NodeState.DOWN else None)
    picker = Picker(lambda i: ring.get_node(i))
    with monitor:
        picker.start()
        servers["b"].kill()
        assert wait_for(lambda: "b" not in ring.nodes, 5)
        during = [ring.nodes[i] for i in ring.place(keys)]
        assert "b" not in during
        # keys of the live nodes did not move (consistent hashing), b's keys went elsewhere
        assert all(x == y for x, y in zip(before, during, strict=True) if x != "b")
        time.sleep(0.2)
        restart_at = time.monotonic()
        servers["b"].start()
        assert wait_for(lambda: "b" in ring.nodes, 5)
        picker.stop.set()
        picker.join(5)
    assert not picker.errors
    assert ring.weights == {"a": 1.0, "b": 2.0, "c": 1.0}
    assert [ring.nodes[i] for i in ring.place(keys)] == before  # same placement as before the failure
    assert down_at and monitor.state("b") is NodeState.UP
    # picks from another thread: b before the failure; never b once removed, until it came back
    assert any(n == "b" for t, n in picker.picked if t < down_at[0])
    window = [n for t, n in picker.picked if down_at[0] + 0.01 < t < restart_at]
    assert len(window) > 100 and "b" not in window


def _balancer() -> Any:
    return shardwise.RoundRobin(list(NAMES))


def test_attached_balancer_stops_picking_dead_node(servers: dict[str, TcpServer]) -> None:
    balancer = _balancer()
    monitor = monitor_for(servers)
    monitor.attach(balancer)
    down_at: list[float] = []
    monitor.add_listener(lambda e: down_at.append(time.monotonic()) if e.new is NodeState.DOWN else None)
    picker = Picker(lambda i: str(balancer.pick()))
    with monitor:
        picker.start()
        time.sleep(0.1)
        servers["c"].kill()
        assert wait_for(lambda: monitor.state("c") is NodeState.DOWN, 5)
        picks = {str(balancer.pick()) for _ in range(300)}
        assert "c" not in picks and picks == {"a", "b"}
        time.sleep(0.2)
        restart_at = time.monotonic()
        servers["c"].start()
        assert wait_for(lambda: monitor.state("c") is NodeState.UP, 5)
        picks = {str(balancer.pick()) for _ in range(300)}
        assert "c" in picks
        picker.stop.set()
        picker.join(5)
    assert not picker.errors
    assert any(n == "c" for t, n in picker.picked if t < down_at[0])
    window = [n for t, n in picker.picked if down_at[0] + 0.01 < t < restart_at]
    assert len(window) > 100 and "c" not in window
