"""``shardwise simulate --scale``: bulk lookup cost, build time and memory as the node count grows.

Each algorithm is built over ``node-0 .. node-{n-1}`` for every count asked for, in increasing
order, and ``place(keys, out=)`` is timed into a buffer kept between runs (lookups only). Limits,
checked before the work they bound: a size whose build time or memory, extrapolated linearly from
the size before (once that took 20 ms or 1 MiB), would pass ``--budget`` seconds or
``--memory-limit`` bytes is skipped with a note, and so is a size whose lookups, timed on a sample
of the keys first (also the warm-up), would pass ``--budget`` (Rendezvous, O(nodes) per key, at a
million nodes). A size the algorithm refuses, or a failure of a plugin class, ends its curve with a
note; the other algorithms go on.
"""

from __future__ import annotations

import argparse
import csv
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shardwise.cli import algorithms
from shardwise.cli._common import CliError, NodeSpec, UsageError, format_table, positive_int
from shardwise.cli.keyfiles import check_readable, keys_for, own_class
from shardwise.cli.metrics import best_time, memory_bytes
from shardwise.cli.outfiles import atomic_output, output_dir, refuse_inputs
from shardwise.cli.progress import Progress

MAX_NODES = 1_000_000
OUTPUTS = ("scale.md", "scale.csv")
PLOT = "scale.png"
HEADERS = ["algorithm", "nodes", "place ns/key", "step", "build ms", "memory KiB", "bytes/node"]


@dataclass
class Point:
    """One algorithm at one node count."""

    nodes: int
    place_ns: float
    build_ms: float
    memory_bytes: int


@dataclass
class Curve:
    name: str
    points: list[Point] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def parse_counts(text: str) -> list[int]:
    """``--scale 10,100,1k,1M`` -> sorted distinct node counts, each 1 .. 1,000,000."""
    counts = set()
    for item in text.split(","):
        if not item.strip():
            raise UsageError(f"--scale: empty node count in {text!r}")
        try:
            count = positive_int(item)
        except Exception as exc:  # argparse.ArgumentTypeError: its message says what was wrong
            raise UsageError(f"--scale: {exc}") from None
        if count > MAX_NODES:
            raise UsageError(f"--scale: at most {MAX_NODES:,} nodes, got {count:,}")
        counts.add(count)
    return sorted(counts)


SAMPLE_KEYS = 4096
DEFAULT_BUDGET = 30.0
DEFAULT_MEMORY_LIMIT = 2 * 2**30
MAX_THREADS = 1024
EXTRAPOLATE_MS, EXTRAPOLATE_BYTES = 20.0, 2**20


def _size(count: float) -> str:
    """Bytes in the unit that shows them best."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count:,.0f} bytes"


def _too_costly(previous: Point | None, count: int, budget: float, memory_limit: int) -> str:
    """Why building ``count`` nodes would pass the limits, extrapolated linearly from the size
    before ('' if not). A small previous size (under 20 ms, under 1 MiB) is mostly fixed cost and
    not extrapolated: every built-in class builds a million nodes in seconds."""
    if previous is None:
        return ""
    growth = count / previous.nodes
    seconds = previous.build_ms / 1e3 * growth
    if previous.build_ms >= EXTRAPOLATE_MS and seconds > budget:
        return (
            f"skipped {count:,} nodes and more: building would take about {seconds:.0f} s "
            f"(--budget {budget:g})"
        )
    held = previous.memory_bytes * growth
    if previous.memory_bytes >= EXTRAPOLATE_BYTES and held > memory_limit:
        return (
            f"skipped {count:,} nodes and more: it would hold about {_size(held)} "
            f"(--memory-limit {_size(memory_limit)})"
        )
    return ""


def _lookups_too_slow(lookups: Callable[[int], object], count: int, keys: int, budget: float) -> str:
    """Time ``lookups`` on a sample of the keys (which also warms up); why the whole batch would
    pass ``budget`` ('' if not)."""
    sample = min(keys, SAMPLE_KEYS)
    start = time.perf_counter()
    lookups(sample)
    seconds = (time.perf_counter() - start) * keys / sample
    if seconds > budget:
        return (
            f"skipped {count:,} nodes and more: placing the keys once would take about {seconds:.3g} s "
            f"(--budget {budget:g})"
        )
    return ""


def _lookups(placement: Any, keys: Any, out: npt.NDArray[np.int32]) -> Callable[[int], object]:
    """A bulk pass over the first ``n`` keys: into ``out`` for shardwise's classes, a new array
    for other classes."""
    used = keys_for(placement, keys)
    if own_class(placement):
        return lambda n: placement.place(used[:n], out=out[:n])
    return lambda n: placement.place(used[:n])


def measure(
    name: str,
    counts: list[int],
    keys: npt.NDArray[Any],
    *,
    vnodes: int | None,
    repeat: int,
    budget: float,
    memory_limit: int,
    on_step: Callable[[str], None] = lambda label: None,
) -> Curve:
    """The curve of one algorithm over ``counts`` (ascending)."""
    cls = algorithms.resolve_class(name)
    curve = Curve(algorithms.label(name))
    out = np.empty(len(keys), dtype=np.int32)
    total = len(keys)
    for count in counts:
        previous = curve.points[-1] if curve.points else None
        why = _too_costly(previous, count, budget, memory_limit)
        if why:
            curve.notes.append(why)
            break
        on_step(f"{curve.name}: {count:,} nodes")
        nodes = NodeSpec(tuple(f"node-{i}" for i in range(count)), (1.0,) * count)
        try:
            start = time.perf_counter()
            placement = algorithms.build(cls, nodes, vnodes)
            build_s = time.perf_counter() - start
            lookups = _lookups(placement, keys, out)
            why = _lookups_too_slow(lookups, count, total, budget)
            if why:
                curve.notes.append(why)
                break
            place_s = best_time(functools.partial(lookups, total), repeat, enough=0.5)
        except Exception as exc:  # a plugin's or a size's failure ends its curve, not the run
            where = f"stopped at {count:,} nodes" if curve.points else "refused"
            what = str(exc) if isinstance(exc, (UsageError, ValueError)) else f"{type(exc).__name__}: {exc}"
            curve.notes.append(f"{where}: {what}")
            break
        curve.points.append(Point(count, place_s * 1e9 / total, build_s * 1e3, memory_bytes(placement)))
        del placement
    return curve


def _step(curve: Curve, i: int) -> str:
    """Lookup cost over the previous size's (the issue's "no step over 3x" criterion)."""
    if i == 0:
        return "-"
    return f"{curve.points[i].place_ns / curve.points[i - 1].place_ns:.2f}"


def rows(curves: list[Curve]) -> list[list[str]]:
    return [
        [
            c.name,
            f"{p.nodes:,}",
            f"{p.place_ns:.1f}",
            _step(c, i),
            f"{p.build_ms:.2f}",
            f"{p.memory_bytes / 1024:,.1f}",
            f"{p.memory_bytes / p.nodes:,.0f}",
        ]
        for c in curves
        for i, p in enumerate(c.points)
    ]


def write_csv(path: Path, curves: list[Curve], keys: int, threads: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["algorithm", "nodes", "keys", "threads", "place_ns_per_key", "build_ms", "memory_bytes"]
        )
        for c in curves:
            for p in c.points:
                writer.writerow(
                    [c.name, p.nodes, keys, threads, f"{p.place_ns:.3f}", f"{p.build_ms:.3f}", p.memory_bytes]
                )


def notes(curves: list[Curve]) -> list[str]:
    return [f"{c.name}: {note}" for c in curves for note in c.notes]


def write_markdown(path: Path, curves: list[Curve], setup: str, plot: bool) -> None:
    table = format_table(HEADERS, rows(curves), markdown=True)
    lines = ["# shardwise simulate --scale", "", setup, "", table]
    if notes(curves):
        lines += ["", "Notes:", "", *(f"- {n}" for n in notes(curves))]
    if plot:
        lines += ["", f"![{PLOT}]({PLOT})"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_plot(path: Path, curves: list[Curve], setup: str, plt: Any) -> None:
    """Lines, not bars: the node count is a number. Log scales on both axes."""
    fig, (lookup, build, memory) = plt.subplots(1, 3, figsize=(15, 4.8), layout="constrained")
    colors = plt.get_cmap("tab20").colors
    drawn = [c for c in curves if c.points]
    for k, c in enumerate(drawn):
        n = [p.nodes for p in c.points]
        style = {"color": colors[k % len(colors)], "marker": "os^Dv"[k % 5], "label": c.name}
        style["linestyle"] = "-" if k < 10 else "--"
        lookup.plot(n, [p.place_ns for p in c.points], **style)
        build.plot(n, [max(p.build_ms, 1e-4) for p in c.points], **style)
        memory.plot(n, [p.memory_bytes / 2**20 for p in c.points], **style)
    for ax, label in (
        (lookup, "bulk place, ns per key"),
        (build, "build time, ms"),
        (memory, "memory held, MiB"),
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("nodes")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    memory.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"Cost as the cluster grows\n{setup}", fontsize=10)
    with atomic_output(path) as target:
        fig.savefig(target, dpi=110, format="png")
    plt.close(fig)


def run(
    args: argparse.Namespace, names: list[str], load_keys: Callable[[argparse.Namespace], tuple[Any, str]]
) -> int:
    """``simulate --scale``: every algorithm in ``names`` at every node count; ``load_keys`` gives
    the keys as ``simulate`` reads them."""
    import shardwise

    if args.nodes is not None or args.weights is not None:
        raise CliError("--scale names the node counts itself: drop --nodes and --weights", 2)
    threads_asked = 1 if args.threads is None else args.threads
    budget = DEFAULT_BUDGET if args.budget is None else args.budget
    memory_limit = DEFAULT_MEMORY_LIMIT if args.memory_limit is None else args.memory_limit
    if not 0 <= threads_asked <= MAX_THREADS:
        raise CliError(f"--threads must be 0 (every core) to {MAX_THREADS}, got {threads_asked}", 2)
    if not math.isfinite(budget) or budget <= 0:
        raise CliError(f"--budget must be a number of seconds > 0, got {budget}", 2)
    counts = parse_counts(args.scale)
    plt = None
    if not args.no_plots:
        from shardwise.cli import plots as plotting

        plt = plotting.pyplot()
    inputs = [("key file", args.key_file)] if args.key_file is not None else []
    if args.key_file is not None:
        check_readable(args.key_file)
    written = OUTPUTS if args.no_plots else (PLOT, *OUTPUTS)
    refuse_inputs("--out", [args.out / name for name in written], inputs)
    keys, source = load_keys(args)
    output_dir("--out", args.out)
    threads_before = shardwise.get_num_threads()
    shardwise.set_num_threads(threads_asked)
    threads = shardwise.get_num_threads()
    vnodes = f", {args.vnodes} vnodes per unit weight" if args.vnodes else ""
    setup = f"{source}, place(out=) on {threads} thread{'s' if threads > 1 else ''}{vnodes}."
    curves = []
    try:
        with Progress(len(names) * len(counts), "simulate --scale", enabled=args.progress) as bar:

            def step(label: str) -> None:
                bar.set_label(label)
                bar.advance()

            for name in names:
                curves.append(
                    measure(
                        name,
                        counts,
                        keys,
                        vnodes=args.vnodes,
                        repeat=args.repeat,
                        budget=budget,
                        memory_limit=memory_limit,
                        on_step=step,
                    )
                )
    finally:
        shardwise.set_num_threads(threads_before)
    print(setup)
    print(format_table(HEADERS, rows(curves)))
    for note in notes(curves):
        print(f"note: {note}")
    out: Path = args.out
    try:
        if plt is not None:
            write_plot(out / PLOT, curves, setup, plt)
        with atomic_output(out / "scale.csv") as path:
            write_csv(path, curves, len(keys), threads)
        with atomic_output(out / "scale.md") as path:
            write_markdown(path, curves, setup, plt is not None)
    except OSError as exc:
        raise CliError(f"cannot write to {str(out)!r}: {exc.strerror or exc}") from None
    print(f"wrote {', '.join(written)} to {out}")
    return 0
