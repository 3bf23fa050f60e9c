"""``shardwise lockcheck``: inject faults into Redis locks and check the histories (Jepsen style)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shardwise.cli._common import CliError, HelpFormatter, UsageError, positive_float

EXIT_VIOLATION = 5  # a lock that claims safety showed a violation

EPILOG = """\
examples:
  shardwise lockcheck --lock naive,redis-py,shardwise          # ~45 s: the side-by-side verdict
  shardwise lockcheck --lock redlock --duration 60 --seed 7
  shardwise lockcheck --lock shardwise --faults pause-client,blackhole --json
  shardwise lockcheck --lock shardwise --faults +wipe-server --history history.json
  shardwise lockcheck --lock mypkg.locks:MY_LOCK               # a shardwise.testing.LockKind

It starts its own redis-server processes on loopback ports (one per master the lock needs, plus
one for the counter, which no fault touches), runs CLIENTS processes that take the lock and
increment the counter under it, injects a seeded schedule of faults (client and server pauses,
kill -9, CLIENT PAUSE, latency, dropped connections, blackholes), and checks the history: holds
that overlap, writes by holders that were superseded, fenced writes out of token order, tokens
that go backwards, lost updates, how long a holder takes to notice its lock is gone, and
liveness. The same seed gives the same schedule; results can still differ by timing.

faults: pause-client, pause-server, kill-server (restart from the append-only file), wipe-server
(restart empty; not in the default set), client-pause, latency, drop, blackhole. --faults takes
`default`, `all`, `none`, a comma list, or +KIND to add to the default set.

exit status: 0 when every lock that claims safety (shardwise, redlock) showed no violation
(naive and redis-py claim none: their violations are reported, not failures); 5 when one did;
1 for errors (redis-server missing or failing); 2 for bad options; 130 if interrupted."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lockcheck",
        help="inject faults into Redis locks and check the histories",
        description="Jepsen-style fault injection and history checking for Redis locks: starts its "
        "own redis-server processes (redis-server must be on PATH), runs client processes under a "
        "seeded fault schedule and reports violations side by side.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--lock",
        default="naive,redis-py,shardwise",
        metavar="LOCKS",
        help="comma list of naive, redis-py, shardwise, redlock or module:attribute "
        "(default: naive,redis-py,shardwise)",
    )
    parser.add_argument(
        "--clients", type=int, default=4, metavar="N", help="client processes per lock, 2-64 (default: 4)"
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=12.0,
        metavar="SECONDS",
        help="run time per lock (default: 12)",
    )
    parser.add_argument(
        "--ttl", type=positive_float, default=0.5, metavar="SECONDS", help="lock TTL, 0.05-60 (default: 0.5)"
    )
    parser.add_argument("--seed", default="1", help="seed of the schedules (default: 1)")
    parser.add_argument(
        "--faults", default="default", metavar="KINDS", help="fault kinds, see below (default: default)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    parser.add_argument(
        "--history",
        metavar="FILE",
        type=Path,
        help="write each run's history in Porcupine's JSON format (FILE; FILE-LOCK.json for several)",
    )
    parser.add_argument(
        "--keep", metavar="DIR", type=Path, help="keep the raw client histories and logs in DIR"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(run=run)


def _history_path(base: Path, lock: str, several: bool) -> Path:
    if not several:
        return base
    safe = lock.replace(":", "_").replace("/", "_")
    return base.with_name(f"{base.stem}-{safe}{base.suffix or '.json'}")


def _configs(args: argparse.Namespace) -> list[Any]:
    from shardwise.testing.faults import parse_faults
    from shardwise.testing.locks import resolve_lock
    from shardwise.testing.run import RunConfig

    if args.history is not None and not args.history.parent.is_dir():
        raise UsageError(f"--history: directory {str(args.history.parent)!r} does not exist")
    locks = [item.strip() for item in args.lock.split(",") if item.strip()]
    if not locks:
        raise UsageError("--lock: no lock given")
    if len(set(locks)) != len(locks):
        raise UsageError(f"--lock: a lock is listed twice in {args.lock!r}")
    try:
        faults = parse_faults(args.faults)
        for lock in locks:
            resolve_lock(lock)
        return [
            RunConfig(
                lock=lock,
                clients=args.clients,
                duration=args.duration,
                ttl=args.ttl,
                seed=args.seed,
                faults=faults,
                keep_dir=args.keep,
            )
            for lock in locks
        ]
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    import logging

    from shardwise.testing import report
    from shardwise.testing.run import run_check
    from shardwise.testing.servers import RedisServerError, redis_server_binary

    configs = _configs(args)
    try:
        redis_server_binary()
    except RedisServerError as exc:
        raise CliError(str(exc)) from None
    logging.getLogger("shardwise.lock").addHandler(logging.NullHandler())
    logging.getLogger("shardwise.lock").propagate = False

    def say(message: str) -> None:
        if not args.quiet:
            print(f"shardwise lockcheck: {message}", file=sys.stderr, flush=True)

    runs = []
    for config in configs:
        try:
            result = run_check(config, say=say)
        except RedisServerError as exc:
            raise CliError(str(exc)) from None
        runs.append(result)
        say(f"{result.kind.name}: {report.verdict(result)} ({result.result.violations} violations)")
        if args.history is not None:
            report.write_history(result, _history_path(args.history, config.lock, len(configs) > 1))
    code = EXIT_VIOLATION if report.failed(runs) else 0
    if args.json:
        print(
            json.dumps(
                {"seed": args.seed, "exit_code": code, "runs": [report.to_json(r) for r in runs]}, indent=2
            )
        )
    else:
        print("\n\n".join(report.text_report(r, findings=3) for r in runs))
        print()
        print(report.side_by_side(runs))
    return code
