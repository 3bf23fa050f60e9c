"""``place(keys, out=...)``: every placement (Rust and pure twin) fills a caller's int32 buffer
with exactly what ``place(keys)`` returns, and refuses unusable buffers with the same error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shardwise
import shardwise.pure.placement as pure
from placement_cases import cases
from shardwise.errors import NoNodesError

NODES = [f"node-{i}" for i in range(7)]
CASES = {case.name: case for case in cases()}  # one case per class of the registry
INT_KEYS = np.arange(0, 300_000, 7, dtype=np.int64)  # above the parallel threshold in bulk
STR_KEYS = [f"user:{i}" for i in range(500)]


def make(name: str, twin: bool) -> Any:
    return CASES[name].make(twin, NODES)


def keys_for(name: str) -> list[Any]:
    return [int(k) for k in INT_KEYS[:500]] if CASES[name].key_kind == "int" else STR_KEYS


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("twin", [False, True], ids=["rust", "twin"])
def test_out_receives_what_place_returns(name: str, twin: bool) -> None:
    placement = make(name, twin)
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


@pytest.mark.parametrize("name", CASES)
def test_out_in_bulk_across_threads(name: str) -> None:
    placement = make(name, False)
    if CASES[name].key_kind == "str":
        pytest.skip("takes str keys")
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
        make("HashRing", twin).place(keys, out=out)
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
