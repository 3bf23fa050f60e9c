"""The README's Python snippets run as written (the Redis one against a real redis-server)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from redis_support import RedisServer
from shardwise import FailoverGroup

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PYPI_DESCRIPTION = ROOT / "docs" / "pypi.md"


def snippets(path: Path = README) -> dict[str, str]:
    """Python blocks by the heading they stand under."""
    found: dict[str, str] = {}
    heading = ""
    for block in re.split(r"^(#+ .*)$", path.read_text(encoding="utf-8"), flags=re.M):
        if block.startswith("#"):
            heading = block.lstrip("# ").strip()
            continue
        for code in re.findall(r"```python\n(.*?)```", block, flags=re.S):
            found[heading] = code
    return found


def test_readme_has_the_tour() -> None:
    tour = {"Hashing with numpy", "Placing keys", "Choosing a backend", "Locking with Redis"}
    assert tour <= set(snippets())


RUNNABLE = [
    "Hashing with numpy",
    "Placing keys",
    "Migrating from uhashring or libketama",
    "Columns: pandas, polars and Arrow",
    "Scaling out with Dask",
    "Choosing a backend",
]


@pytest.mark.parametrize("heading", RUNNABLE)
def test_snippet_runs(heading: str) -> None:
    exec(compile(snippets()[heading], f"README:{heading}", "exec"), {})


def test_movement_comment_matches_the_weighted_example() -> None:
    namespace: dict[str, object] = {}
    exec(compile(snippets()["Placing keys"], "README:Placing keys", "exec"), namespace)
    fraction = namespace["plan"].fraction  # type: ignore[attr-defined]
    assert abs(fraction - 0.2) < 0.03, fraction  # the new node's weight share, 1 of 5


def test_pypi_description_snippet_runs() -> None:
    (code,) = snippets(PYPI_DESCRIPTION).values()
    exec(compile(code, "pypi.md", "exec"), {})


def test_lock_snippet_runs_against_redis(redis_factory: Callable[..., RedisServer]) -> None:
    server = redis_factory()
    code = snippets()["Locking with Redis"]
    assert "redis.Redis(socket_timeout=5)" in code
    code = code.replace("redis.Redis(socket_timeout=5)", f"redis.Redis(port={server.port}, socket_timeout=5)")
    exec(compile(code, "README:lock", "exec"), {})
    assert server.client().exists("shardwise:lock:{nightly-report}") == 0  # released at block end


def test_failover_snippet_fails_over(redis_factory: Callable[..., RedisServer]) -> None:
    """The snippet as written, on three real servers: killing r1 promotes a replica while it serves."""
    servers = [redis_factory() for _ in range(3)]
    for replica in servers[1:]:
        replica.client().replicaof("127.0.0.1", servers[0].port)
    code = snippets()["Failing over"]
    for default, server in zip((6379, 6380, 6381), servers, strict=True):
        assert f"{default})" in code
        code = code.replace(f"{default})", f"{server.port})")
    code = code.replace("Monitor(interval=1.0, timeout=0.5,", "Monitor(interval=0.1, timeout=0.5,")
    assert "signal.pause()" in code
    # stand-in for the wait: kill the primary, then return once the group has promoted a replica
    code = code.replace("signal.pause()", "kill_primary(); promoted(group)")

    def promoted(group: FailoverGroup) -> None:
        deadline = time.monotonic() + 20
        while group.primary == "r1":
            assert time.monotonic() < deadline, "no replica was promoted within 20 s"
            time.sleep(0.05)

    namespace: dict[str, object] = {"kill_primary": servers[0].kill, "promoted": promoted}
    exec(compile(code, "README:Failing over", "exec"), namespace)
    new_primary = {"r2": servers[1], "r3": servers[2]}[namespace["group"].primary]  # type: ignore[attr-defined]
    assert new_primary.client().info("replication")["role"] == "master"
