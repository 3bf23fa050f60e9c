"""The ``shardwise`` command line.

Subcommands: ``simulate`` (compare placement algorithms, with plots), ``place`` (assign keys from a
file to nodes), ``bench`` (Rust vs pure Python vs peer libraries), ``lock`` (run a command under a
Redis lock) and ``monitor`` (health checks and failover from a TOML file). Each has ``--help`` with
examples. User mistakes print one line on stderr and exit non-zero; set SHARDWISE_DEBUG=1 to see
a traceback for an unexpected error.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

from shardwise.cli._common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, CliError, HelpFormatter

__all__ = ["build_parser", "main"]

EPILOG = """\
examples:
  shardwise simulate                       # compare every algorithm; plots in ./shardwise-out
  shardwise place --algo ring --nodes a,b,c --keys keys.txt --out placed.csv
  shardwise bench --quick
  shardwise lock --redis redis://127.0.0.1:6379/0 nightly-report -- ./make-report.sh
  shardwise monitor monitor.toml
  shardwise lockcheck                      # naive vs redis-py vs shardwise lock under injected faults

exit codes: 0 ok, 1 error, 2 bad option, 3 lock not acquired, 4 lock lost,
5 lockcheck found a violation in a lock that claims safety, 130 interrupted
(lock: otherwise the command's own status)."""


DESCRIPTION = (
    "shardwise: place keys on nodes, compare placement algorithms, run commands under a Redis lock "
    "and monitor nodes for failover."
)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (usage stays available via --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from shardwise import __version__
    from shardwise.cli import bench, lock, lockcheck, monitor, place, simulate

    parser = Parser(prog="shardwise", description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"shardwise {__version__}")
    subparsers = parser.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=Parser)
    for module in (simulate, place, bench, lock, monitor, lockcheck):
        module.add_parser(subparsers)
    return parser


def _fail(prefix: str, message: str, code: int) -> int:
    print(f"{prefix}: error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.subcommand is None:
        parser.print_help()
        return 0
    prefix = f"shardwise {args.subcommand}"
    run: Any = args.run
    try:
        return int(run(args))
    except CliError as exc:
        return _fail(prefix, str(exc), exc.code)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (e.g. `| head`): not an error worth a message.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:  # anything else still gets one line, not a traceback
        if os.environ.get("SHARDWISE_DEBUG"):
            raise
        detail = str(exc).splitlines()[0] if str(exc) else ""
        return _fail(
            prefix, f"{type(exc).__name__}: {detail} (set SHARDWISE_DEBUG=1 for a traceback)", EXIT_ERROR
        )
