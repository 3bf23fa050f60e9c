"""``redis_slot`` against a real redis-server in cluster mode (``CLUSTER KEYSLOT``)."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest
import shardwise.hashing as rust
import shardwise.pure.hashing as pure
from redis_support import RedisServer

pytestmark = pytest.mark.redis

EDGE_KEYS: list[bytes] = [
    b"",
    b"{}",
    b"{{a}}",
    b"a{}b{c}",
    b"{a}{b}",
    b"}{",
    b"}{a}",
    b"{",
    b"}",
    b"{{}}",
    b"{}{a}",
    b"a{b",
    b"a}b{c}",
    b"{user1000}.following",
    b"{user1000}.followers",
    b"foo{}{bar}",
    b"foo{{bar}}zap",
    b"foo{bar}{zap}",
    b"123456789",
    b"\x00",
    b"{\x00}",
    b"\xff{\xfe}",
    "日本{語}".encode(),
    "{ключ}:1".encode(),
    "emoji🎉{🎉}".encode(),
    b"x" * 1000,
    b"{" + b"y" * 500 + b"}",
]


def random_keys(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    alphabet = b"ab{}{}\x00\xff:x"
    keys = []
    for i in range(n):
        kind = i % 4
        if kind == 0:  # brace-heavy short keys: every tag rule gets exercised
            keys.append(bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))))
        elif kind == 1:  # arbitrary binary
            keys.append(rng.randbytes(rng.randrange(0, 40)))
        elif kind == 2:  # realistic tagged keys
            keys.append(f"{{user{rng.randrange(10**6)}}}:field{rng.randrange(100)}".encode())
        else:  # non-ASCII text
            chars = [chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x400, 0x4FF), 0x1F600]))
                     for _ in range(rng.randrange(0, 10))]
            keys.append("".join(chars).encode())
    return keys


def keyslots(server: RedisServer, keys: list[bytes]) -> list[int]:
    client = server.client()
    try:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("CLUSTER", "KEYSLOT", key)
        return [int(v) for v in pipe.execute()]
    finally:
        client.close()


@pytest.mark.timeout(120)
def test_redis_slot_matches_cluster_keyslot(redis_factory: Callable[..., RedisServer]) -> None:
    server = redis_factory(cluster=True)
    keys = EDGE_KEYS + random_keys(4000, seed=2)
    expected = keyslots(server, keys)
    assert rust.redis_slot_many(keys).tolist() == expected
    assert [rust.redis_slot(k) for k in keys] == expected
    assert pure.redis_slot_many(keys).tolist() == expected
    assert [pure.redis_slot(k) for k in keys] == expected
    # The same keys as an object array and (where NUL-free at the end) as an S array.
    assert rust.redis_slot_many(np.array(keys, dtype=object)).tolist() == expected
    kept = [i for i, k in enumerate(keys) if not k.endswith(b"\x00")]
    as_s = np.array([keys[i] for i in kept], dtype="S")
    assert rust.redis_slot_many(as_s).tolist() == [expected[i] for i in kept]


@pytest.mark.timeout(120)
def test_redis_slot_str_and_int_keys_match_cluster(redis_factory: Callable[..., RedisServer]) -> None:
    server = redis_factory(cluster=True)
    texts = [k.decode() for k in EDGE_KEYS if k.isascii() or _is_utf8(k)]
    assert len(texts) > 20
    expected = keyslots(server, [t.encode() for t in texts])
    for module in (rust, pure):
        assert module.redis_slot_many(texts).tolist() == expected
        # A numpy U array cannot hold a trailing NUL, so those keys are left out there.
        kept = [(t, e) for t, e in zip(texts, expected, strict=True) if not t.endswith("\x00")]
        as_u = np.array([t for t, _ in kept])
        assert module.redis_slot_many(as_u).tolist() == [e for _, e in kept]
    ints = [0, 1, -1, 2**63, 2**64 - 1, 12345678901234]
    expected_ints = keyslots(server, [(v % 2**64).to_bytes(8, "little") for v in ints])
    assert rust.redis_slot_many(ints).tolist() == expected_ints
    assert pure.redis_slot_many(np.array(ints[:3], dtype=np.int64)).tolist() == expected_ints[:3]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True
