"""AsyncMonitor on the event loop against real servers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from failover_servers import HttpServer, TcpServer
from redis_support import RedisServer
from shardwise import AsyncMonitor, CallableCheck, HttpCheck, NodeEvent, NodeState, RedisCheck, TcpCheck


async def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


def test_async_monitor_detects_down_and_up(redis_server: RedisServer) -> None:
    tcp = TcpServer().start()
    http = HttpServer().start()

    async def scenario() -> None:
        seen: list[NodeEvent] = []
        async_seen: list[NodeEvent] = []

        async def async_listener(event: NodeEvent) -> None:
            await asyncio.sleep(0)
            async_seen.append(event)

        interval, timeout, fall = 0.1, 0.3, 2
        async with AsyncMonitor(interval=interval, timeout=timeout, rise=2, fall=fall) as monitor:
            monitor.add_listener(seen.append)
            monitor.add_listener(async_listener)
            stream = monitor.events()
            monitor.add_node("tcp", TcpCheck("127.0.0.1", tcp.port))
            monitor.add_node("http", HttpCheck(http.url))
            monitor.add_node("redis", RedisCheck(redis_server.client()))
            await asyncio.sleep(0.4)
            assert monitor.states() == dict.fromkeys(("tcp", "http", "redis"), NodeState.UP)
            killed = time.monotonic()
            tcp.kill()
            http.kill()
            assert await wait_for(
                lambda: monitor.state("tcp") is NodeState.DOWN and monitor.state("http") is NodeState.DOWN, 5
            )
            assert time.monotonic() - killed <= fall * interval + timeout + 0.75
            tcp.start()
            assert await wait_for(lambda: monitor.state("tcp") is NodeState.UP, 5)
            first = await asyncio.wait_for(stream.__aiter__().__anext__(), 2)
            assert first.new is NodeState.SUSPECT or first.new is NodeState.DOWN
        assert {(e.node, e.new) for e in seen} >= {("tcp", NodeState.DOWN), ("http", NodeState.DOWN)}
        assert [(e.node, e.new) for e in async_seen] == [(e.node, e.new) for e in seen]
        assert not monitor.running

    try:
        asyncio.run(scenario())
    finally:
        tcp.kill()
        http.kill()


def test_async_callable_check_timeout() -> None:
    async def slow() -> bool:
        await asyncio.sleep(5)
        return True

    async def scenario() -> None:
        async with AsyncMonitor(interval=0.05, timeout=0.1, rise=1, fall=1) as monitor:
            monitor.add_node("slow", CallableCheck(slow))
            assert await wait_for(lambda: monitor.state("slow") is NodeState.DOWN, 3)
            assert "timed out" in monitor.reason("slow")
            with pytest.raises(RuntimeError):
                await monitor.start()

    asyncio.run(scenario())
