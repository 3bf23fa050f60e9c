"""Bulk hashing under concurrency: Python threads, the thread-count setting, os.fork()."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import shardwise
import shardwise.hashing as rust
import xxhash

N_INTS = 400_000  # several times par::MIN_ITEMS_PER_THREAD, so bulk calls really split
N_STRS = 120_000


@pytest.fixture
def restore_threads() -> Iterator[None]:
    yield
    rust.set_num_threads(0)


@pytest.fixture(scope="module")
def inputs() -> dict[str, Any]:
    rng = np.random.default_rng(11)
    ints = rng.integers(0, 2**64, size=N_INTS, dtype=np.uint64)
    strs = [f"user:{i}:{v:x}" for i, v in enumerate(rng.integers(0, 2**40, size=N_STRS))]
    return {"ints": ints, "strs": strs, "strs_u": np.array(strs)}


def reference(inputs: dict[str, Any]) -> dict[str, np.ndarray[Any, Any]]:
    return {
        "ints": rust.xxh3_64_many(inputs["ints"]),
        "ints_m128": rust.murmur3_128_many(inputs["ints"]),
        "strs": rust.xxh3_64_many(inputs["strs"]),
        "strs_u": rust.redis_slot_many(inputs["strs_u"]),
    }


def test_bulk_result_checked_against_oracle(inputs: dict[str, Any]) -> None:
    ref = reference(inputs)
    for i in range(0, N_INTS, 9973):
        assert int(ref["ints"][i]) == xxhash.xxh3_64_intdigest(int(inputs["ints"][i]).to_bytes(8, "little"))
    for i in range(0, N_STRS, 997):
        assert int(ref["strs"][i]) == xxhash.xxh3_64_intdigest(inputs["strs"][i].encode())


@pytest.mark.timeout(120)
def test_python_threads_hashing_at_once_agree(inputs: dict[str, Any]) -> None:
    ref = reference(inputs)
    barrier = threading.Barrier(4)
    failures: list[str] = []

    def worker() -> None:
        barrier.wait()
        for _ in range(2):
            got = reference(inputs)
            for name, want in ref.items():
                if not np.array_equal(got[name], want):
                    failures.append(name)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=100)
    assert not any(t.is_alive() for t in threads)
    assert failures == []


@pytest.mark.usefixtures("restore_threads")
def test_thread_count_does_not_change_results(inputs: dict[str, Any]) -> None:
    rust.set_num_threads(0)
    default = reference(inputs)
    assert rust.get_num_threads() >= 1
    for n in (1, 2, 3, 7):
        rust.set_num_threads(n)
        assert rust.get_num_threads() == n
        got = reference(inputs)
        for name, want in default.items():
            assert np.array_equal(got[name], want), (n, name)


@pytest.mark.usefixtures("restore_threads")
def test_set_num_threads_validation() -> None:
    with pytest.raises(ValueError, match=r"thread count must be an int in \[0, 1024\], got -1"):
        rust.set_num_threads(-1)
    with pytest.raises(ValueError, match=r"got 1000000000000000000000000000000"):
        rust.set_num_threads(10**30)
    with pytest.raises(TypeError):
        rust.set_num_threads(1.5)  # type: ignore[arg-type]
    assert shardwise.set_num_threads is rust.set_num_threads


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("3", 3)])
def test_thread_count_from_environment(value: str, expected: int) -> None:
    env = dict(os.environ, SHARDWISE_NUM_THREADS=value)
    out = subprocess.run(
        [sys.executable, "-c", "import shardwise; print(shardwise.get_num_threads())"],
        env=env, capture_output=True, text=True, timeout=50, check=True,
    )
    assert int(out.stdout.strip()) == expected


@pytest.mark.timeout(60)
def test_bad_thread_count_in_environment_is_reported() -> None:
    env = dict(os.environ, SHARDWISE_NUM_THREADS="many")
    out = subprocess.run(
        [sys.executable, "-c", "import shardwise"], env=env, capture_output=True, text=True, timeout=50
    )
    assert out.returncode != 0
    assert "SHARDWISE_NUM_THREADS" in out.stderr


def _hash_in_child(ints: np.ndarray[Any, Any], timeout: float) -> bytes:
    """Fork; the child bulk hashes ``ints`` and sends the result bytes back through a pipe."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            os.close(read_fd)
            data = rust.xxh3_64_many(ints).tobytes() + rust.xxh3_64_many(ints[::-1].copy()).tobytes()
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view) :]
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([read_fd], [], [], max(remaining, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                raise AssertionError("forked child did not finish bulk hashing in time (deadlock?)")
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return b"".join(chunks)


@pytest.mark.timeout(120)
def test_forked_child_bulk_hashes(inputs: dict[str, Any]) -> None:
    ints = inputs["ints"][:300_000]
    want = rust.xxh3_64_many(ints).tobytes() + rust.xxh3_64_many(ints[::-1].copy()).tobytes()
    assert _hash_in_child(ints, timeout=60) == want


@pytest.mark.timeout(120)
def test_fork_while_another_thread_is_bulk_hashing(inputs: dict[str, Any]) -> None:
    ints = inputs["ints"][:300_000]
    want = rust.xxh3_64_many(ints).tobytes() + rust.xxh3_64_many(ints[::-1].copy()).tobytes()
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            rust.xxh3_64_many(inputs["ints"])

    background = threading.Thread(target=busy)
    background.start()
    try:
        for _ in range(3):
            time.sleep(0.01)
            assert _hash_in_child(ints, timeout=60) == want
    finally:
        stop.set()
        background.join(timeout=60)
    assert not background.is_alive()
