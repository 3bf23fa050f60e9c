"""``shardwise lock``: run a command while holding a Redis lock (auto-renewed)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from shardwise.cli._common import (
    EXIT_LOCK_LOST,
    EXIT_LOCK_NOT_ACQUIRED,
    CliError,
    HelpFormatter,
    UsageError,
    non_negative_float,
    positive_float,
    redact_url,
)

EPILOG = """\
examples:
  shardwise lock --redis redis://127.0.0.1:6379/0 nightly-report -- ./make-report.sh --full
  shardwise lock --redis redis://cache:6379/0 --timeout 0 backup -- pg_dump -f db.sql mydb
  shardwise lock --redis rediss://:secret@host:6380/0 --ttl 30 --timeout 600 migrate -- alembic upgrade head

The lock (shardwise.RedisLock) is taken with SET NX + a fencing counter, renewed every ttl/3 while
the command runs, and released when it ends. The command gets SHARDWISE_LOCK_NAME and
SHARDWISE_FENCING_TOKEN in its environment (the token grows with every acquisition: pass it to
storage that can refuse stale writers). The command runs in its own process group under a
supervisor process; signals go to its whole process tree. If the lock is lost (key deleted or
expired, Redis gone past the TTL), or shardwise lock gets SIGTERM/SIGHUP, every process of the
command gets that signal, then SIGKILL after --grace seconds; if shardwise lock is killed, the
supervisor kills the tree at once. What the command leaves running when it exits is stopped the
same way. The lock is released only once no process of the command is left.

exit status: the command's own; 3 if the lock could not be acquired in time; 4 if it was lost;
1 for other errors (Redis unreachable...); 2 for bad options; 127 if the command is not found."""

ENV_NAME = "SHARDWISE_LOCK_NAME"
ENV_TOKEN = "SHARDWISE_FENCING_TOKEN"
SUPERVISOR = Path(__file__).with_name("_supervisor.py")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lock",
        help="run a command while holding a Redis lock (auto-renewed)",
        description="Take a cluster-wide lock in Redis, run COMMAND while holding it (renewed "
        "automatically), release it when COMMAND ends, and exit with COMMAND's status.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--redis", required=True, metavar="URL", help="redis:// or rediss:// URL of the master"
    )
    parser.add_argument(
        "--ttl",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="lock time-to-live; renewed every ttl/3 (default: 10)",
    )
    parser.add_argument(
        "--timeout",
        type=non_negative_float,
        metavar="SECONDS",
        help="give up waiting for the lock after this long; 0 = do not wait "
        "(default: wait as long as needed)",
    )
    parser.add_argument(
        "--grace",
        type=non_negative_float,
        default=5.0,
        metavar="SECONDS",
        help="after a lost lock or SIGTERM, time between SIGTERM and SIGKILL (default: 5)",
    )
    parser.add_argument(
        "--prefix",
        default=None,
        metavar="TEXT",
        help="Redis key prefix of the lock (default: shardwise:lock:)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="report acquisition and release on stderr"
    )
    parser.add_argument(
        "name", metavar="NAME", help="the lock name (shared by every process that must exclude)"
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND ...",
        help="the command to run and its arguments",
    )
    parser.set_defaults(run=run)


def _client(url: str, ttl: float) -> Any:
    import redis

    io_timeout = max(0.5, min(5.0, ttl / 3))
    try:
        client = redis.Redis.from_url(url, socket_timeout=io_timeout, socket_connect_timeout=io_timeout)
    except ValueError as exc:
        raise UsageError(f"--redis {redact_url(url)!r}: {exc}") from None
    try:
        client.ping()
    except redis.RedisError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CliError(f"cannot reach Redis at {redact_url(url)}: {detail}") from None
    return client


def _say(message: str) -> None:
    print(f"shardwise lock: {message}", file=sys.stderr, flush=True)


def _status(code: int) -> int:
    return 128 - code if code < 0 else code


def _foreground_terminal() -> int | None:
    """The controlling terminal when this process's group is in its foreground, else None."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None
    try:
        if os.tcgetpgrp(fd) == os.getpgrp():
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _take_back_terminal(fd: int) -> None:
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, os.getpgrp())
    finally:
        signal.signal(signal.SIGTTOU, previous)
        os.close(fd)


class Supervised:
    """COMMAND run by the supervisor process (``_supervisor.py``), which keeps the command's whole
    process tree below it and kills it when asked, when the command exits, or when this process dies."""

    def __init__(self, command: list[str], env: dict[str, str], grace: float) -> None:
        self.terminal = _foreground_terminal()
        control_read, self._control = os.pipe()
        self._report, report_write = os.pipe()
        argv = [sys.executable, "-I", "-S", str(SUPERVISOR), "--control", str(control_read)]
        argv += ["--report", str(report_write), "--grace", repr(grace)]
        argv += ["--terminal"] if self.terminal is not None else []
        try:
            self.process = subprocess.Popen(
                [*argv, "--", *command], env=env, pass_fds=(control_read, report_write)
            )
        except OSError:
            for fd in (self._control, self._report, self.terminal):
                if fd is not None:
                    os.close(fd)
            raise
        finally:
            os.close(control_read)
            os.close(report_write)
        self.pid: int | None = None
        self._buffer = b""

    def send(self, signum: int) -> None:
        """Signal the command's tree (anything but SIGINT is followed by SIGKILL after the grace)."""
        if self._control >= 0:
            with contextlib.suppress(OSError):
                os.write(self._control, bytes([signum]))

    def message(self, timeout: float) -> str | None:
        """The supervisor's next line, "" if none came within ``timeout``, None once it is gone."""
        while b"\n" not in self._buffer:
            with contextlib.suppress(InterruptedError):
                if not select.select([self._report], [], [], timeout)[0]:
                    return ""
            data = os.read(self._report, 4096)
            if not data:
                return None
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def close(self) -> None:
        """Close the control pipe (the supervisor then kills whatever is left) and wait for it."""
        control, self._control = self._control, -1  # send() never writes to a reused descriptor
        os.close(control)
        os.close(self._report)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            _say("warning: the command's supervisor did not exit within 30 s")
        if self.terminal is not None:
            _take_back_terminal(self.terminal)

    def kill_group_after_supervisor_died(self) -> bool:
        """Last resort: SIGKILL the command's process group; True once it is empty."""
        if self.pid is None:
            return True
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                return True
            except OSError:
                return False
            time.sleep(0.05)
        return False


def run(args: argparse.Namespace) -> int:
    from shardwise.errors import LockError, LockLostError
    from shardwise.lock import RedisLock

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("no command given; put it after the lock name: shardwise lock ... NAME -- COMMAND")
    # The lock reports a loss through on_lost; keep its log line from duplicating our message.
    logging.getLogger("shardwise.lock").addHandler(logging.NullHandler())
    logging.getLogger("shardwise.lock").propagate = False

    client = _client(args.redis, args.ttl)
    lost = threading.Event()
    kwargs = {} if args.prefix is None else {"prefix": args.prefix}
    try:
        lock = RedisLock(
            client, args.name, args.ttl, auto_renew=True, on_lost=lambda _lock: lost.set(), **kwargs
        )
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    blocking = args.timeout != 0
    try:
        acquired = lock.acquire(blocking=blocking, blocking_timeout=args.timeout if blocking else None)
    except LockError as exc:
        raise CliError(f"cannot take lock {args.name!r}: {exc}") from None
    if not acquired:
        waited = "" if not blocking else f" within {args.timeout:g} s"
        raise CliError(
            f"lock {args.name!r} is held by another process; not acquired{waited}", EXIT_LOCK_NOT_ACQUIRED
        )
    if args.verbose:
        _say(f"acquired {args.name!r} (fencing token {lock.fencing_token})")

    env = dict(os.environ, **{ENV_NAME: args.name, ENV_TOKEN: str(lock.fencing_token)})
    returncode = _supervise(command, env, args.grace, lock, lost)
    if returncode is None:
        raise CliError(
            f"lost lock {args.name!r} while the command ran ({_reason(lock)}); command stopped",
            EXIT_LOCK_LOST,
        )
    status = _status(returncode)
    try:
        lock.release()
    except LockLostError:
        raise CliError(
            f"lost lock {args.name!r} before the command ended (it exited with {status})", EXIT_LOCK_LOST
        ) from None
    except LockError as exc:
        _say(f"warning: could not release {args.name!r} ({exc}); it expires within {args.ttl:g} s")
        return status
    if args.verbose:
        _say(f"released {args.name!r}; command exited with {status}")
    return status


def _supervise(
    command: list[str], env: dict[str, str], grace: float, lock: Any, lost: threading.Event
) -> int | None:
    """Run COMMAND to the end of its whole process tree; its return code, or None if the lock was
    lost (the tree was then stopped). Returns only once no process of the command is left."""
    try:
        supervised = Supervised(command, env, grace)
    except OSError as exc:
        _release_quietly(lock)
        raise CliError(f"cannot start the command's supervisor: {exc.strerror or exc}") from None

    def forward(signum: int, frame: FrameType | None) -> None:
        supervised.send(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    stopping = False
    try:
        while True:
            if not stopping and (lost.is_set() or lock.lost):
                stopping = True
                supervised.send(signal.SIGTERM)
            line = supervised.message(0.05)
            if line is None:
                break
            kind, _, rest = line.partition(" ")
            if kind == "started":
                supervised.pid = int(rest)
            elif kind == "failed":
                code, _, reason = rest.partition(" ")
                _release_quietly(lock)
                raise CliError(f"cannot run {command[0]!r}: {reason}", int(code))
            elif kind == "exited":
                return None if stopping else int(rest)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        supervised.close()
    if supervised.kill_group_after_supervisor_died():
        _release_quietly(lock)
    raise CliError("the command's supervisor process died unexpectedly; command killed")


def _reason(lock: Any) -> str:
    try:
        lock.check()
    except Exception as exc:
        text = str(exc)
        return text.split(": ", 1)[1] if ": " in text else text
    return "renewal failed"


def _release_quietly(lock: Any) -> None:
    with contextlib.suppress(Exception):  # the key expires with its TTL anyway
        lock.release()
