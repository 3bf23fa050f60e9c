"""``place(keys, out=...)``: every placement (Rust and pure twin) fills a caller's int32 buffer
with exactly what ``place(keys)`` returns, and refuses unusable buffers with the same error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import shardwise
import shardwise.pure.placement as pure
from shardwise.errors import NoNodesError

NODES = [f"node-{i}" for i in range(7)]
SLOTS = [(0, 5460, "a"), (5461, 10922, "b"), (10923, 16383, "c")]

# name -> (rust factory, twin factory)
FACTORIES: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
    "HashRing": (lambda: shardwise.HashRing(NODES), lambda: pure.HashRing(NODES)),
    "KetamaRing": (lambda: shardwise.KetamaRing(NODES), lambda: pure.KetamaRing(NODES)),
    "JumpHash": (lambda: shardwise.JumpHash(NODES), lambda: pure.JumpHash(NODES)),
    "Rendezvous": (lambda: shardwise.Rendezvous(NODES), lambda: pure.Rendezvous(NODES)),
    "Maglev": (lambda: shardwise.Maglev(NODES, table_size=101), lambda: pure.Maglev(NODES, table_size=101)),
    "MementoHash": (lambda: shardwise.MementoHash(NODES), lambda: pure.MementoHash(NODES)),
    "MultiProbe": (lambda: shardwise.MultiProbe(NODES), lambda: pure.MultiProbe(NODES)),
    "BoundedLoadRing": (lambda: shardwise.BoundedLoadRing(NODES), lambda: pure.BoundedLoadRing(NODES)),
    "RangePartitioner": (
        lambda: shardwise.RangePartitioner([100, 200], ["a", "b", "c"]),
        lambda: pure.RangePartitioner([100, 200], ["a", "b", "c"]),
    ),
    "RedisClusterSlots": (
        lambda: shardwise.RedisClusterSlots(SLOTS),
        lambda: pure.RedisClusterSlots(SLOTS),
    ),
}
INT_KEYS = np.arange(0, 300_000, 7, dtype=np.int64)  # above the parallel threshold in bulk
STR_KEYS = [f"user:{i}" for i in range(500)]


def keys_for(name: str) -> list[Any]:
    return [int(k) for k in INT_KEYS[:500]] if name == "RangePartitioner" else STR_KEYS


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize("twin", [False, True], ids=["rust", "twin"])
def test_out_receives_what_place_returns(name: str, twin: bool) -> None:
    placement = FACTORIES[name][twin]()
    keys = keys_for(name)
    want = placement.place(keys)
    out = np.full(len(keys), -7, dtype=np.int32)
    got = placement.place(keys, out=out)
    assert got is out
    np.testing.assert_array_equal(out, want)
    out[:] = -7  # the same buffer again
    placement.place(keys, out=out)
    np.testing.assert_array_equal(out, want)
    assert placement.place(keys, out=None).dtype == np.int32


@pytest.mark.parametrize("name", ["HashRing", "JumpHash", "MementoHash", "Maglev", "RangePartitioner"])
def test_out_in_bulk_across_threads(name: str) -> None:
    placement = FACTORIES[name][0]()
    out = np.empty(len(INT_KEYS), dtype=np.int32)
    placement.place(INT_KEYS, out=out)
    np.testing.assert_array_equal(out, placement.place(INT_KEYS))


def bad_outs(n: int) -> list[tuple[str, Any, type[Exception], str]]:
    readonly = np.zeros(n, dtype=np.int32)
    readonly.flags.writeable = False
    return [
        ("int64", np.zeros(n, dtype=np.int64), TypeError, "out must be a 1-D numpy array of int32"),
        ("2-D", np.zeros((n, 1), dtype=np.int32), TypeError, "out must be a 1-D numpy array of int32"),
        ("list", [0] * n, TypeError, "out must be a 1-D numpy array of int32, not list"),
        ("short", np.zeros(n - 1, dtype=np.int32), ValueError, f"out has {n - 1} slots but there are {n}"),
        ("read-only", readonly, ValueError, "out is not writable"),
        ("strided", np.zeros(2 * n, dtype=np.int32)[::2], ValueError, "out must be C-contiguous"),
    ]


@pytest.mark.parametrize("twin", [False, True], ids=["rust", "twin"])
@pytest.mark.parametrize("case", range(6), ids=[c[0] for c in bad_outs(3)])
def test_unusable_out_is_refused_and_left_alone(twin: bool, case: int) -> None:
    keys = ["a", "b", "c"]
    _, out, exc, message = bad_outs(len(keys))[case]
    before = np.array(out, copy=True)
    with pytest.raises(exc, match=message):
        FACTORIES["HashRing"][twin]().place(keys, out=out)
    np.testing.assert_array_equal(np.asarray(out), before)


@pytest.mark.parametrize("twin", [False, True], ids=["rust", "twin"])
def test_empty_placement_with_out_says_no_nodes(twin: bool) -> None:
    ring = (pure.HashRing if twin else shardwise.HashRing)()
    with pytest.raises(NoNodesError):
        ring.place(["a"], out=np.zeros(1, dtype=np.int32))


@pytest.mark.parametrize("twin", [False, True], ids=["rust", "twin"])
def test_out_overlapping_the_keys_is_refused(twin: bool) -> None:
    # keys and out share memory: writing owners would change keys still being read
    ring = (pure.HashRing if twin else shardwise.HashRing)(NODES)
    buffer = np.zeros(64, dtype=np.uint64)
    with pytest.raises(ValueError, match="must not share memory with the keys"):
        ring.place(buffer[:32], out=buffer[:16].view(np.int32))
    # the same memory reached through two different base objects (two frombuffer views)
    raw = bytearray(8 * 64)
    keys = np.frombuffer(raw, dtype=np.uint64)
    out = np.frombuffer(raw, dtype=np.int32)[:64]
    with pytest.raises(ValueError, match="must not share memory with the keys"):
        ring.place(keys, out=out)
    assert not out.any()
