"""``shardwise simulate --scale``: bulk lookup cost, build time and memory as the node count grows.

Each algorithm is built over ``node-0 .. node-{n-1}`` for every count asked for, in increasing
order, and ``place(keys, out=)`` is timed into a buffer kept between runs (lookups only). A size
whose cost, extrapolated linearly from the size before, would pass ``--budget`` seconds or
``--memory-limit`` bytes is skipped with a note instead of run (Rendezvous at a million nodes, a
160-vnode ring at a million nodes).
"""

from __future__ import annotations

import argparse
import csv
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
from shardwise.cli.keyfiles import check_readable, keys_for
from shardwise.cli.metrics import memory_bytes
from shardwise.cli.outfiles import atomic_output, refuse_inputs
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


def _timed(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of up to ``repeat`` runs, in seconds; one run when a run takes over 0.5 s."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        if best > 0.5:
            break
    return best


def _too_costly(previous: Point | None, count: int, keys: int, budget: float, memory_limit: int) -> str:
    """Why ``count`` nodes would pass the limits, extrapolated linearly from ``previous`` ('' if not)."""
    if previous is None:
        return ""
    growth = count / previous.nodes
    seconds = (previous.build_ms / 1e3 + previous.place_ns * keys / 1e9) * growth
    if seconds > budget:
        return f"skipped {count:,} nodes and more: about {seconds:.0f} s expected (--budget {budget:g})"
    held = previous.memory_bytes * growth
    if held > memory_limit:
        return (
            f"skipped {count:,} nodes and more: about {held / 2**20:,.0f} MiB expected "
            f"(--memory-limit {memory_limit / 2**20:,.0f} MiB)"
        )
    return ""


def _lookups(placement: Any, keys: Any, out: npt.NDArray[np.int32]) -> Callable[[], object]:
    """One bulk pass: into ``out`` for shardwise's classes, a new array for other classes."""
    used = keys_for(placement, keys)
    if type(placement).__module__.startswith("shardwise."):
        return lambda: placement.place(used, out=out)
    return lambda: placement.place(used)


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
    for count in counts:
        previous = curve.points[-1] if curve.points else None
        why = _too_costly(previous, count, len(keys), budget, memory_limit)
        if why:
            curve.notes.append(why)
            break
        on_step(f"{curve.name}: {count:,} nodes")
        nodes = NodeSpec(tuple(f"node-{i}" for i in range(count)), (1.0,) * count)
        try:
            start = time.perf_counter()
            placement = algorithms.build(cls, nodes, vnodes)
            build_s = time.perf_counter() - start
            place_s = _timed(_lookups(placement, keys, out), repeat)
        except (UsageError, MemoryError, ValueError) as exc:
            where = f"stopped at {count:,} nodes" if curve.points else "refused"
            curve.notes.append(f"{where}: {exc}")
            break
        curve.points.append(Point(count, place_s * 1e9 / len(keys), build_s * 1e3, memory_bytes(placement)))
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
    if args.threads < 0:
        raise CliError(f"--threads must be 0 (every core) or more, got {args.threads}", 2)
    if not math.isfinite(args.budget) or args.budget <= 0:
        raise CliError(f"--budget must be a number of seconds > 0, got {args.budget}", 2)
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
    threads_before = shardwise.get_num_threads()
    shardwise.set_num_threads(args.threads)
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
                        budget=args.budget,
                        memory_limit=args.memory_limit,
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
        out.mkdir(parents=True, exist_ok=True)
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
