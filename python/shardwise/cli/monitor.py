"""``shardwise monitor CONFIG.toml``: health-check nodes and print their state changes."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from shardwise.cli._common import CliError, HelpFormatter, non_negative_float, redact_url

EPILOG = """\
example config (durations in seconds):

  [defaults]            # optional; every node inherits these
  interval = 1.0        # seconds between checks
  timeout = 0.5         # bound of one check
  rise = 2              # successes in a row to come back up
  fall = 3              # failures in a row to go down

  [nodes.cache-a]
  tcp = "127.0.0.1:6379"

  [nodes.web-1]
  http = "http://127.0.0.1:8080/health"
  expect = [200, 299]   # accepted status range (default 200-399)
  interval = 0.5

  [nodes.queue]
  redis = "redis://127.0.0.1:6380/0"

  [nodes.queue-replica]
  redis = "redis://127.0.0.1:6381/0"

  [groups.queue]        # promote a backup when the primary goes down
  primary = "queue"
  backups = ["queue-replica"]
  promote = "redis"     # REPLICAOF NO ONE on the most up-to-date replica (members must be
                        # redis nodes); "none" only reports the change
  failback = "manual"   # or "auto": after failback_after seconds of health (default 30), once
                        # the old primary has caught up (redis)

  [coordination]        # optional: several monitor processes, one leader acts (Redis lock)
  redis = "redis://127.0.0.1:6379/0"
  name = "queue-monitors"   # processes with the same name elect one leader
  ttl = 10

examples:
  shardwise monitor monitor.toml
  shardwise monitor monitor.toml --json | tee events.jsonl
  shardwise monitor monitor.toml --duration 60
  shardwise monitor monitor.toml --check     # validate (URLs included), list, exit
  shardwise monitor monitor.toml -v          # also the library's log (INFO; -vv: DEBUG) on stderr

Each state change (up -> suspect -> down -> recovering -> up), promotion and change of leader
prints one line on stdout. Warnings of the library go to stderr, one line each (more with -v).
Stops cleanly on Ctrl-C (SIGINT) or SIGTERM."""

NODE_KEYS = {
    "tcp",
    "http",
    "redis",
    "interval",
    "timeout",
    "rise",
    "fall",
    "fast_interval",
    "expect",
    "initial",
}
DEFAULT_KEYS = {"interval", "timeout", "rise", "fall", "fast_interval"}
TOP_KEYS = {"defaults", "nodes", "groups", "coordination"}
GROUP_KEYS = {"primary", "backups", "promote", "failback", "failback_after"}
COORDINATION_KEYS = {"redis", "name", "ttl"}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "monitor",
        help="health-check nodes from a TOML file and print state changes",
        description="Run a failover monitor from a TOML file: TCP, HTTP and Redis checks with HAProxy-style "
        "rise/fall; print every state change as it happens.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("config", type=Path, metavar="CONFIG.toml", help="the monitor configuration")
    parser.add_argument("--json", action="store_true", help="print events as JSON lines")
    parser.add_argument(
        "--duration",
        type=non_negative_float,
        metavar="SECONDS",
        help="stop after this long (default: run until interrupted)",
    )
    parser.add_argument("--check", action="store_true", help="validate the config, print the nodes and exit")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log the library's INFO records on stderr (-vv: DEBUG); default: warnings only",
    )
    parser.set_defaults(run=run)


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:  # Python 3.10
        return importlib.import_module("tomli")
    except ModuleNotFoundError:
        raise CliError("reading TOML on Python 3.10 needs tomli: pip install tomli") from None


def load_config(path: Path) -> dict[str, Any]:
    toml = _toml()
    try:
        with open(path, "rb") as handle:
            data: dict[str, Any] = toml.load(handle)
    except FileNotFoundError:
        raise CliError(f"config file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise CliError(f"config file {str(path)!r} is a directory") from None
    except OSError as exc:
        raise CliError(f"cannot read config file {str(path)!r}: {exc.strerror or exc}") from None
    except toml.TOMLDecodeError as exc:
        raise CliError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text") from None
    return data


def _unknown(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise CliError(f"{where}: unknown setting {extra[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _host_port(where: str, text: Any) -> tuple[str, int]:
    if not isinstance(text, str) or ":" not in text:
        raise CliError(f"{where}: tcp must be 'HOST:PORT', got {text!r}")
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise CliError(f"{where}: tcp must be 'HOST:PORT', got {text!r}")
    return host, int(port)


def make_check(where: str, spec: dict[str, Any]) -> Any:
    from shardwise import failover

    kinds = [k for k in ("tcp", "http", "redis") if k in spec]
    if len(kinds) != 1:
        raise CliError(f'{where}: give exactly one check: tcp = "HOST:PORT", http = "URL" or redis = "URL"')
    kind = kinds[0]
    if "expect" in spec and kind != "http":
        raise CliError(f"{where}: expect applies only to http checks")
    if kind == "tcp":
        host, port = _host_port(where, spec["tcp"])
        return _checked(where, lambda: failover.TcpCheck(host, port))
    if not isinstance(spec[kind], str):
        raise CliError(f"{where}: {kind} must be a URL string")
    if kind == "redis":
        url = spec["redis"]
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise CliError(f"{where}: redis must be a redis:// URL, got {redact_url(url)!r}")
        return _checked(where, lambda: failover.RedisCheck(url))
    expect = spec.get("expect", [200, 399])
    if (
        not isinstance(expect, list)
        or len(expect) != 2
        or not all(isinstance(x, int) for x in expect)
        or expect[0] > expect[1]
    ):
        raise CliError(f"{where}: expect must be [LOW, HIGH] status codes, got {expect!r}")
    return _checked(where, lambda: failover.HttpCheck(spec["http"], expected=range(expect[0], expect[1] + 1)))


def _checked(where: str, build: Any) -> Any:
    """``build()``, its refusal of a bad setting turned into a one-line error naming ``where``."""
    from shardwise.errors import ShardwiseError

    try:
        return build()
    except (ValueError, TypeError, ShardwiseError) as exc:
        raise CliError(f"{where}: {exc}") from None


def build_monitor(config: dict[str, Any], path: Path) -> tuple[Any, dict[str, Any]]:
    """A :class:`shardwise.failover.Monitor` for ``config``, and the check of each node."""
    from shardwise import failover

    _unknown(str(path), config, TOP_KEYS)
    defaults = config.get("defaults", {})
    nodes = config.get("nodes")
    if not isinstance(defaults, dict):
        raise CliError(f"{path}: [defaults] must be a table")
    if not isinstance(nodes, dict) or not nodes:
        raise CliError(f"{path}: no nodes; add at least one [nodes.NAME] table with tcp/http/redis")
    _unknown(f"{path}: [defaults]", defaults, DEFAULT_KEYS)
    monitor = _checked(f"{path}: [defaults]", lambda: failover.Monitor(**defaults))
    checks: dict[str, Any] = {}
    for name, spec in nodes.items():
        where = f"{path}: [nodes.{name}]"
        if not isinstance(spec, dict):
            raise CliError(f"{where} must be a table")
        _unknown(where, spec, NODE_KEYS)
        check = checks[name] = make_check(where, spec)
        settings = {
            k: spec[k]
            for k in ("interval", "timeout", "rise", "fall", "fast_interval", "initial")
            if k in spec
        }
        _checked(where, lambda: monitor.add_node(name, check, **settings))  # noqa: B023 - called at once
    return monitor, checks


def build_coordinator(config: dict[str, Any], path: Path) -> Any:
    """A started-later :class:`Coordinator` from ``[coordination]``, or None."""
    spec = config.get("coordination")
    if spec is None:
        return None
    where = f"{path}: [coordination]"
    if not isinstance(spec, dict):
        raise CliError(f"{where} must be a table")
    _unknown(where, spec, COORDINATION_KEYS)
    url = spec.get("redis")
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        shown = redact_url(url) if isinstance(url, str) else url
        raise CliError(f"{where}: redis must be a redis:// URL, got {shown!r}")
    ttl = spec.get("ttl", 10.0)
    if not isinstance(ttl, (int, float)) or isinstance(ttl, bool):
        raise CliError(f"{where}: ttl must be a number of seconds, got {ttl!r}")
    name = spec.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise CliError(f"{where}: name must be a non-empty string")
    import redis

    from shardwise.failover import Coordinator
    from shardwise.failover._redisclient import validate_url

    _checked(where, lambda: validate_url(url))
    timeout = max(0.2, min(2.0, ttl / 4)) if ttl > 0 else 0.2
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    coordinator = _checked(where, lambda: Coordinator(client, name, ttl=ttl))  # the lock checks ttl
    try:
        client.ping()
    except redis.RedisError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CliError(f"cannot reach the coordination Redis at {redact_url(url)}: {detail}") from None
    return coordinator


def build_groups(
    config: dict[str, Any], path: Path, nodes: dict[str, Any], coordinator: Any, emit: Any
) -> list[Any]:
    """One :class:`FailoverGroup` per ``[groups.NAME]``; promotions are reported through ``emit``."""
    from shardwise.errors import ShardwiseError
    from shardwise.failover import FailoverGroup, RedisPromoter

    groups_spec = config.get("groups", {})
    if not isinstance(groups_spec, dict):
        raise CliError(f"{path}: groups must be tables [groups.NAME]")
    groups: list[Any] = []
    for name, spec in groups_spec.items():
        where = f"{path}: [groups.{name}]"
        if not isinstance(spec, dict):
            raise CliError(f"{where} must be a table")
        _unknown(where, spec, GROUP_KEYS)
        primary, backups = spec.get("primary"), spec.get("backups")
        if not isinstance(primary, str):
            raise CliError(f"{where}: primary must be a node name")
        if not isinstance(backups, list) or not backups or not all(isinstance(b, str) for b in backups):
            raise CliError(f"{where}: backups must be a non-empty list of node names")
        members = [primary, *backups]
        missing = [m for m in members if m not in nodes]
        if missing:
            raise CliError(f"{where}: {missing[0]!r} is not a node; add [nodes.{missing[0]}]")
        mode = spec.get("promote", "none")
        inner: Any = None
        if mode == "redis":
            urls = {m: nodes[m].get("redis") for m in members}
            not_redis = [m for m, url in urls.items() if not url]
            if not_redis:
                raise CliError(f'{where}: promote = "redis" needs redis nodes; {not_redis[0]!r} is not one')
            inner = _checked(where, lambda: RedisPromoter(urls))  # noqa: B023 - called at once
        elif mode != "none":
            raise CliError(f'{where}: promote must be "redis" or "none", got {mode!r}')
        hook = _promotion_hook(name, inner, emit)
        try:
            groups.append(
                FailoverGroup(
                    primary,
                    backups,
                    promote=hook,
                    failback=spec.get("failback", "manual"),
                    failback_after=spec.get("failback_after", 30.0),
                    coordinator=coordinator,
                    name=name,
                )
            )
        except (ValueError, TypeError, ShardwiseError) as exc:
            raise CliError(f"{where}: {exc}") from None
    return groups


def _promotion_hook(group: str, inner: Any, emit: Any) -> Any:
    def promote(promotion: Any) -> None:
        if inner is not None:
            try:
                inner(promotion)
            except Exception as exc:
                emit(
                    {
                        "type": "promotion-failed",
                        "group": group,
                        "new": promotion.new_primary,
                        "old": promotion.old_primary,
                        "reason": f"{type(exc).__name__}: {exc}",
                    },
                    f"group {group}: promoting {promotion.new_primary} failed: {type(exc).__name__}: {exc}",
                )
                raise
        token = "" if promotion.token is None else f", token {promotion.token}"
        emit(
            {
                "type": "promotion",
                "group": group,
                "new": promotion.new_primary,
                "old": promotion.old_primary,
                "reason": promotion.reason,
                "token": promotion.token,
            },
            f"group {group}: promoted {promotion.new_primary} (was {promotion.old_primary}{token}): "
            f"{promotion.reason}",
        )

    if inner is not None and hasattr(inner, "rejoin"):
        promote.rejoin = inner.rejoin  # type: ignore[attr-defined]
    return promote


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Printer:
    """Prints node events, promotions and leadership changes, as text or JSON lines."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._lock = threading.Lock()

    def emit(self, record: dict[str, Any], text: str) -> None:
        line = json.dumps({"time": _now(), **record}) if self.as_json else f"{_now()} {text}"
        with self._lock:
            print(line, flush=True)

    def handle_node_event(self, event: Any) -> None:
        """Attached first to the monitor, so a state change prints before the actions it causes."""
        record = {
            "type": "node",
            "node": event.node,
            "old": str(event.old),
            "new": str(event.new),
            "reason": event.reason,
        }
        self.emit(record, f"{event.node}: {event.old} -> {event.new} ({event.reason})")


class LogFormatter(logging.Formatter):
    """The library's log records as one line each: UTC time, level, logger, message; an exception
    as its own one-line summary (the traceback only with ``tracebacks``)."""

    converter = staticmethod(time.gmtime)

    def __init__(self, tracebacks: bool) -> None:
        super().__init__("%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if self.tracebacks or not record.exc_info or record.exc_info[1] is None:
            return super().format(record)
        error = record.exc_info[1]
        plain = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return f"{super().format(plain)} ({type(error).__name__}: {error})"


def library_logging(verbosity: int) -> Callable[[], None]:
    """Send the ``shardwise`` loggers to stderr, formatted: warnings and up by default, INFO with
    -v, DEBUG with -vv. Returns the function that undoes it."""
    logger = logging.getLogger("shardwise")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter(tracebacks=verbosity > 0))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG)
    logger.propagate = False  # not also through a root handler (or Python's bare last resort)

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]

    return restore


def run(args: argparse.Namespace) -> int:
    restore_logging = library_logging(args.verbose)
    try:
        return _run(args)
    finally:
        restore_logging()


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    monitor, checks = build_monitor(config, args.config)
    show = Printer(args.json)
    coordinator = build_coordinator(config, args.config)
    groups = build_groups(config, args.config, config["nodes"], coordinator, show.emit)
    if args.check:
        for name, check in checks.items():
            print(f"{name}: {check!r}")
        for group in groups:
            print(f"group {group.name}: primary {group.primary}, backups {', '.join(group.members[1:])}")
        if coordinator is not None:
            print(f"coordination: {coordinator.name} (ttl {coordinator.ttl:g} s)")
        return 0
    if coordinator is not None:

        def on_election(leader: bool) -> None:
            what = "this process is now the leader" if leader else "this process stepped down"
            token = f" (fencing token {coordinator.token})" if leader else ""
            show.emit(
                {"type": "leader", "leader": leader, "token": coordinator.token if leader else None},
                f"coordination {coordinator.name}: {what}{token}",
            )

        coordinator.add_election_listener(on_election)
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    monitor.attach(show)
    for group in groups:
        monitor.attach(group)
    if coordinator is not None:
        monitor.attach(coordinator)
    names = ", ".join(monitor.nodes)
    print(
        f"shardwise monitor: watching {len(monitor.nodes)} nodes ({names}); Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
    if coordinator is not None:
        coordinator.start()
    monitor.start()
    try:
        stop.wait(args.duration)
    finally:
        monitor.stop()
        if coordinator is not None:
            coordinator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    why = f"on {received[0]}" if received else "after --duration"
    print(f"shardwise monitor: stopped {why}", file=sys.stderr, flush=True)
    return 0
