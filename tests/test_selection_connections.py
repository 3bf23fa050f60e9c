"""LeastConnections and PowerOfTwo: leases, ties, threads, spread, Rust == twin."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
from selection_support import IMPLS, FakeClock
from shardwise import LeastConnections, PowerOfTwo


@pytest.mark.parametrize("impl", ["rust", "pure"])
def test_lease_context_manager_and_idempotent_release(impl: str) -> None:
    lc = IMPLS[impl].LeastConnections(["a", "b"])
    with lc.acquire() as lease:
        assert lease.node == "a" and not lease.released
        assert lc.active("a") == 1
    assert lease.released and lc.active("a") == 0
    lease.release()
    assert lc.active("a") == 0
    with pytest.raises(RuntimeError), lc.acquire() as lease2:
        assert lc.active(lease2.node) == 1
        raise RuntimeError("boom")
    assert lc.active("a") == 0 and lc.active("b") == 0


@pytest.mark.parametrize("impl", ["rust", "pure"])
def test_least_connections_order_and_ties(impl: str) -> None:
    lc = IMPLS[impl].LeastConnections({"a": 1, "b": 2, "c": 1})
    held = [lc.acquire() for _ in range(8)]
    # Scores active/weight: b takes twice the leases; ties go to the larger weight, then rotate.
    counts = {n: lc.active(n) for n in "abc"}
    assert counts == {"a": 2, "b": 4, "c": 2}
    assert held[0].node == "b"  # all at 0: the larger weight wins the tie
    for h in held:
        h.release()
    assert all(lc.active(n) == 0 for n in "abc")


@pytest.mark.parametrize("impl", ["rust", "pure"])
def test_least_connections_round_robin_among_equals(impl: str) -> None:
    lc = IMPLS[impl].LeastConnections(["a", "b", "c"])
    # Acquire-release immediately: every node is always tied at zero, so picks rotate.
    nodes = []
    for _ in range(6):
        with lc.acquire() as lease:
            nodes.append(lease.node)
    assert nodes == ["a", "b", "c", "a", "b", "c"]


def test_eight_threads_acquire_release() -> None:
    lc = LeastConnections({f"n{i}": 1 + i % 3 for i in range(10)})
    lc.mark_down("n3")
    lc.drain("n7")
    bad: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(10_000):
                with lc.acquire() as lease:
                    if lease.node in ("n3", "n7"):
                        bad.append(lease.node)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not bad
    assert all(lc.active(n) == 0 for n in lc.nodes)


def test_release_after_remove_is_a_no_op() -> None:
    lc = LeastConnections(["a", "b"])
    lease = lc.acquire()
    lc.remove_node(lease.node)
    lc.add_node(lease.node)  # same name, new backend: its count must not go negative
    lease.release()
    assert lc.active(lease.node) == 0


@pytest.mark.parametrize("impl", ["rust", "pure"])
def test_power_of_two_spread_under_load(impl: str) -> None:
    p2c = IMPLS[impl].PowerOfTwo([f"n{i}" for i in range(20)], seed=9)
    held: list = []
    import random

    churn = random.Random(4)
    for _ in range(5000):
        held.append(p2c.acquire())
        if len(held) > 200:
            held.pop(churn.randrange(len(held))).release()
    counts = [p2c.active(n) for n in p2c.nodes]
    assert sum(counts) == len(held)
    assert max(counts) - min(counts) <= 4, counts


def test_power_of_two_beats_random_spread() -> None:
    # With uniform random choice the spread of 200 leases over 20 nodes is typically ~10.
    p2c = PowerOfTwo([f"n{i}" for i in range(20)], seed=1)
    held = [p2c.acquire() for _ in range(200)]
    counts = [p2c.active(n) for n in p2c.nodes]
    assert max(counts) - min(counts) <= 3
    for h in held:
        h.release()


@pytest.mark.parametrize("impl", ["rust", "pure"])
def test_peak_ewma_avoids_slow_backend(impl: str) -> None:
    clock = FakeClock()
    p2c = IMPLS[impl].PowerOfTwo(["fast", "slow"], seed=3, peak_ewma=True, decay=10.0, clock=clock)
    for node, rtt in (("fast", 0.01), ("slow", 1.0)):
        for _ in range(3):
            lease = p2c.acquire()
            if lease.node == node:
                lease.release(latency=rtt)
            else:
                lease.release(latency=0.01 if lease.node == "fast" else 1.0)
    clock.t += 0.5
    picks = [p2c.pick() for _ in range(50)]
    assert picks.count("fast") == 50
    # Measured latency: a lease held 2 s records 2 s.
    lease = p2c.acquire()
    clock.t += 2.0
    lease.release()
    # Long silence decays the estimates so the slow node is tried again.
    clock.t += 200.0
    assert "slow" in {p2c.pick() for _ in range(50)}


def _script(data: st.DataObject, names: list[str]) -> list[tuple[str, ...]]:
    op = st.sampled_from(["acquire", "acquire", "release", "pick", "down", "up", "drain", "tick"])
    return [
        (data.draw(op), data.draw(st.sampled_from(names)), str(data.draw(st.integers(0, 30))))
        for _ in range(data.draw(st.integers(1, 60)))
    ]


@pytest.mark.parametrize("cls", ["LeastConnections", "PowerOfTwo"])
@given(data=st.data())
def test_rust_equals_twin_scripts(cls: str, data: st.DataObject) -> None:
    names = [f"n{i}" for i in range(data.draw(st.integers(1, 6)))]
    weights = {n: data.draw(st.sampled_from([0.5, 1.0, 2.0, 3.0])) for n in names}
    ewma = cls == "PowerOfTwo" and data.draw(st.booleans())
    script = _script(data, names)
    logs = []
    for impl in ("rust", "pure"):
        clock = FakeClock()
        kw: dict = {"clock": clock, "slow_start": 5.0}
        if cls == "PowerOfTwo":
            kw.update(seed=42, peak_ewma=ewma)
        bal = getattr(IMPLS[impl], cls)(weights, **kw)
        held: list = []
        log: list = []
        for op, name, num in script:
            try:
                if op == "acquire":
                    held.append(bal.acquire())
                    log.append(held[-1].node)
                elif op == "release" and held:
                    held.pop(int(num) % len(held)).release(latency=int(num) / 100)
                elif op == "pick":
                    log.append(bal.pick())
                elif op == "down":
                    bal.mark_down(name)
                elif op == "up":
                    bal.mark_up(name)
                elif op == "drain":
                    bal.drain(name)
                elif op == "tick":
                    clock.t += int(num) / 10
            except Exception as e:
                log.append(type(e).__name__)
        log.append([bal.active(n) for n in names])
        logs.append(log)
    assert logs[0] == logs[1]


@pytest.mark.parametrize("impl", ["rust", "pure"])
def test_racing_releases_count_once(impl: str) -> None:
    lc = IMPLS[impl].LeastConnections(["a"])
    for _ in range(50):
        keep = lc.acquire()
        lease = lc.acquire()
        threads = [threading.Thread(target=lease.release) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert lc.active("a") == 1
        keep.release()
        assert lc.active("a") == 0


def test_twin_threads_acquire_release() -> None:
    lc = IMPLS["pure"].LeastConnections({f"n{i}": 1 + i % 3 for i in range(6)})
    lc.mark_down("n2")
    seen: set[str] = set()

    def worker() -> None:
        for _ in range(300):
            held = [lc.acquire() for _ in range(3)]
            seen.update(lease.node for lease in held)
            for lease in held:
                lease.release()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert "n2" not in seen and {"n4", "n5"} <= seen
    assert all(lc.active(n) == 0 for n in lc.nodes)
