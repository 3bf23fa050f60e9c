"""KetamaRing against the real libraries: `ketama` (libketama's C code) and `uhashring`."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import ketama
import numpy as np
import pytest
import shardwise
import shardwise.pure.placement as pure
import uhashring
from shardwise.errors import ConfigurationError


def node_sets() -> Iterator[dict[str, int]]:
    """Many node sets: single node, equal and uneven weights, non-ASCII names, random sets."""
    yield {"solo": 1}
    yield {"solo-heavy": 700}
    yield dict.fromkeys(["a", "b", "c"], 1)
    yield {"10.0.0.1:11211": 300, "10.0.0.2:11211": 100, "10.0.0.3:11211": 50}
    yield {"nœud-α": 1, "узел-2": 3, "节点3": 2, "ñ": 7}
    yield {"big": 1000, "tiny": 1}
    yield {"a": 6, "b": 13, "c": 21}  # libketama's float32 share gives c 62 digests, uhashring 63
    rng = random.Random(20261126)
    for trial in range(24):
        n = rng.randint(2, 60)
        uneven = trial % 2 == 0
        names = {f"10.{trial}.{i}.{rng.randint(0, 255)}:{rng.randint(1, 65535)}"[:21] for i in range(n)}
        yield {name: (rng.randint(1, 1000) if uneven else 1) for name in sorted(names)}


NODE_SETS = list(node_sets())
KEYS_PER_SET = 3400  # 31 sets x 3400 keys > 100,000 keys per flavor


def keys_for(seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = "abcxyz0189:-_/éü€中😀"
    keys = [f"user:{rng.getrandbits(40)}" for _ in range(KEYS_PER_SET - 400)]
    keys += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(400)]
    return keys


# The `ketama` package crashes when a continuum is freed and another one is used afterwards
# (shared state in its C code), so every oracle stays alive until the process ends.
_ORACLES: list[ketama.Ketama] = []


def libketama_oracle(tmp_path: Path, nodes: dict[str, int], tag: int) -> ketama.Ketama:
    conf = tmp_path / f"servers-{tag}.conf"
    conf.write_text("".join(f"{name}\t{w}\n" for name, w in nodes.items()), encoding="utf-8")
    oracle = ketama.Ketama(str(conf))
    _ORACLES.append(oracle)
    return oracle


def test_libketama_matches_the_c_library(tmp_path: Path) -> None:
    checked = 0
    for tag, nodes in enumerate(NODE_SETS):
        oracle = libketama_oracle(tmp_path, nodes, tag)
        ring = shardwise.KetamaRing(nodes)
        assert ring.points() == oracle.get_points()
        keys = keys_for(tag)
        got = ring.place(keys)
        # The `ketama` binding hashes a non-ASCII str truncated to len(str) UTF-8 bytes (its bug);
        # libketama itself hashes the whole C string, which is what the bytes form gives.
        want = [oracle.get_server(k.encode())[1] for k in keys]
        assert [ring.nodes[i] for i in got] == want, f"node set {tag}"
        for k in keys[:50]:
            assert ring.get_node(k) == oracle.get_server(k)[1]  # ASCII keys: str as well
            assert ring.get_node(k.encode()) == oracle.get_server(k)[1]
        checked += len(keys)
    assert checked >= 100_000


def test_uhashring_matches_the_library() -> None:
    checked = 0
    for tag, nodes in enumerate(NODE_SETS):
        oracle = uhashring.HashRing(nodes=dict(nodes), hash_fn="ketama")
        ring = shardwise.KetamaRing(nodes, flavor="uhashring")
        assert [p for p, _ in ring.points()] == [p for p, _ in oracle.get_points()]
        keys = keys_for(tag + 1000)
        got = ring.place(keys)
        assert [ring.nodes[i] for i in got] == [oracle.get_node(k) for k in keys], f"node set {tag}"
        checked += len(keys)
    assert checked >= 100_000


def test_the_two_flavors_really_differ() -> None:
    # libketama: floorf(float32(21/40) * 40.0 * 3) = 62; uhashring: 40 * 3 * 21 // 40 = 63.
    nodes = {"a": 6, "b": 13, "c": 21}
    lib, uh = shardwise.KetamaRing(nodes), shardwise.KetamaRing(nodes, flavor="uhashring")
    assert len(lib.points()) == 4 * (18 + 39 + 62)
    assert len(uh.points()) == 4 * (18 + 39 + 63)
    keys = keys_for(7)
    assert (lib.place(keys) != uh.place(keys)).any()


def test_uhashring_key_kinds_and_vnodes() -> None:
    nodes = {"n1": 1, "n2": 2, "n3": 5}
    for vnodes in (None, 7, 160):
        kwargs = {} if vnodes is None else {"vnodes": vnodes}
        oracle = uhashring.HashRing(nodes=dict(nodes), hash_fn="ketama", **kwargs)
        ring = shardwise.KetamaRing(nodes, flavor="uhashring", **kwargs)
        twin = pure.KetamaRing(nodes, flavor="uhashring", **kwargs)
        ints = [0, 1, 42, 2**40, 2**64 - 1, *range(100, 400)]
        raw = [b"", b"abc", b"it's", b'say "hi"', b"both'\"", b"\x00\xff\n\t\r\\", bytes(range(256))]
        for key in ints + raw + ["plain", "ünï"]:
            assert ring.get_node(key) == oracle.get_node(key) == twin.get_node(key), key
        assert [ring.nodes[i] for i in ring.place(np.array(ints, dtype=np.uint64))] == [
            oracle.get_node(k) for k in ints
        ]
        assert [ring.nodes[i] for i in ring.place(raw)] == [oracle.get_node(k) for k in raw]
        packed = np.array(raw[1:4], dtype="S")
        assert [ring.nodes[i] for i in ring.place(packed)] == [oracle.get_node(k) for k in raw[1:4]]


def test_uhashring_changes_follow_the_library() -> None:
    oracle = uhashring.HashRing(nodes={"a": 1, "b": 2}, hash_fn="ketama")
    ring = shardwise.KetamaRing({"a": 1, "b": 2}, flavor="uhashring")
    keys = keys_for(99)[:2000]
    steps = [("add", "c", 3), ("add", "d", 1), ("remove", "a", 0), ("weight", "c", 1)]
    for op, name, w in steps:
        if op == "add":
            oracle.add_node(name, {"weight": w})
            ring.add_node(name, w)
        elif op == "remove":
            oracle.remove_node(name)
            ring.remove_node(name)
        else:
            oracle.add_node(name, {"weight": w})
            ring.set_weight(name, w)
        assert [ring.nodes[i] for i in ring.place(keys)] == [oracle.get_node(k) for k in keys]


def test_libketama_key_rules(tmp_path: Path) -> None:
    nodes = {"s1": 10, "s2": 20, "s3": 30}
    oracle = libketama_oracle(tmp_path, nodes, 0)
    ring, twin = shardwise.KetamaRing(nodes), pure.KetamaRing(nodes)
    # Keys are hashed whole (NUL included, as the binding passes lengths); ints as decimal text.
    for raw in (b"abc\x00def", b"\xff\xfe", "ünï".encode()):
        assert ring.get_node(raw) == oracle.get_server(raw)[1] == twin.get_node(raw)
    for k in (0, 7, 123456789, 2**64 - 1):
        assert ring.get_node(k) == oracle.get_server(str(k))[1] == twin.get_node(k)


def test_ketama_refuses_what_the_libraries_cannot_do() -> None:
    for cls in (shardwise.KetamaRing, pure.KetamaRing):
        with pytest.raises(ConfigurationError, match="whole number"):
            cls({"a": 1.5})
        with pytest.raises(ConfigurationError, match="21 bytes"):
            cls(["a-very-long-server-name:11211"])
        cls(["a-very-long-server-name:11211"], flavor="uhashring")
        with pytest.raises(ConfigurationError, match="flavor"):
            cls(["a"], flavor="memcached")
        with pytest.raises(ConfigurationError, match="40 digests"):
            cls(["a"], vnodes=100)
        with pytest.raises(ConfigurationError, match="vnodes"):
            cls(["a"], flavor="uhashring", vnodes=10**30)
        ring = cls({"a": 2}, flavor="uhashring")
        with pytest.raises(ConfigurationError, match="whole number"):
            ring.set_weight("a", 0.5)
        assert ring.weights == {"a": 2.0}
