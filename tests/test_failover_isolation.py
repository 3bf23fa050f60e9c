"""Checks that overrun or hang: a late result never counts, a hung check costs only its own node,
and stop() returns within its timeout. Real sockets (TCP, HTTP, a server that trickles bytes)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from failover_servers import HttpServer, TcpServer, TrickleHttpServer
from failover_support import wait_for
from shardwise import (
    AsyncMonitor,
    CallableCheck,
    Check,
    HealthTracker,
    HttpCheck,
    Monitor,
    NodeEvent,
    NodeState,
    TcpCheck,
)
from shardwise.failover._checks import CheckResult
from shardwise.failover._rounds import CheckRounds, NodeConfig

U, S, D = NodeState.UP, NodeState.SUSPECT, NodeState.DOWN



class Hung:
    """A check body that never returns until the test ends; counts how often it was entered."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0
        self.entered = threading.Event()

    def __call__(self) -> bool:
        self.calls += 1
        self.entered.set()
        self.release.wait()
        return True


@pytest.fixture
def hung() -> Iterator[Hung]:
    body = Hung()
    yield body
    body.release.set()


@pytest.fixture
def healthy_servers() -> Iterator[tuple[TcpServer, HttpServer]]:
    tcp, http = TcpServer().start(), HttpServer().start()
    yield tcp, http
    tcp.kill()
    http.kill()


def healthy_checks(tcp: TcpServer, http: HttpServer, count: int = 10) -> dict[str, Check]:
    return {
        f"ok{i}": TcpCheck("127.0.0.1", tcp.port) if i % 2 else HttpCheck(http.url) for i in range(count)
    }


# --- the pure schedule ------------------------------------------------------------------------


def rounds(timeout: float = 1.0, interval: float = 2.0, fall: int = 2) -> CheckRounds:
    config = NodeConfig(interval=interval, fast_interval=interval, timeout=timeout, rise=1, fall=fall)
    return CheckRounds(HealthTracker("n", rise=1, fall=fall), config, 0.0)


def test_late_result_is_discarded_and_no_second_check_runs_meanwhile() -> None:
    r = rounds(timeout=1.0, interval=2.0)  # deadline = start + 1.25
    first = r.poll(0.0)
    assert first.start == 1 and first.wake_at == 1.25
    assert r.poll(1.0).start is None  # still within its deadline
    timed_out = r.poll(1.25)
    assert timed_out.event is not None and timed_out.event.new is S
    assert "timed out after 1 s" in timed_out.event.reason
    assert r.finished(1, CheckResult(True, "late", 1.4), 1.4) == (False, None)  # late: discarded
    assert r.tracker.state is S and r.checks == 1
    nxt = r.poll(2.0)
    assert nxt.start == 2
    counted, event = r.finished(2, CheckResult(True, "ok", 0.1), 2.1)
    assert counted and event is not None and (event.old, event.new) == (S, U)
    assert r.poll(2.1).wake_at == 4.0  # the next round: one interval after this one opened


def test_hung_check_fails_each_round_without_starting_another() -> None:
    r = rounds(timeout=1.0, interval=2.0, fall=3)
    assert r.poll(0.0).start == 1
    states = []
    for now in (1.25, 2.0, 3.25, 4.0, 5.25):
        poll = r.poll(now)
        assert poll.start is None  # check 1 never returned: nothing else starts
        states.append(r.tracker.state)
    assert states == [S, S, S, S, D]  # one failure per round: at 1.25, 3.25 and 5.25
    assert "still running after 5.2 s" in r.tracker.reason
    assert r.finished(1, CheckResult(True, "finally", 6.0), 6.0) == (False, None)
    poll = r.poll(6.0)  # the round opened at 6.0 may now start its check
    assert poll.start == 2


# --- late results -------------------------------------------------------------------------------


def test_http_check_bounds_the_whole_request_not_each_read() -> None:
    server = TrickleHttpServer(duration=3.0).start()  # every byte within 50 ms, the reply in 3 s
    try:
        started = time.monotonic()
        result = HttpCheck(server.url).run(0.3)
        took = time.monotonic() - started
    finally:
        server.kill()
    assert not result.healthy, result
    assert "timed out" in result.reason
    assert took <= 3 * 0.3, took


def overrunning_callable() -> Check:
    def slow() -> bool:
        time.sleep(0.45)
        return True

    return CallableCheck(slow)


@pytest.mark.parametrize("kind", ["callable", "trickling-http"])
def test_check_that_always_overruns_goes_down_and_stays_down(kind: str) -> None:
    # Each check ends 0.45 s after it starts: after its deadline (0.2 s + grace), before the next
    # round (0.6 s). Counting that late success would flap the node up -> suspect -> up forever.
    server = TrickleHttpServer(duration=0.45).start()
    check = overrunning_callable() if kind == "callable" else HttpCheck(server.url)
    events: list[NodeEvent] = []
    try:
        with Monitor(interval=0.6, timeout=0.2, rise=1, fall=2) as monitor:
            monitor.add_listener(events.append)
            monitor.add_node("slow", check)
            assert wait_for(lambda: monitor.state("slow") is D, 6), events
            time.sleep(1.5)  # two more rounds: it must not come back
            assert monitor.state("slow") is D
    finally:
        server.kill()
    assert [(e.old, e.new) for e in events] == [(U, S), (S, D)]
    assert "timed out" in events[-1].reason


# --- hung checks ---------------------------------------------------------------------------------


def test_hung_check_costs_only_its_own_node(
    hung: Hung, healthy_servers: tuple[TcpServer, HttpServer]
) -> None:
    events: list[NodeEvent] = []
    # Healthy nodes get a generous timeout (0.5 s: no false alarm on a loaded machine); the hung
    # one a short one, so that it opens a round every 0.15 s.
    with Monitor(interval=0.05, timeout=0.5, rise=1, fall=2) as monitor:
        monitor.add_listener(events.append)
        monitor.add_node("hung", CallableCheck(hung), timeout=0.1)
        checks = healthy_checks(*healthy_servers)
        for name, check in checks.items():
            monitor.add_node(name, check)
        assert wait_for(lambda: monitor.state("hung") is D, 5)
        time.sleep(3.0)  # ~20 rounds of the hung node, far more than any pool size
        states = monitor.states()
        ok_checks = min(monitor._nodes[name].checks for name in checks)
        calls = hung.calls
        seen = [e for e in events if e.node != "hung"]
        hung.release.set()  # (stop() is tested on its own below)
    assert calls == 1  # never a second check of a node whose check is still running
    assert seen == []
    assert all(states[name] is U for name in checks), states
    assert ok_checks >= 20  # the healthy nodes kept being checked all along


def test_async_monitor_hung_check_costs_only_its_own_node_and_stops_in_time(
    hung: Hung, healthy_servers: tuple[TcpServer, HttpServer]
) -> None:
    outcome: dict[str, object] = {}

    async def scenario() -> None:
        # Whatever the loop's default executor (here a small one), the monitor does not use it.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(4))
        events: list[NodeEvent] = []
        monitor = AsyncMonitor(interval=0.05, timeout=0.5, rise=1, fall=2)
        await monitor.start()
        monitor.add_listener(events.append)
        monitor.add_node("hung", CallableCheck(hung), timeout=0.1)
        checks = healthy_checks(*healthy_servers)
        for name, check in checks.items():
            monitor.add_node(name, check)
        deadline = time.monotonic() + 5
        while monitor.state("hung") is not D and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(3.0)
        outcome["states"] = monitor.states()
        outcome["events"] = list(events)
        started = time.monotonic()
        await monitor.stop(timeout=1.0)
        outcome["stop"] = time.monotonic() - started

    runner = threading.Thread(target=lambda: asyncio.run(scenario()), daemon=True)
    started = time.monotonic()
    runner.start()
    runner.join(20)
    alive, took = runner.is_alive(), time.monotonic() - started
    hung.release.set()
    runner.join(10)
    assert not alive, f"asyncio.run did not return within 20 s ({took:.1f} s): it waits for the hung check"
    states = outcome["states"]
    assert isinstance(states, dict) and states["hung"] is D
    assert all(state is U for name, state in states.items() if name != "hung"), states
    events = outcome["events"]
    assert isinstance(events, list) and {e.node for e in events} == {"hung"}
    assert hung.calls == 1
    assert isinstance(outcome["stop"], float) and outcome["stop"] <= 3 * 1.0


def test_stop_returns_within_its_timeout_when_a_check_hangs(hung: Hung) -> None:
    monitor = Monitor(interval=0.05, timeout=0.1).start()
    monitor.add_node("hung", CallableCheck(hung))
    assert hung.entered.wait(5)
    stopper = threading.Thread(target=lambda: monitor.stop(timeout=1.0), daemon=True)
    started = time.monotonic()
    stopper.start()
    stopper.join(10)
    took = time.monotonic() - started
    hung.release.set()
    assert not stopper.is_alive(), "stop(timeout=1) still blocked after 10 s"
    assert took <= 3 * 1.0, took
    assert not monitor.running


def test_restart_while_a_check_hangs_starts_no_second_check(hung: Hung) -> None:
    monitor = Monitor(interval=0.05, timeout=0.1, rise=1, fall=1)
    monitor.add_node("hung", CallableCheck(hung))
    monitor.start()
    try:
        assert wait_for(lambda: monitor.state("hung") is D, 5)
        monitor.stop(timeout=1.0)
        monitor.start()
        time.sleep(0.5)  # rounds go on failing: the abandoned check still runs
        assert monitor.state("hung") is D and hung.calls == 1
        last = monitor._nodes["hung"].last_result
        assert last is not None and "still running" in last.reason
        hung.release.set()  # it returns at last: the next checks run (and pass at once)
        assert wait_for(lambda: monitor.state("hung") is U, 5)
    finally:
        monitor.stop()
    assert hung.calls >= 2
