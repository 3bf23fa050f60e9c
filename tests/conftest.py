"""Shared fixtures. Tests run against the installed wheel, never the source tree."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from redis_support import RedisServer

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_sessionstart(session: pytest.Session) -> None:
    import shardwise

    source = Path(__file__).resolve().parent.parent / "python"
    from_source = Path(shardwise.__file__).resolve().is_relative_to(source)
    if from_source and not os.environ.get("SHARDWISE_ALLOW_SOURCE"):
        raise pytest.UsageError(
            f"shardwise was imported from the source tree ({shardwise.__file__}); "
            "install the wheel (see .ci/run) or set SHARDWISE_ALLOW_SOURCE=1 for an editable dev install"
        )


@pytest.fixture
def redis_factory() -> Iterator[Callable[..., RedisServer]]:
    """Start any number of redis-server processes; all are stopped at teardown."""
    started: list[RedisServer] = []

    def start(**kwargs: object) -> RedisServer:
        server = RedisServer(**kwargs).start()  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def redis_server(redis_factory: Callable[..., RedisServer]) -> RedisServer:
    """One fresh redis-server for this test."""
    return redis_factory()
