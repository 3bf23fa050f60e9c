"""Pieces shared by the subcommands: user errors, exit codes, node lists, number parsing."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

# Exit codes (documented in docs/cli.md and in `shardwise lock --help`).
EXIT_OK = 0
EXIT_ERROR = 1  # a runtime problem: unreadable file, unreachable Redis...
EXIT_USAGE = 2  # a bad option (argparse uses 2 as well)
EXIT_LOCK_NOT_ACQUIRED = 3
EXIT_LOCK_LOST = 4
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A user-facing problem: printed as one line on stderr, then the process exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


class UsageError(CliError):
    """A bad option value (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples in epilogs as written and shows defaults."""


@dataclass(frozen=True)
class NodeSpec:
    """Node names in order, with a weight each (1.0 when not given)."""

    names: tuple[str, ...]
    weights: tuple[float, ...]

    @property
    def weighted(self) -> bool:
        return any(w != 1.0 for w in self.weights)

    def as_argument(self) -> list[str] | dict[str, float]:
        """What a placement constructor takes: a list of names, or a mapping name -> weight."""
        if self.weighted:
            return dict(zip(self.names, self.weights, strict=True))
        return list(self.names)


def parse_weight(text: str, where: str) -> float:
    try:
        weight = float(text)
    except ValueError:
        raise UsageError(f"{where}: weight {text!r} is not a number") from None
    if not math.isfinite(weight) or weight <= 0:
        raise UsageError(f"{where}: weight must be a finite number > 0, got {text!r}")
    return weight


def _read_node_file(path: Path) -> tuple[list[str], list[float]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read node file {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CliError(f"node file {str(path)!r} is not UTF-8 text") from None
    names: list[str] = []
    weights: list[float] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").replace("=", " ").split()
        if len(parts) > 2:
            raise UsageError(f"{path}:{number}: expected 'NAME [WEIGHT]', got {raw.strip()!r}")
        names.append(parts[0])
        weights.append(parse_weight(parts[1], f"{path}:{number}") if len(parts) == 2 else 1.0)
    return names, weights


def parse_nodes(text: str, weights_text: str | None = None, *, allow_count: bool = False) -> NodeSpec:
    """Nodes from ``a,b,c``, ``a=2,b,c=0.5``, ``@file`` (one ``NAME [WEIGHT]`` a line) or, if
    ``allow_count``, a number N (names ``node-0`` .. ``node-{N-1}``). ``weights_text`` is an
    optional comma-separated list of weights, one per node."""
    text = text.strip()
    if text.startswith("@"):
        names, weights = _read_node_file(Path(text[1:]))
        source = text
    elif allow_count and text.isdigit():
        count = int(text)
        if not 1 <= count <= 1_000_000:
            raise UsageError(f"--nodes: the node count must be between 1 and 1000000, got {count}")
        names = [f"node-{i}" for i in range(count)]
        weights = [1.0] * count
        source = "--nodes"
    else:
        names, weights = [], []
        for item in text.split(","):
            item = item.strip()
            if not item:
                raise UsageError(f"--nodes: empty node name in {text!r}")
            name, sep, weight = item.partition("=")
            names.append(name.strip())
            weights.append(parse_weight(weight.strip(), "--nodes") if sep else 1.0)
        source = "--nodes"
    if not names:
        raise UsageError(f"{source}: no nodes given")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise UsageError(f"{source}: node {name!r} is listed twice")
        seen.add(name)
    if weights_text is not None:
        items = [w.strip() for w in weights_text.split(",")]
        if len(items) != len(names):
            raise UsageError(f"--weights: got {len(items)} weights for {len(names)} nodes")
        weights = [parse_weight(w, "--weights") for w in items]
    return NodeSpec(tuple(names), tuple(weights))


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1; accepts 1_000_000, 1e6 and 1M / 1k suffixes."""
    raw = text.strip().replace("_", "").lower()
    factor = 1
    for suffix, mult in (("k", 1_000), ("m", 1_000_000), ("g", 1_000_000_000)):
        if raw.endswith(suffix):
            raw, factor = raw[:-1], mult
            break
    try:
        value = float(raw) * factor
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not math.isfinite(value) or value != int(value) or value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(value)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for error messages)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))
    except ValueError:
        return "<unparsable URL>"


def format_table(headers: list[str], rows: list[list[str]], *, markdown: bool = False) -> str:
    """A plain aligned text table, or a Markdown table. Numbers (first char digit) are right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def numeric(col: int) -> bool:
        return bool(rows) and all(r[col][:1].isdigit() or r[col][:1] in "-." for r in rows)

    right = [numeric(i) for i in range(len(headers))]

    def cell(text: str, i: int) -> str:
        return text.rjust(widths[i]) if right[i] else text.ljust(widths[i])

    if markdown:
        lines = ["| " + " | ".join(cell(h, i) for i, h in enumerate(headers)) + " |"]
        lines.append(
            "|"
            + "|".join(("-" * (w + 1) + ":") if right[i] else ("-" * (w + 2)) for i, w in enumerate(widths))
            + "|"
        )
        lines += ["| " + " | ".join(cell(c, i) for i, c in enumerate(r)) + " |" for r in rows]
    else:
        lines = ["  ".join(cell(h, i) for i, h in enumerate(headers)).rstrip()]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(cell(c, i) for i, c in enumerate(r)).rstrip() for r in rows]
    return "\n".join(lines)
