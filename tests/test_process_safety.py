"""Inputs that once aborted, hung or corrupted the process: each runs in a child interpreter
(with an address-space limit where allocation is the point), and the child must end normally
with the expected Python exception or a correct result.

A child prints ``RESULT <text>`` lines; a crash (abort, panic, deadlock killed by its alarm)
shows as a non-zero exit or a missing line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import shardwise

# The children import the shardwise this process imported (the source tree or the wheel).
PACKAGE_ROOT = Path(shardwise.__file__).resolve().parent.parent
GIB = 1 << 30

PRELUDE = """
import os, resource, signal, sys, threading
import numpy as np
limit = int(os.environ.get("CHILD_AS_LIMIT", "0"))
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
signal.alarm(int(os.environ.get("CHILD_ALARM", "60")))  # a deadlock ends the child (SIGALRM)

def report(call):
    try:
        value = call()
    except BaseException as exc:  # noqa: BLE001 - the type is what the test checks
        print("RESULT", type(exc).__name__, str(exc)[:200], flush=True)
    else:
        print("RESULT ok", value, flush=True)
"""


def run_child(
    code: str, *, limit: int = 0, env: dict[str, str] | None = None, timeout: float = 120
) -> list[str]:
    """Run ``code`` in a fresh interpreter; its ``RESULT`` lines, after checking it exited normally."""
    child_env = dict(os.environ if env is None else env)
    python_path = [str(PACKAGE_ROOT), child_env.get("PYTHONPATH", "")]
    child_env.update(PYTHONPATH=os.pathsep.join(p for p in python_path if p), CHILD_AS_LIMIT=str(limit))
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"child died ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-2000:]}"
    return [line.removeprefix("RESULT ") for line in proc.stdout.splitlines() if line.startswith("RESULT ")]


def test_first_key_of_a_megabyte_does_not_reserve_a_megabyte_per_key() -> None:
    # Room for all keys used to be reserved at len(first key) each: 200,000 x 1 MB.
    lines = run_child(
        """
        import shardwise, shardwise.pure.hashing as pure
        keys = ["x" * (1 << 20)] + [f"k{i}" for i in range(200_000)]
        got = shardwise.hashing.xxh3_64_many(keys)
        want = [pure.xxh3_64(k) for k in (keys[0], keys[1], keys[-1])]
        report(lambda: [int(got[0]), int(got[1]), int(got[-1])] == want)
        ring = shardwise.HashRing(["a", "b"])
        report(lambda: ring.place(keys)[-1] == ["a", "b"].index(ring.get_node(keys[-1])))
        """,
        limit=4 * GIB,
    )
    assert lines == ["ok True", "ok True"]


def test_huge_samples_are_memory_errors() -> None:
    lines = run_child(
        """
        import shardwise
        w = shardwise.WeightedRandom(["a", "b"], seed=1)
        report(lambda: w.sample(2**62))
        report(lambda: w.sample(10**12))
        report(lambda: len(w.sample(1000)))
        report(lambda: w.pick())
        """,
        limit=4 * GIB,
    )
    assert lines[0].startswith("ValueError array is too big")
    assert lines[1].startswith("MemoryError")
    assert lines[2:] == ["ok 1000", lines[3]] and lines[3] in ("ok a", "ok b")


def test_a_ring_too_large_for_memory_is_a_memory_error() -> None:
    # 16M points need ~512 MB (points, entries, index); with 300 MB of room left the build used
    # to abort the process.
    lines = run_child(
        """
        import shardwise
        shardwise.set_num_threads(1)
        names = [f"node-{i}" for i in range(100_000)]
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (used + (300 << 20), used + (300 << 20)))
        report(lambda: shardwise.HashRing(names, vnodes=160))
        report(lambda: shardwise.HashRing(names[:100]).get_node("key") in names)
        """
    )
    assert lines[0].startswith("MemoryError cannot allocate")
    assert lines[1] == "ok True"


def test_broadcast_keys_too_large_for_their_output() -> None:
    # Eight bytes of keys that claim 10**12 items: the output cannot exist.
    lines = run_child(
        """
        import shardwise
        keys = np.broadcast_to(np.uint64(7), (10**12,))
        report(lambda: shardwise.hashing.xxh3_64_many(keys))
        report(lambda: shardwise.HashRing(["a", "b"]).place(keys))
        report(lambda: shardwise.hashing.jump_many(keys, 10))
        report(lambda: shardwise.MementoHash(["a", "b"]).place(keys))
        small = np.broadcast_to(np.int32(7), (10**10,))  # widened to u64 keys: 80 GB
        report(lambda: shardwise.JumpHash(["a", "b"]).place(small))
        words = np.broadcast_to(np.array(b"abcdefgh"), (10**10,))  # 80 GB of packed bytes
        report(lambda: shardwise.hashing.xxh64_many(words))
        report(lambda: int(shardwise.hashing.xxh3_64_many(keys[:3])[0]) == shardwise.hashing.xxh3_64(7))
        """,
        limit=4 * GIB,
    )
    assert [line.split()[0] for line in lines[:-1]] == ["MemoryError"] * 6, lines
    assert lines[-1] == "ok True"


def test_memory_mapped_keys_too_large_for_their_output(tmp_path: Path) -> None:
    path = tmp_path / "keys.u64"
    with path.open("wb") as f:
        f.truncate(2 * GIB)  # sparse: 256M zero keys, no disk used
    lines = run_child(
        f"""
        import shardwise
        keys = np.memmap({str(path)!r}, dtype=np.uint64, mode="r")
        report(lambda: shardwise.hashing.xxh3_64_many(keys))
        report(lambda: shardwise.hashing.murmur3_128_many(keys))
        report(lambda: int(shardwise.hashing.xxh3_64_many(keys[:2])[1]) == shardwise.hashing.xxh3_64(0))
        """,
        limit=3 * GIB,
    )
    assert [line.split()[0] for line in lines] == ["MemoryError", "MemoryError", "ok"], lines
    assert lines[-1] == "ok True"


def test_uhashring_weights_whose_sum_overflows_64_bits() -> None:
    # 2048 weights of 2**53 sum to 2**64: the total used to wrap to 0 (a division by zero).
    lines = run_child(
        """
        import shardwise, shardwise.pure.placement as pure
        nodes = {f"n{i}": 2**53 for i in range(2048)}
        ring = shardwise.KetamaRing(nodes, flavor="uhashring")
        twin = pure.KetamaRing(nodes, flavor="uhashring")
        report(lambda: len(ring.points()) == len(twin.points()) == 2048 * 40 * 4)
        keys = [f"k{i}" for i in range(50)]
        report(lambda: [ring.get_node(k) for k in keys] == [twin.get_node(k) for k in keys])
        """
    )
    assert lines == ["ok True", "ok True"]


def test_fork_while_another_thread_samples() -> None:
    # The sampling thread used to hold the balancer's lock with the GIL released: a child
    # forked meanwhile inherited it locked, and its first pick() never returned.
    lines = run_child(
        """
        import shardwise, time
        w = shardwise.WeightedRandom({"a": 1, "b": 3}, seed=7)
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                w.sample(5_000_000)

        t = threading.Thread(target=sample)
        t.start()
        pids = []
        for _ in range(5):
            time.sleep(0.02)
            pid = os.fork()
            if pid == 0:
                signal.alarm(10)
                w.pick()
                len(w.sample(10))
                os._exit(0)
            pids.append(pid)
        statuses = [os.waitpid(pid, 0)[1] for pid in pids]
        stop.set()
        t.join()
        report(lambda: statuses)
        """
    )
    assert lines == ["ok [0, 0, 0, 0, 0]"]


def test_sticky_pick_racing_remove_node() -> None:
    # pick() read the node count, then asked for that many preferences: a node removed in
    # between made it a ConfigurationError. The placement here lets other threads run right
    # after its node list is read, to make the race likely.
    lines = run_child(
        """
        import shardwise, time
        from shardwise.errors import NoAvailableBackendError

        class Placement:
            def __init__(self, nodes):
                self.inner = shardwise.HashRing(nodes)

            @property
            def nodes(self):
                nodes = self.inner.nodes
                time.sleep(0.0002)
                return nodes

            def get_nodes(self, key, n):
                return self.inner.get_nodes(key, n)

        placement = Placement([f"n{i}" for i in range(12)])
        sticky = shardwise.Sticky(placement)
        for i in range(6):
            sticky.mark_down(f"n{i}")
        errors, stop = [], threading.Event()

        def picker():
            while not stop.is_set():
                try:
                    sticky.pick("some-key")
                except NoAvailableBackendError:
                    pass  # right while every up node is removed
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=picker) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for i in range(6, 12):
                placement.inner.remove_node(f"n{i}")
                time.sleep(0.0001)
            for i in range(6, 12):
                placement.inner.add_node(f"n{i}")
        stop.set()
        for t in threads:
            t.join()
        report(lambda: errors[:1])
        """
    )
    assert lines == ["ok []"]


def test_lease_release_with_a_failing_clock_gives_the_backend_back() -> None:
    lines = run_child(
        """
        import shardwise, shardwise.pure.selection as pure
        for module in (shardwise, pure):
            now = [100.0]

            def clock():
                if now[0] is None:
                    raise RuntimeError("clock is down")
                return now[0]

            for cls in (module.LeastConnections, module.PowerOfTwo):
                balancer = cls(["a"], slow_start=5.0, clock=clock)
                lease = balancer.acquire()
                now[0] = None
                report(lambda: lease.release())
                now[0] = 200.0
                report(lambda: (balancer.active("a"), lease.released))
        """
    )
    assert lines == ["RuntimeError clock is down", "ok (0, True)"] * 4


@pytest.mark.parametrize("value", ["1" + "0" * 30, "2000", "-1"])
def test_huge_thread_count_in_the_environment(value: str) -> None:
    lines = run_child(
        "report(lambda: __import__('shardwise').get_num_threads())",
        env=dict(os.environ, SHARDWISE_NUM_THREADS=value),
    )
    message = f"SHARDWISE_NUM_THREADS={value!r}: thread count must be an int in [0, 1024], got {value}"
    assert lines == [f"ValueError {message}"]
