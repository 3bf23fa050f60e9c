"""RedisClusterSlots: Rust == twin, slot-map validation, reply parsing, and real redis-server
cluster nodes (one node owning every slot; a 3-master cluster made by ``redis-cli --cluster create``
where every key must be accepted by the node we name and redirected to it by the others)."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import redis
import shardwise
import shardwise.pure.placement as pure
from hypothesis import given
from hypothesis import strategies as st
from redis_support import RedisServer
from shardwise.errors import ConfigurationError, UnknownNodeError

THREE = {"a:1": [(0, 5460)], "b:2": [(5461, 10922)], "c:3": [(10923, 16383)]}
KEYS = [f"user:{i}" for i in range(3000)] + ["{user1000}.following", "{user1000}.followers", "foo", ""]


@st.composite
def slot_maps(draw: st.DrawFn) -> list[tuple[int, int, str]]:
    cuts = sorted(draw(st.sets(st.integers(1, 16383), max_size=12)))
    starts = [0, *cuts]
    ends = [c - 1 for c in cuts] + [16383]
    names = draw(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=5, unique=True))
    ranges = [(s, e, names[draw(st.integers(0, len(names) - 1))]) for s, e in zip(starts, ends, strict=True)]
    return draw(st.permutations(ranges))


@given(
    ranges=slot_maps(),
    keys=st.lists(st.one_of(st.text(max_size=10), st.binary(max_size=10)), max_size=40),
)
def test_rust_equals_twin(ranges: list[tuple[int, int, str]], keys: list[Any]) -> None:
    r, p = shardwise.RedisClusterSlots(ranges), pure.RedisClusterSlots(ranges)
    assert r.nodes == p.nodes and r.slot_ranges == p.slot_ranges
    for key in keys:
        assert r.get_node(key) == p.get_node(key)
        assert r.get_nodes(key, len(r)) == p.get_nodes(key, len(r))
        assert shardwise.RedisClusterSlots.slot_of(key) == shardwise.hashing.redis_slot(key)
    assert r.to_state() == p.to_state()
    assert shardwise.placement.from_state(p.to_state()) == r


def test_keys_follow_redis_slot_and_hash_tags() -> None:
    r = shardwise.RedisClusterSlots(THREE)
    slots = shardwise.hashing.redis_slot_many(KEYS)
    want = np.searchsorted(np.array([5461, 10923]), slots, side="right")
    np.testing.assert_array_equal(r.place(KEYS), want)
    np.testing.assert_array_equal(r.place(np.array(KEYS, dtype=object)), want)
    assert r.get_node("foo") == "c:3"  # CLUSTER KEYSLOT foo = 12182
    assert r.get_node("{user1000}.following") == r.get_node("{user1000}.followers")
    assert r.node_for_slot(5461) == "b:2" and r.get_nodes("foo", 3) == ["c:3", "a:1", "b:2"]
    assert pickle.loads(pickle.dumps(r)) == r


def test_interleaved_triples_and_names_order() -> None:
    triples = [(100, 16383, "x"), (0, 49, "y"), (50, 99, "x")]
    for cls in (shardwise.RedisClusterSlots, pure.RedisClusterSlots):
        r = cls(triples)
        assert r.nodes == ("x", "y")
        assert r.slot_ranges == [(0, 49, "y"), (50, 16383, "x")]


def test_bad_slot_maps() -> None:
    for cls in (shardwise.RedisClusterSlots, pure.RedisClusterSlots):
        with pytest.raises(ConfigurationError, match="slots 5461-10922 are not assigned"):
            cls({"a": [(0, 5460)], "c": [(10923, 16383)]})
        with pytest.raises(ConfigurationError, match="slot 100 is assigned by two ranges"):
            cls({"a": [(0, 100)], "b": [(100, 16383)]})
        for bad in [(0, 16384), (-1, 5), (9, 3)]:
            with pytest.raises(ConfigurationError, match="invalid"):
                cls({"a": [bad], "b": [(0, 16383)]})
        with pytest.raises(ConfigurationError, match="owns no slots"):
            cls({"a": [(0, 16383)], "b": []})
        with pytest.raises(ConfigurationError, match="triples"):
            cls([(0, 16383)])
        with pytest.raises(TypeError):
            cls("a:1")
        r = cls(THREE)
        with pytest.raises(ConfigurationError, match="cannot add a node"):
            r.add_node("d:4")
        with pytest.raises(ConfigurationError, match="cannot remove"):
            r.remove_node("a:1")
        with pytest.raises(UnknownNodeError):
            r.set_weight("zz", 2)
        with pytest.raises(ConfigurationError):
            r.node_for_slot(16384)


SLOTS_REPLY = [
    [0, 5460, [b"10.0.0.1", 7000, b"id1", {}], [b"10.0.0.4", 7003, b"id4", {}]],
    [10923, 16383, ["10.0.0.3", 7002, "id3"]],
    [5461, 10922, [b"10.0.0.2", 7001, b"id2", {}]],
]
SHARDS_REPLY = [
    {b"slots": [0, 5460], b"nodes": [
        {b"id": b"id1", b"port": 7000, b"ip": b"10.0.0.1", b"endpoint": b"10.0.0.1", b"role": b"master"},
        {b"id": b"id4", b"port": 7003, b"ip": b"10.0.0.4", b"endpoint": b"10.0.0.4", b"role": b"replica"},
    ]},
    ["slots", [5461, 10922], "nodes", [["id", "id2", "port", 7001, "ip", "10.0.0.2", "role", "master"]]],
    {"slots": [10923, 16383], "nodes": [{"port": 7002, "endpoint": "10.0.0.3", "role": "master"}]},
    {"slots": [], "nodes": [{"port": 7009, "endpoint": "10.0.0.9", "role": "master"}]},
]


def test_parse_replies_given_as_data() -> None:
    for cls in (shardwise.RedisClusterSlots, pure.RedisClusterSlots):
        a = cls.from_cluster_slots(SLOTS_REPLY)
        b = cls.from_cluster_shards(SHARDS_REPLY)
        assert a.nodes == b.nodes == ("10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:7002")
        assert a.slot_ranges == b.slot_ranges
        parsed = {(0, 5460): {"primary": ("10.0.0.1", 7000), "replicas": []},
                  (5461, 16383): {"primary": ("10.0.0.2", 7001), "replicas": []}}
        c = cls.from_cluster_slots(parsed)
        assert c.get_node("foo") == "10.0.0.2:7001"
        with pytest.raises(ConfigurationError, match="default_host"):
            cls.from_cluster_slots([[0, 16383, [b"", 7000, b"id"]]])
        assert cls.from_cluster_slots([[0, 16383, [b"", 7000, b"id"]]], default_host="h").nodes == ("h:7000",)
        with pytest.raises(ConfigurationError, match="not assigned"):
            cls.from_cluster_slots(SLOTS_REPLY[:2])
        with pytest.raises(ConfigurationError):
            cls.from_cluster_shards([{"slots": [0, 16383], "nodes": []}])
        with pytest.raises(ConfigurationError):
            cls.from_cluster_slots("nonsense")


def _cluster_ok(info: Any) -> bool:
    if isinstance(info, dict):  # redis-py parses CLUSTER INFO into a dict
        state = info.get("cluster_state", info.get(b"cluster_state"))
        return state in ("ok", b"ok")
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text


def _wait_cluster_ok(servers: list[RedisServer], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        infos = [s.client().execute_command("CLUSTER INFO") for s in servers]
        if all(_cluster_ok(info) for info in infos):
            return
        time.sleep(0.1)
    raise AssertionError("cluster did not reach cluster_state:ok")


@pytest.mark.redis
def test_single_node_cluster_reply(redis_factory: Callable[..., RedisServer]) -> None:
    server = redis_factory(cluster=True)
    client = server.client()
    client.execute_command("CLUSTER ADDSLOTSRANGE", 0, 100)
    partial = client.execute_command("CLUSTER SLOTS")
    with pytest.raises(ConfigurationError, match="slots 101-16383 are not assigned"):
        shardwise.RedisClusterSlots.from_cluster_slots(partial, default_host="127.0.0.1")
    client.execute_command("CLUSTER ADDSLOTSRANGE", 101, 16383)
    _wait_cluster_ok([server])
    name = f"127.0.0.1:{server.port}"
    for reply, build in [
        (client.execute_command("CLUSTER SLOTS"), shardwise.RedisClusterSlots.from_cluster_slots),
        (client.execute_command("CLUSTER SHARDS"), shardwise.RedisClusterSlots.from_cluster_shards),
        (client.execute_command("CLUSTER SHARDS"), pure.RedisClusterSlots.from_cluster_shards),
    ]:
        r = build(reply, default_host="127.0.0.1")
        assert r.nodes == (name,) and r.slot_ranges == [(0, 16383, name)]
        assert set(r.place(KEYS[:200]).tolist()) == {0}
    # The slot we compute is the slot Redis computes.
    sample = [*KEYS[::15], "a{b}c", "{}x", "ключ", "{{x}}"]
    want = [client.execute_command("CLUSTER KEYSLOT", k) for k in sample]
    assert [shardwise.RedisClusterSlots.slot_of(k) for k in sample] == want
    client.set("probe", "1")
    assert client.get("probe") == b"1"


@pytest.mark.redis
@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="needs redis-cli")
def test_three_master_cluster_stores_and_redirects_as_placed(
    redis_factory: Callable[..., RedisServer],
) -> None:
    servers = [redis_factory(cluster=True) for _ in range(3)]
    addresses = [f"127.0.0.1:{s.port}" for s in servers]
    subprocess.run(
        ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
        check=True, capture_output=True, timeout=60,
    )
    _wait_cluster_ok(servers)
    client = {a: s.client() for a, s in zip(addresses, servers, strict=True)}
    shards_reply = client[addresses[0]].execute_command("CLUSTER SHARDS")
    slots_reply = client[addresses[1]].execute_command("CLUSTER SLOTS")
    shards = shardwise.RedisClusterSlots.from_cluster_shards(shards_reply)
    slots = shardwise.RedisClusterSlots.from_cluster_slots(slots_reply)
    assert shards == slots and sorted(shards.nodes) == sorted(addresses)
    keys = KEYS[:600]
    placed = [shards.nodes[i] for i in shards.place(keys)]
    assert len(set(placed)) == 3
    for i, (key, owner) in enumerate(zip(keys, placed, strict=True)):
        assert client[owner].set(key, i)  # the node we name accepts the key
        other = addresses[(addresses.index(owner) + 1) % 3]
        with pytest.raises(redis.ResponseError) as moved:
            client[other].get(key)
        *_, slot, target = str(moved.value).split()  # "[MOVED] <slot> <host:port>"
        assert (int(slot), target) == (shardwise.RedisClusterSlots.slot_of(key), owner)
    counts = np.bincount(shards.place(keys), minlength=3)
    assert [client[n].dbsize() for n in shards.nodes] == counts.tolist()
