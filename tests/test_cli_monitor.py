"""`shardwise monitor CONFIG.toml` driven as a user would: events on stdout, clean stop on signals."""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import assert_one_line_error, popen_cli, run_cli
from redis_support import RedisServer

SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept(); c.close()
"""


def start_tcp_server() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, port


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def line_reader(stream: object) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for(lines: queue.Queue[str], needle: str, timeout: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} not seen within {timeout}s; got {seen}")


ONE_NODE = '[nodes.a]\ntcp = "127.0.0.1:1"\n'


def write_config(path: Path, port: int, extra: str = "") -> Path:
    path.write_text(
        f"""
[defaults]
interval = 0.1
timeout = 0.3
rise = 2
fall = 2

[nodes.cache-a]
tcp = "127.0.0.1:{port}"
{extra}
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_down_event_when_server_is_killed(tmp_path: Path, sig: signal.Signals) -> None:
    server, port = start_tcp_server()
    config = write_config(tmp_path / "monitor.toml", port)
    monitor = popen_cli("monitor", str(config))
    try:
        out = line_reader(monitor.stdout)
        err = line_reader(monitor.stderr)
        wait_for(err, "watching 1 nodes", 10)
        time.sleep(0.5)  # healthy meanwhile: no event
        assert out.empty()
        server.kill()
        server.wait()
        seen = wait_for(out, "-> down", 5)
        assert any("cache-a: up -> suspect" in line for line in seen)
        assert "cache-a: suspect -> down" in seen[-1] and "refused" in seen[-1].lower()
        monitor.send_signal(sig)
        assert monitor.wait(10) == 0
        wait_for(err, f"stopped on {sig.name}", 5)
    finally:
        server.kill()
        monitor.kill()
        monitor.wait()


def test_recovery_and_json_lines(tmp_path: Path) -> None:
    port = closed_port()
    config = write_config(tmp_path / "monitor.toml", port, 'initial = "down"')
    result = run_cli("monitor", str(config), "--json", "--duration", "0.8")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # starts down and stays down: no state change
    server, port = start_tcp_server()
    try:
        config = write_config(tmp_path / "monitor.toml", port, 'initial = "down"')
        result = run_cli("monitor", str(config), "--json", "--duration", "1.5")
    finally:
        server.kill()
        server.wait()
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    changes = [(e["type"], e["old"], e["new"]) for e in events]
    assert changes == [("node", "down", "recovering"), ("node", "recovering", "up")]
    assert all(e["node"] == "cache-a" and e["time"].endswith("Z") for e in events)


@pytest.mark.redis
def test_group_promotes_the_replica_when_the_primary_dies(
    redis_factory: Callable[..., RedisServer], tmp_path: Path
) -> None:
    primary, replica, coordination = redis_factory(), redis_factory(), redis_factory()
    replica.client().replicaof("127.0.0.1", primary.port)
    config = tmp_path / "monitor.toml"
    config.write_text(
        f"""
[defaults]
interval = 0.1
timeout = 0.3
rise = 2
fall = 2

[nodes.r1]
redis = "{primary.url}"
[nodes.r2]
redis = "{replica.url}"

[groups.cache]
primary = "r1"
backups = ["r2"]
promote = "redis"

[coordination]
redis = "{coordination.url}"
name = "cli-test"
ttl = 1.0
"""
    )
    monitor = popen_cli("monitor", str(config), "--json")
    try:
        out = line_reader(monitor.stdout)
        wait_for(out, '"type": "leader"', 15)
        primary.kill()
        seen = wait_for(out, '"type": "promotion"', 10)
        promotion = json.loads(seen[-1])
        assert promotion["group"] == "cache" and promotion["new"] == "r2" and promotion["old"] == "r1"
        assert isinstance(promotion["token"], int)
        assert any('"new": "down"' in line and '"r1"' in line for line in seen)
        assert replica.client().info("replication")["role"] == "master"
        monitor.send_signal(signal.SIGTERM)
        assert monitor.wait(10) == 0
    finally:
        monitor.kill()
        monitor.wait()


def test_check_lists_the_nodes(tmp_path: Path) -> None:
    config = tmp_path / "m.toml"
    config.write_text(
        '[nodes.a]\ntcp = "127.0.0.1:6379"\n'
        '[nodes.b]\nhttp = "http://127.0.0.1:8080/h"\nexpect = [200, 204]\n'
        '[nodes.c]\nredis = "redis://127.0.0.1:6380/0"\n'
        '[nodes.d]\nredis = "redis://:s3cret@127.0.0.1:6381/2"\n'
    )
    result = run_cli("monitor", str(config), "--check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "a: TcpCheck('127.0.0.1', 6379)",
        "b: HttpCheck('http://127.0.0.1:8080/h')",
        "c: RedisCheck('redis://127.0.0.1:6380/0')",
        "d: RedisCheck('redis://:***@127.0.0.1:6381/2')",
    ]
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ('[defaults]\nrise = 1.7\n[nodes.a]\ntcp = "127.0.0.1:1"\n', ["[defaults]", "rise", "integer"]),
        ('[nodes.a]\ntcp = "127.0.0.1:1"\nfall = 2.5\n', ["[nodes.a]", "fall", "integer"]),
        ('[nodes.a]\ntcp = "127.0.0.1:1"\ninterval = true\n', ["[nodes.a]", "interval", "number"]),
        ('[defaults]\ntimeout = "1"\n[nodes.a]\ntcp = "127.0.0.1:1"\n', ["[defaults]", "timeout", "number"]),
        (
            f'{ONE_NODE}[nodes.b]\ntcp = "127.0.0.1:2"\n[groups.g]\nprimary = "a"\nbackups = ["b"]\n'
            "failback_after = true\n",
            ["[groups.g]", "failback_after"],
        ),
        ('[nodes.a]\nredis = "redis://127.0.0.1:99999/0"\n', ["[nodes.a]", "port"]),
        ('[nodes.a]\nredis = "redis://127.0.0.1:6379/zero"\n', ["[nodes.a]", "database number"]),
        ('[nodes.a]\nredis = "redis://:s3cret@127.0.0.1:99999/0"\n', ["[nodes.a]", "port", "***"]),
        ('[nodes.a]\nhttp = "http://127.0.0.1:99999/h"\n', ["[nodes.a]", "port"]),
        (
            '[nodes.a]\ntcp = "127.0.0.1:1"\n[coordination]\nredis = "redis://127.0.0.1:6379/x"\n',
            ["[coordination]", "database number"],
        ),
        (f'{ONE_NODE}[coordination]\nredis = "redis://127.0.0.1:1/0"\nttl = inf\n', ["coordination", "ttl"]),
        (f'{ONE_NODE}[coordination]\nredis = "redis://127.0.0.1:1/0"\nttl = 0\n', ["coordination", "ttl"]),
    ],
)
def test_check_refuses_settings_it_would_change_or_cannot_use(
    tmp_path: Path, text: str, needles: list[str]
) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(text)
    line = assert_one_line_error(run_cli("monitor", str(config), "--check"), *needles)
    assert "s3cret" not in line


@pytest.mark.redis
def test_library_log_lines_are_formatted_and_shown_with_verbose(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    server, port = start_tcp_server()
    try:
        config = write_config(
            tmp_path / "monitor.toml",
            port,
            f'[coordination]\nredis = "{redis_server.url}"\nname = "logs"\nttl = 1.0\n',
        )
        quiet = run_cli("monitor", str(config), "--duration", "1.0")
        assert quiet.returncode == 0, quiet.stderr
        assert "this process is now the leader" in quiet.stdout
        # by default only the command's own lines: no bare library records ("7f1d...: elected leader")
        own = [line.split(":")[0] for line in quiet.stderr.splitlines()]
        assert own == ["shardwise monitor"] * 2, quiet.stderr
        verbose = run_cli("monitor", str(config), "--duration", "1.0", "-v")
    finally:
        server.kill()
        server.wait()
    assert verbose.returncode == 0, verbose.stderr
    library = [line for line in verbose.stderr.splitlines() if not line.startswith("shardwise monitor:")]
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    record = re.compile(stamp + r" (DEBUG|INFO|WARNING|ERROR) shardwise[.\w]*: ")
    assert library and all(record.match(line) for line in library), verbose.stderr
    elected = re.compile(stamp + r" INFO shardwise\.failover: \S+: elected leader with token \d+$")
    assert any(elected.match(line) for line in library), verbose.stderr


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (None, ["does not exist"]),
        ("[nodes.a\n", ["invalid TOML"]),
        ("", ["no nodes"]),
        ('[nodes.a]\nping = "x"\n', ["unknown setting 'ping'"]),
        ("[nodes.a]\ninterval = 1\n", ["exactly one check"]),
        ('[nodes.a]\ntcp = "localhost"\n', ["HOST:PORT"]),
        ('[nodes.a]\ntcp = "127.0.0.1:70000"\n', ["port"]),
        ('[nodes.a]\nhttp = "ftp://x"\n', ["http"]),
        ('[nodes.a]\nredis = "http://x"\n', ["redis://"]),
        ('[nodes.a]\ntcp = "127.0.0.1:1"\ninterval = -1\n', ["interval"]),
        ('[nodes.a]\ntcp = "127.0.0.1:1"\nrise = 0\n', ["rise"]),
        ('[defaults]\nintervall = 1\n[nodes.a]\ntcp = "127.0.0.1:1"\n', ["intervall"]),
        ('[nodes.a]\nhttp = "http://127.0.0.1:1/"\nexpect = [500, 200]\n', ["expect"]),
        ('[nodes.a]\ntcp = "127.0.0.1:1"\n[other]\nx = 1\n', ["unknown setting 'other'"]),
        (
            '[nodes.a]\ntcp = "127.0.0.1:1"\n[groups.g]\nprimary = "a"\nbackups = ["b"]\n',
            ["'b' is not a node"],
        ),
        (
            '[nodes.a]\ntcp = "127.0.0.1:1"\n[nodes.b]\ntcp = "127.0.0.1:2"\n[groups.g]\nprimary = "a"\n'
            'backups = ["b"]\npromote = "redis"\n',
            ["needs redis nodes"],
        ),
        (
            '[nodes.a]\ntcp = "127.0.0.1:1"\n[coordination]\nredis = "redis://127.0.0.1:1/0"\n',
            ["cannot reach the coordination Redis"],
        ),
    ],
)
def test_config_errors_are_one_line(tmp_path: Path, text: str | None, needles: list[str]) -> None:
    config = tmp_path / "monitor.toml"
    if text is not None:
        config.write_text(text)
    assert_one_line_error(run_cli("monitor", str(config)), *needles)


def test_help_has_example_config() -> None:
    result = run_cli("monitor", "--help")
    assert result.returncode == 0 and "[nodes.cache-a]" in result.stdout and "examples:" in result.stdout
