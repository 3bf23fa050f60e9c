"""`shardwise lock` driven as a user would, against a real redis-server."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest
from cli_support import assert_one_line_error, popen_cli, run_cli
from redis_support import RedisServer

pytestmark = pytest.mark.redis

# A critical section: appends "start <time> <fencing token>", holds until a go-file appears (at
# most 20 s), then appends "end <time>".
SECTION = """
import os, sys, time
path, go = sys.argv[1], sys.argv[2]
token = os.environ["SHARDWISE_FENCING_TOKEN"]
with open(path, "a") as f:
    f.write(f"start {time.time()} {token}\\n")
deadline = time.time() + 20
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.01)
with open(path, "a") as f:
    f.write(f"end {time.time()}\\n")
"""


def wait_until(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_second_lock_is_excluded_and_waits(redis_server: RedisServer, tmp_path: Path) -> None:
    log, go = tmp_path / "section.log", tmp_path / "go"
    client = redis_server.client()
    first = popen_cli(
        "lock", "--redis", redis_server.url, "job", "--", sys.executable, "-c", SECTION, str(log), str(go)
    )
    try:
        wait_until(lambda: log.exists(), 15)
        assert client.exists("shardwise:lock:{job}")
        # A second lock with a short timeout gives up with exit 3 and one line.
        refused = run_cli("lock", "--redis", redis_server.url, "--timeout", "0.3", "job", "--", "true")
        assert refused.returncode == 3
        assert_one_line_error(refused, "'job'", "held by another process")
        # A second lock that waits runs only after the first has finished.
        second = popen_cli(
            "lock", "--redis", redis_server.url, "job", "--", sys.executable, "-c", SECTION, str(log), str(go)
        )
        time.sleep(1.0)  # the waiter is blocked meanwhile
        assert len(log.read_text().splitlines()) == 1
        go.touch()
        assert first.wait(20) == 0, first.stderr.read() if first.stderr else ""
        assert second.wait(20) == 0
    finally:
        first.kill()
    lines = [line.split() for line in log.read_text().splitlines()]
    assert [line[0] for line in lines] == ["start", "end", "start", "end"]
    first_end, second_start = float(lines[1][1]), float(lines[2][1])
    assert second_start >= first_end
    assert int(lines[2][2]) > int(lines[0][2])  # fencing tokens grow
    assert not client.exists("shardwise:lock:{job}")


def test_exit_status_and_environment(redis_server: RedisServer) -> None:
    script = (
        "import os, sys; "
        "print(os.environ['SHARDWISE_LOCK_NAME'], os.environ['SHARDWISE_FENCING_TOKEN']); sys.exit(7)"
    )
    result = run_cli("lock", "--redis", redis_server.url, "-v", "nightly", "--", sys.executable, "-c", script)
    assert result.returncode == 7
    name, token = result.stdout.split()
    assert name == "nightly" and int(token) >= 1
    assert "acquired 'nightly'" in result.stderr and "exited with 7" in result.stderr
    assert not redis_server.client().exists("shardwise:lock:{nightly}")


def test_lost_lock_stops_the_command(redis_server: RedisServer, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    proc = popen_cli(
        "lock",
        "--redis",
        redis_server.url,
        "--ttl",
        "0.9",
        "--grace",
        "1",
        "job",
        "--",
        sys.executable,
        "-c",
        script,
    )
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), 15)
        child = int(pid_file.read_text())
        redis_server.client().delete("shardwise:lock:{job}")
        code = proc.wait(10)
        stderr = proc.stderr.read() if proc.stderr else ""
    finally:
        proc.kill()
    assert code == 4
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "lost lock 'job'" in lines[0] and "command stopped" in lines[0], stderr
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_unreachable_redis_is_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_cli("lock", "--redis", f"redis://:hunter2@127.0.0.1:{port}/0", "job", "--", "true")
    assert result.returncode == 1
    assert_one_line_error(result, "cannot reach Redis", ":***@")
    assert "hunter2" not in result.stderr  # the password never shows


@pytest.mark.parametrize(
    ("args", "needles", "code"),
    [
        (["--redis", "foo://x", "job", "--", "true"], ["--redis"], 2),
        (["job"], ["no command"], 2),
        (["--ttl", "0", "job", "--", "true"], ["--ttl"], 2),
        (["--timeout", "-1", "job", "--", "true"], ["--timeout"], 2),
        (["job", "--", "/no/such/command"], ["cannot run"], 127),
    ],
)
def test_errors_are_one_line(
    redis_server: RedisServer, args: list[str], needles: list[str], code: int
) -> None:
    argv = args if args[0] == "--redis" else ["--redis", redis_server.url, *args]
    result = run_cli("lock", *argv)
    assert result.returncode == code
    assert_one_line_error(result, *needles)


def test_help_has_examples() -> None:
    result = run_cli("lock", "--help")
    assert (
        result.returncode == 0 and "-- ./make-report.sh" in result.stdout and "exit status" in result.stdout
    )
