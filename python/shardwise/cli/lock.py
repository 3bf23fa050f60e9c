"""``shardwise lock``: run a command while holding a Redis lock (auto-renewed)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
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
storage that can refuse stale writers). If the lock is lost (key deleted or expired, Redis gone
past the TTL) the command is sent SIGTERM, then SIGKILL after --grace seconds.

exit status: the command's own; 3 if the lock could not be acquired in time; 4 if it was lost;
1 for other errors (Redis unreachable...); 2 for bad options; 127 if the command is not found."""

ENV_NAME = "SHARDWISE_LOCK_NAME"
ENV_TOKEN = "SHARDWISE_FENCING_TOKEN"


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
        help="after a lost lock, time between SIGTERM and SIGKILL (default: 5)",
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


def _stop(child: subprocess.Popen[bytes], grace: float) -> None:
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(grace)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _status(code: int) -> int:
    return 128 - code if code < 0 else code


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
        acquired = lock.acquire(blocking=blocking, timeout=args.timeout if blocking else None)
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
    try:
        child = subprocess.Popen(command, env=env)
    except OSError as exc:
        _release_quietly(lock)
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        raise CliError(f"cannot run {command[0]!r}: {exc.strerror or exc}", code) from None

    def forward(signum: int, frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        while child.poll() is None:
            if lost.wait(0.05) or lock.lost:
                _stop(child, args.grace)
                raise CliError(
                    f"lost lock {args.name!r} while the command ran ({_reason(lock)}); command stopped",
                    EXIT_LOCK_LOST,
                )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    status = _status(child.returncode)
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
