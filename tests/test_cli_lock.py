"""`shardwise lock` driven as a user would, against a real redis-server."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_support import assert_one_line_error, cli_env, live_processes, popen_cli, process_start, run_cli
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


# A command whose real work is in grandchildren: background jobs, one in its own session, and an
# orphan in its own session (its parent subshell exits at once). Writes the shell's pid, then
# theirs. Its output goes to /dev/null so that nothing left running holds the test's pipes.
TREE = (
    'exec >/dev/null 2>&1; echo $$ >> "$1"; '
    'sleep 1000 & echo $! >> "$1"; '
    'setsid sleep 1000 & echo $! >> "$1"; '
    '(setsid sleep 1000 & echo $! >> "$1"); '
    'sleep 1000 & echo $! >> "$1"; wait'
)


class Tree:
    """The processes of one TREE command: pid -> start time; ``group`` is the shell's pid."""

    def __init__(self, pid_file: Path) -> None:
        wait_until(lambda: pid_file.exists() and len(pid_file.read_text().split()) == 5, 20)
        pids = [int(p) for p in pid_file.read_text().split()]
        self.group = pids[0]
        self.starts = {pid: process_start(pid) for pid in pids}
        assert all(self.starts.values()), self.starts

    def live(self) -> list[int]:
        return live_processes(self.starts, self.group)  # type: ignore[arg-type]

    def wait_gone(self, timeout: float = 20) -> list[int]:
        deadline = time.monotonic() + timeout
        while (left := self.live()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return left

    def kill_leftovers(self) -> None:
        for pid in self.live():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def start_tree(server: RedisServer, tmp_path: Path, *options: str) -> tuple[subprocess.Popen[str], Path]:
    pid_file = tmp_path / "pids"
    proc = popen_cli(
        "lock", "--redis", server.url, *options, "job", "--", "sh", "-c", TREE, "sh", str(pid_file)
    )
    return proc, pid_file


@pytest.mark.parametrize("fault", ["key deleted", "server paused past the ttl"])
def test_lost_lock_stops_the_whole_tree(redis_server: RedisServer, tmp_path: Path, fault: str) -> None:
    proc, pid_file = start_tree(redis_server, tmp_path, "--ttl", "1", "--grace", "1")
    tree = None
    try:
        tree = Tree(pid_file)
        if fault == "key deleted":
            redis_server.client().delete("shardwise:lock:{job}")
        else:
            redis_server.pause()
        code = proc.wait(20)
        stderr = proc.stderr.read() if proc.stderr else ""
        left = tree.live()  # the wrapper returns only once the tree is gone
    finally:
        redis_server.resume()
        proc.kill()
        if tree is not None:
            tree.kill_leftovers()
    assert code == 4, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "lost lock 'job'" in lines[0] and "command stopped" in lines[0], stderr
    assert left == [], f"still running after the wrapper exited: {left}"


def test_sigterm_stops_the_tree_before_the_release(redis_server: RedisServer, tmp_path: Path) -> None:
    client = redis_server.client()
    proc, pid_file = start_tree(redis_server, tmp_path, "--grace", "2")
    tree = None
    try:
        tree = Tree(pid_file)
        proc.send_signal(signal.SIGTERM)
        # Watch the key: once it is gone (released), no process of the command may be left.
        deadline = time.monotonic() + 20
        while client.exists("shardwise:lock:{job}") and time.monotonic() < deadline:
            time.sleep(0.01)
        left_at_release = tree.live()
        code = proc.wait(20)
    finally:
        proc.kill()
        if tree is not None:
            tree.kill_leftovers()
    assert not client.exists("shardwise:lock:{job}")
    assert left_at_release == [], f"lock released while these ran: {left_at_release}"
    assert code == 128 + signal.SIGTERM  # the shell died of the SIGTERM


# Run under a second lock: reports which of the first command's processes are still alive.
PROBE = """
import sys
from cli_support import live_processes
starts = {int(p): int(s) for p, s in (item.split(":") for item in sys.argv[2].split(","))}
print("alive:", live_processes(starts, int(sys.argv[1])))
"""


def test_sigkill_of_the_wrapper_kills_the_tree(redis_server: RedisServer, tmp_path: Path) -> None:
    proc, pid_file = start_tree(redis_server, tmp_path, "--ttl", "2")
    tree = None
    try:
        tree = Tree(pid_file)
        proc.kill()
        proc.wait(10)
        started = ",".join(f"{pid}:{start}" for pid, start in tree.starts.items())
        # A second holder gets the lock once the first's key expires; its command must not run
        # beside any process of the first command.
        second = run_cli(
            "lock", "--redis", redis_server.url, "--timeout", "30", "job", "--",
            sys.executable, "-c", PROBE, str(tree.group), started,
        )  # fmt: skip
        left = tree.wait_gone()
    finally:
        if tree is not None:
            tree.kill_leftovers()
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "alive: []"
    assert left == []


def test_what_the_command_leaves_behind_is_stopped_before_the_release(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    script = (
        'exec >/dev/null 2>&1; sleep 1000 & echo $! >> "$1"; (setsid sleep 1000 & echo $! >> "$1"); exit 5'
    )
    result = run_cli(
        "lock",
        "--redis",
        redis_server.url,
        "--grace",
        "1",
        "job",
        "--",
        "sh",
        "-c",
        script,
        "sh",
        str(pid_file),
    )
    pids = [int(p) for p in pid_file.read_text().split()]
    alive = [pid for pid in pids if process_start(pid) is not None]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert result.returncode == 5, result.stderr
    assert len(pids) == 2 and alive == []
    assert not redis_server.client().exists("shardwise:lock:{job}")


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


def test_command_gets_the_terminal_and_ctrl_c(redis_server: RedisServer) -> None:
    """In a terminal the command's group is made the foreground one (so it can read the terminal
    and gets Ctrl-C), and the terminal is handed back when it ends."""
    inner = (
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "print('got:' + input()); print('ready', flush=True); time.sleep(60)"
    )
    lock = [sys.executable, "-m", "shardwise", "lock", "--redis", redis_server.url, "job", "--"]
    outer = f'{shlex.join([*lock, sys.executable, "-c", inner])}; echo "status:$?"; read y; echo "after:$y"'
    pid, master = pty.fork()
    if pid == 0:  # the child: a session leader whose controlling terminal is the pty
        os.execvpe("sh", ["sh", "-c", outer], cli_env())
    seen = b""

    def expect(text: str) -> None:
        nonlocal seen
        deadline = time.monotonic() + 20
        while text.encode() not in seen:
            assert time.monotonic() < deadline, f"no {text!r} in {seen!r}"
            if select.select([master], [], [], 0.1)[0]:
                with contextlib.suppress(OSError):
                    seen += os.read(master, 4096)

    try:
        os.write(master, b"hello\n")
        expect("got:hello")
        expect("ready")
        os.write(master, b"\x03")  # Ctrl-C: SIGINT to the foreground group, the command's
        expect("status:130")
        os.write(master, b"world\n")  # the outer shell reads the terminal again
        expect("after:world")
        assert os.waitpid(pid, 0)[1] == 0
    finally:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(master)
    assert not redis_server.client().exists("shardwise:lock:{job}")
