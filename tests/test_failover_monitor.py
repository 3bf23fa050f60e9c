"""Threaded Monitor against real TCP/HTTP servers and a real redis-server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from failover_servers import HttpServer, TcpServer
from failover_support import wait_for
from redis_support import RedisServer
from shardwise import (
    CallableCheck,
    Check,
    HttpCheck,
    Monitor,
    NodeEvent,
    NodeState,
    PhiAccrualDetector,
    PhiCheck,
    RedisCheck,
    TcpCheck,
    UnknownNodeError,
)

MARGIN = 0.75  # seconds of slack on every latency bound (2 shared cores)



class Recorder:
    def __init__(self) -> None:
        self.events: list[NodeEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: NodeEvent) -> None:
        with self.lock:
            self.events.append(event)

    def first(self, node: str, new: NodeState, after: int = 0) -> NodeEvent | None:
        with self.lock:
            for e in self.events[after:]:
                if e.node == node and e.new is new:
                    return e
        return None


@pytest.fixture
def tcp() -> Iterator[TcpServer]:
    server = TcpServer().start()
    yield server
    server.kill()


@pytest.fixture
def http() -> Iterator[HttpServer]:
    server = HttpServer().start()
    yield server
    server.kill()


def monitor_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("shardwise-monitor")}


def kill_and_measure(monitor: Monitor, rec: Recorder, node: str, kill: Callable[[], None]) -> float:
    assert wait_for(lambda: monitor.state(node) is NodeState.UP and monitor._nodes[node].checks >= 2, 5)
    mark = len(rec.events)
    killed_at = monitor.clock()
    kill()
    assert wait_for(lambda: rec.first(node, NodeState.DOWN, mark) is not None, 10)
    down = rec.first(node, NodeState.DOWN, mark)
    assert down is not None
    return down.at - killed_at


@pytest.mark.parametrize("kind", ["tcp", "http"])
def test_killed_node_goes_down_within_bound_and_comes_back(
    kind: str, tcp: TcpServer, http: HttpServer
) -> None:
    interval, timeout, rise, fall = 0.2, 0.3, 2, 3
    server = tcp if kind == "tcp" else http
    check: Check = TcpCheck("127.0.0.1", tcp.port) if kind == "tcp" else HttpCheck(http.url)
    rec = Recorder()
    before = monitor_threads()
    with Monitor(interval=interval, timeout=timeout, rise=rise, fall=fall) as monitor:
        monitor.add_listener(rec)
        monitor.add_node("n", check)
        took = kill_and_measure(monitor, rec, "n", server.kill)
        assert took <= fall * interval + timeout + MARGIN, took
        assert monitor.state("n") is NodeState.DOWN
        assert "3/3 checks failed" in monitor.reason("n")
        mark = len(rec.events)
        server.start()  # same port
        assert wait_for(lambda: rec.first("n", NodeState.UP, mark) is not None, 10)
        path = [(e.old, e.new) for e in rec.events]
        assert path[-2:] == [(NodeState.DOWN, NodeState.RECOVERING), (NodeState.RECOVERING, NodeState.UP)]
        assert f"{rise}/{rise} checks passed" in rec.events[-1].reason
    assert monitor_threads() - before == set()  # nothing leaked


def test_http_status_outside_expected_range_is_unhealthy(http: HttpServer) -> None:
    rec = Recorder()
    with Monitor(interval=0.1, timeout=0.5, rise=1, fall=1) as monitor:
        monitor.add_listener(rec)
        monitor.add_node("web", HttpCheck(http.url, expected=range(200, 300)))
        assert wait_for(lambda: monitor._nodes["web"].checks >= 1, 5)
        http.status = 503
        assert wait_for(lambda: monitor.state("web") is NodeState.DOWN, 5)
        assert "HTTP 503" in monitor.reason("web")
        http.status = 204
        assert wait_for(lambda: monitor.state("web") is NodeState.UP, 5)


def test_no_flapping_when_latency_jitters_below_timeout() -> None:
    server = HttpServer(delay=(0.0, 0.12)).start()  # timeout 0.4: jitter well below it
    try:
        rec = Recorder()
        with Monitor(interval=0.1, timeout=0.4, rise=2, fall=3) as monitor:
            monitor.add_listener(rec)
            monitor.add_node("web", HttpCheck(server.url))
            time.sleep(2.5)
            checks = monitor._nodes["web"].checks
        assert checks >= 8
        assert rec.events == [], rec.events
    finally:
        server.kill()


def test_hung_callable_times_out_and_async_callable_works() -> None:
    release = threading.Event()
    healthy = {"ok": True}

    async def async_probe() -> tuple[bool, str]:
        await asyncio.sleep(0.01)
        return healthy["ok"], "async says so"

    with Monitor(interval=0.1, timeout=0.2, rise=1, fall=2) as monitor:
        monitor.add_node("hung", CallableCheck(lambda: release.wait(5)))
        monitor.add_node("async", CallableCheck(async_probe))
        assert wait_for(lambda: monitor.state("hung") is NodeState.DOWN, 5)
        assert "timed out" in monitor.reason("hung")
        assert monitor.state("async") is NodeState.UP
        healthy["ok"] = False
        assert wait_for(lambda: monitor.state("async") is NodeState.DOWN, 5)
        assert "async says so" in monitor.reason("async")
        release.set()


def test_redis_check_detects_paused_server(redis_server: RedisServer) -> None:
    rec = Recorder()
    with Monitor(interval=0.1, timeout=0.2, rise=2, fall=2) as monitor:
        monitor.add_listener(rec)
        monitor.add_node("r", RedisCheck(redis_server.client()))
        took = kill_and_measure(monitor, rec, "r", redis_server.pause)
        assert took <= 2 * 0.1 + 0.2 + 0.25 + MARGIN
        redis_server.resume()
        assert wait_for(lambda: monitor.state("r") is NodeState.UP, 5)


def test_phi_check_turns_heartbeats_into_states() -> None:
    detector = PhiAccrualDetector(first_heartbeat_estimate=0.05)
    beating = threading.Event()
    beating.set()
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            if beating.is_set():
                detector.heartbeat("w")
            time.sleep(0.05)

    beater = threading.Thread(target=beat)
    beater.start()
    try:
        with Monitor(interval=0.05, timeout=0.1, rise=1, fall=1) as monitor:
            monitor.add_node("w", PhiCheck(detector, "w"))
            time.sleep(0.5)
            assert monitor.state("w") is NodeState.UP
            beating.clear()
            assert wait_for(lambda: monitor.state("w") is NodeState.DOWN, 5)
            assert "phi=" in monitor.reason("w")
            beating.set()
            assert wait_for(lambda: monitor.state("w") is NodeState.UP, 5)
    finally:
        stop.set()
        beater.join(5)


def test_event_stream_iterates_and_ends_on_stop(tcp: TcpServer) -> None:
    monitor = Monitor(interval=0.1, timeout=0.2, rise=1, fall=1)
    stream = monitor.events()
    monitor.add_node("t", TcpCheck("127.0.0.1", tcp.port))
    got: list[NodeEvent] = []
    reader = threading.Thread(target=lambda: got.extend(stream))
    reader.start()
    with monitor:
        tcp.kill()
        assert wait_for(lambda: monitor.state("t") is NodeState.DOWN, 5)
    reader.join(5)
    assert not reader.is_alive()
    assert [(e.node, e.new) for e in got] == [("t", NodeState.DOWN)]


class RecordingBalancer:
    """Test double for attach plumbing only: records mark_down/mark_up calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.down: set[str] = set()

    def mark_down(self, name: str) -> None:
        self.calls.append(("down", name))
        self.down.add(name)

    def mark_up(self, name: str) -> None:
        self.calls.append(("up", name))
        self.down.discard(name)


class RecordingPlacement:
    """Test double for attach plumbing only: remove_node/add_node with weights."""

    def __init__(self, weights: dict[str, float]) -> None:
        self.weights = dict(weights)
        self.calls: list[tuple[object, ...]] = []

    def remove_node(self, name: str) -> None:
        self.calls.append(("remove", name))
        del self.weights[name]

    def add_node(self, name: str, weight: float = 1.0) -> None:
        self.calls.append(("add", name, weight))
        self.weights[name] = weight


def test_attach_plumbing_marks_down_and_restores_with_weight() -> None:
    healthy = {"a": True, "b": True}
    monitor = Monitor(interval=0.05, timeout=0.2, rise=1, fall=1)
    monitor.add_node("a", CallableCheck(lambda: healthy["a"]))
    monitor.add_node("b", CallableCheck(lambda: healthy["b"]), initial="down")
    balancer, placement = RecordingBalancer(), RecordingPlacement({"a": 2.5, "b": 1.0})
    assert monitor.attach(balancer) is balancer
    monitor.attach(placement)
    # attach applies the current states at once: b starts down
    assert balancer.calls == [("down", "b")] and placement.calls == [("remove", "b")]
    with monitor:
        assert wait_for(lambda: balancer.calls[-1:] == [("up", "b")], 5)
        healthy["a"] = False
        assert wait_for(lambda: ("down", "a") in balancer.calls, 5)
        assert wait_for(lambda: ("remove", "a") in placement.calls, 5)
        healthy["a"] = True
        assert wait_for(lambda: ("add", "a", 2.5) in placement.calls, 5)
    assert ("add", "b", 1.0) in placement.calls
    assert placement.weights == {"a": 2.5, "b": 1.0}
    with pytest.raises(TypeError, match="cannot attach"):
        monitor.attach(object())


def test_api_errors_and_lifecycle() -> None:
    monitor = Monitor()
    with pytest.raises(TypeError, match="Check"):
        monitor.add_node("x", lambda: True)  # type: ignore[arg-type]
    monitor.add_node("x", CallableCheck(lambda: True))
    with pytest.raises(ValueError, match="already"):
        monitor.add_node("x", CallableCheck(lambda: True))
    with pytest.raises(ValueError, match="interval"):
        monitor.add_node("y", CallableCheck(lambda: True), interval=0)
    with pytest.raises(UnknownNodeError):
        monitor.state("nope")
    monitor.check_now()
    assert monitor.states() == {"x": NodeState.UP}
    monitor.start()
    with pytest.raises(RuntimeError):
        monitor.start()
    monitor.stop()
    monitor.stop()  # idempotent
    monitor.remove_node("x")
    assert monitor.nodes == []
