"""``shardwise simulate``: compare placement algorithms on balance, movement and speed."""

from __future__ import annotations

import argparse
import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shardwise.cli import algorithms
from shardwise.cli._common import (
    CliError,
    HelpFormatter,
    NodeSpec,
    format_table,
    parse_nodes,
    positive_int,
)
from shardwise.cli.keyfiles import FORMATS, check_readable, detect_format, key_list, keys_for, read_all_keys
from shardwise.cli.metrics import (
    Owners,
    balance,
    best_time,
    expected_loads,
    memory_bytes,
    moved_share,
    stray_share,
)
from shardwise.cli.outfiles import atomic_output, node_file, output_dir, refuse_inputs
from shardwise.cli.plots import NAMES as PLOT_NAMES
from shardwise.cli.progress import Progress
from shardwise.placement import Placement

EPILOG = """\
examples:
  shardwise simulate                                  # every algorithm, 10 nodes, 1M keys
  shardwise simulate --nodes 50 --keys 5M --algorithms ring,jump,maglev
  shardwise simulate --nodes a,b,c --weights 1,1,2 --vnodes 40
  shardwise simulate --nodes @nodes.txt --key-file keys.txt --out report/

The table shows, per algorithm (the literature's metrics):
  max/mean, stddev   balance: the most loaded node over its fair share; spread of the load
  moved+1%, moved-1% keys that change owner when one node is added / one removed (ideal alongside)
  stray%             monotonicity: keys that moved between two nodes that did not change, over
                     both resizes (0 for a monotone algorithm)
  resize max/mean    balance after the resize (the worse of adding and removing)
  place ns/key       bulk lookup, place() over every key; get_node ns: one key per call
  build ms           init time; add ms / remove ms: resize time (one add_node / remove_node)
  memory KiB         what the placement holds for lookups (sys.getsizeof)
--out gets load.png, movement.png, throughput.png, costs.png, summary.md and summary.csv."""

SINGLE_SAMPLE = 20_000


@dataclass
class Result:
    """The figures of one algorithm (definitions in :mod:`shardwise.cli.metrics`)."""

    name: str
    nodes: tuple[str, ...]
    counts: npt.NDArray[np.int64]
    expected: npt.NDArray[np.float64]
    build_ms: float
    place_ns: float
    get_node_ns: float
    moved_add: float
    ideal_add: float
    moved_remove: float
    ideal_remove: float
    removed_node: str
    memory_bytes: int = 0
    add_ms: float = math.nan
    remove_ms: float = math.nan
    balance_add: float = math.nan
    balance_remove: float = math.nan
    stray_add: float = math.nan
    stray_remove: float = math.nan
    notes: list[str] = field(default_factory=list)

    @property
    def max_over_mean(self) -> float:
        return float(np.max(self.counts / self.expected))

    @property
    def stddev(self) -> float:
        return float(np.sqrt(np.mean((self.counts - self.expected) ** 2)))

    @property
    def stddev_pct(self) -> float:
        return 100.0 * self.stddev / float(np.mean(self.expected))

    @property
    def resize_balance(self) -> float:
        """The worse balance of the two resized placements (one node added, one removed)."""
        return float(np.nanmax([self.balance_add, self.balance_remove]))

    @property
    def stray(self) -> float:
        """Keys that moved between unchanged nodes, over both resizes (0 when monotone)."""
        return float(np.nansum([self.stray_add, self.stray_remove]))


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="compare placement algorithms (balance, movement, speed) with plots",
        description="Compare placement algorithms on balance, keys moved when a node is added or removed, "
        "and lookup speed; print a table and write plots plus a Markdown/CSV summary.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "-a",
        "--algorithms",
        metavar="LIST",
        help=f"comma-separated algorithms (default: all available: {algorithms.names_help()})",
    )
    parser.add_argument(
        "-n",
        "--nodes",
        metavar="N|LIST|@FILE",
        help="a node count, names a,b,c (a=2 for a weight) or @file with 'NAME [WEIGHT]' lines (default: 10)",
    )
    parser.add_argument("-w", "--weights", metavar="LIST", help="comma-separated weights, one per node")
    parser.add_argument(
        "--vnodes",
        type=positive_int,
        metavar="V",
        help="virtual nodes per unit weight, for the algorithms that have them",
    )
    parser.add_argument(
        "-k",
        "--keys",
        type=positive_int,
        metavar="K",
        help="number of keys (default: 1M synthetic keys, or every key of --key-file); accepts 1M, 500k",
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        metavar="FILE",
        help="use keys from a text (one per line), CSV or Parquet file",
    )
    parser.add_argument("--column", metavar="C", help="column of a CSV/Parquet key file (default: the first)")
    parser.add_argument("--format", choices=FORMATS, help="key file format (default: from the extension)")
    parser.add_argument(
        "--key-type",
        choices=("str", "int"),
        default="str",
        help="read text/CSV keys as strings (default) or integers",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic keys (default: 1)")
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("shardwise-out"),
        metavar="DIR",
        help="directory for plots and summaries (default: ./shardwise-out)",
    )
    parser.add_argument("--no-plots", action="store_true", help="write only summary.md and summary.csv")
    parser.add_argument(
        "--repeat",
        type=positive_int,
        default=3,
        help="timing runs per measurement; the best is kept (default: 3)",
    )
    scale = parser.add_argument_group("scale curve (instead of the comparison)")
    scale.add_argument(
        "--scale",
        metavar="COUNTS",
        help="node counts, e.g. 10,100,1k,10k,100k,1M: bulk lookup ns/key, build time and memory of each "
        "algorithm at each count; writes scale.png, scale.md and scale.csv",
    )
    scale.add_argument(
        "--threads",
        type=int,
        metavar="T",
        help="threads for the scale curve's lookups (default: 1; 0: every core)",
    )
    scale.add_argument(
        "--budget",
        type=float,
        metavar="S",
        help="skip a size whose build (extrapolated) or one pass of lookups (timed on a sample first) "
        "would take more than S seconds (default: 30)",
    )
    scale.add_argument(
        "--memory-limit",
        type=positive_int,
        metavar="BYTES",
        help="skip a size expected to hold more than BYTES (default: 2147483648, i.e. 2 GiB; 500M accepted)",
    )
    _progress_options(parser)
    parser.set_defaults(run=run)


def _progress_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="always show the progress bar on stderr",
    )
    group.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="never show it (default: only when stderr is a terminal)",
    )


def synthetic_keys(count: int, seed: int) -> npt.NDArray[np.uint64]:
    """``count`` uniformly random 64-bit integer keys from ``seed``."""
    return np.random.default_rng(seed).integers(0, 2**64, size=count, dtype=np.uint64, endpoint=False)


def _new_node_name(names: tuple[str, ...]) -> str:
    taken = set(names)
    i = len(names)
    while f"node-{i}" in taken:
        i += 1
    return f"node-{i}"


def _timed_change(make: Any, change: Any, repeat: int) -> float:
    """The fastest of ``repeat`` runs of ``change(fresh placement)``, in ms (building not timed)."""
    best = math.inf
    for _ in range(repeat):
        placement = make()
        start = time.perf_counter()
        change(placement)
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def simulate_one(
    name: str, nodes: NodeSpec, keys: Any, vnodes: int | None, repeat: int, bar: Progress
) -> Result:
    cls = algorithms.resolve_class(name)
    count = len(keys)
    weights = dict(zip(nodes.names, nodes.weights, strict=True))
    notes: list[str] = []
    owners = Owners()

    def make() -> Placement:
        return algorithms.build(cls, nodes, vnodes)

    bar.set_label(f"{algorithms.label(name)}: build+place")
    start = time.perf_counter()
    base = make()
    build_ms = (time.perf_counter() - start) * 1e3
    if repeat > 1:
        build_ms = min(build_ms, best_time(make, repeat - 1) * 1e3)
    keys = keys_for(base, keys)  # Arrow columns for shardwise's classes, numpy for plugins
    order = tuple(base.nodes)
    start = time.perf_counter()
    idx = np.asarray(base.place(keys))
    place_s = time.perf_counter() - start
    counts = np.bincount(idx, minlength=len(order)).astype(np.int64)
    if repeat > 1:
        place_s = min(place_s, best_time(lambda: base.place(keys), repeat - 1))
    before = owners.of(order, idx)
    bar.advance()

    bar.set_label(f"{algorithms.label(name)}: get_node")
    sample = key_list(keys[:SINGLE_SAMPLE])
    get_node = base.get_node

    def lookups() -> None:
        for key in sample:
            get_node(key)

    single_s = best_time(lookups, repeat)
    bar.advance()

    bar.set_label(f"{algorithms.label(name)}: add a node")
    added = _new_node_name(nodes.names)
    new_weight = float(np.median(nodes.weights))
    if all(float(w).is_integer() for w in nodes.weights):
        new_weight = float(max(1, round(new_weight)))

    def add(p: Placement) -> None:
        p.add_node(added, new_weight) if nodes.weighted else p.add_node(added)

    grown = make()
    try:
        add(grown)
    except (AttributeError, TypeError, ValueError, NotImplementedError) as exc:
        raise CliError(f"{algorithms.label(name)}: add_node failed: {exc}") from None
    add_ms = _timed_change(make, add, repeat)
    grown_idx = np.asarray(grown.place(keys))
    after = owners.of(tuple(grown.nodes), grown_idx)
    moved_add = moved_share(before, after)
    stray_add = stray_share(before, after, owners.codes([added]))
    balance_add = balance(grown_idx, tuple(grown.nodes), {**weights, added: new_weight})
    ideal_add = new_weight / (sum(nodes.weights) + new_weight)
    bar.advance()

    bar.set_label(f"{algorithms.label(name)}: remove a node")
    shrunk = make()
    removed = order[len(order) // 2]
    remove_ms = balance_remove = stray_remove = math.nan
    if len(order) < 2:
        moved_remove, ideal_remove, removed = math.nan, math.nan, "-"
        notes.append("one node: nothing to remove")
    else:
        try:
            shrunk.remove_node(removed)
        except (ValueError, LookupError, NotImplementedError, TypeError):
            removed = order[-1]
            shrunk = make()
            shrunk.remove_node(removed)
            notes.append("removes only the last node")
        victim = removed
        remove_ms = _timed_change(make, lambda p: p.remove_node(victim), repeat)
        shrunk_idx = np.asarray(shrunk.place(keys))
        after = owners.of(tuple(shrunk.nodes), shrunk_idx)
        moved_remove = moved_share(before, after)
        stray_remove = stray_share(before, after, owners.codes([removed]))
        balance_remove = balance(shrunk_idx, tuple(shrunk.nodes), weights)
        ideal_remove = weights.get(removed, 1.0) / sum(nodes.weights)
    bar.advance()

    return Result(
        name=algorithms.label(name),
        nodes=order,
        counts=counts,
        expected=expected_loads(order, weights, count),
        build_ms=build_ms,
        place_ns=place_s * 1e9 / count,
        get_node_ns=single_s * 1e9 / max(1, len(sample)),
        moved_add=moved_add,
        ideal_add=ideal_add,
        moved_remove=moved_remove,
        ideal_remove=ideal_remove,
        removed_node=removed,
        memory_bytes=memory_bytes(base),
        add_ms=add_ms,
        remove_ms=remove_ms,
        balance_add=balance_add,
        balance_remove=balance_remove,
        stray_add=stray_add,
        stray_remove=stray_remove,
        notes=notes,
    )


def load_keys(args: argparse.Namespace) -> tuple[Any, str]:
    """The keys to place (from --key-file, else synthetic) and a phrase saying what they are."""
    if args.key_file is not None:
        fmt = detect_format(args.key_file, args.format)
        keys = read_all_keys(args.key_file, fmt, args.column, args.key_type, args.keys)
        return keys, f"{len(keys):,} keys from {args.key_file}"
    if args.column or args.format:
        raise CliError("--column and --format apply only with --key-file", 2)
    count = args.keys or 1_000_000
    return synthetic_keys(count, args.seed), f"{count:,} random 64-bit keys (seed {args.seed})"


SUMMARIES = ("summary.md", "summary.csv")
HEADERS = [
    "algorithm",
    "max/mean",
    "stddev",
    "stddev%",
    "moved+1%",
    "ideal+1%",
    "moved-1%",
    "ideal-1%",
    "stray%",
    "resize max/mean",
    "place ns/key",
    "get_node ns",
    "build ms",
    "add ms",
    "remove ms",
    "memory KiB",
]


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.2f}"


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def rows(results: list[Result]) -> list[list[str]]:
    return [
        [
            r.name,
            f"{r.max_over_mean:.4f}",
            f"{r.stddev:.1f}",
            f"{r.stddev_pct:.2f}",
            _pct(r.moved_add),
            _pct(r.ideal_add),
            _pct(r.moved_remove),
            _pct(r.ideal_remove),
            _pct(r.stray),
            f"{r.resize_balance:.4f}",
            f"{r.place_ns:.1f}",
            f"{r.get_node_ns:.0f}",
            f"{r.build_ms:.2f}",
            _ms(r.add_ms),
            _ms(r.remove_ms),
            f"{r.memory_bytes / 1024:.1f}",
        ]
        for r in results
    ]


def write_csv(path: Path, results: list[Result]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "algorithm",
                "nodes",
                "keys",
                "max_over_mean",
                "stddev",
                "stddev_pct",
                "moved_add",
                "ideal_add",
                "moved_remove",
                "ideal_remove",
                "removed_node",
                "stray_add",
                "stray_remove",
                "balance_add",
                "balance_remove",
                "place_ns_per_key",
                "get_node_ns",
                "build_ms",
                "add_ms",
                "remove_ms",
                "memory_bytes",
                "notes",
            ]
        )
        for r in results:
            writer.writerow(
                [
                    r.name,
                    len(r.nodes),
                    int(r.counts.sum()),
                    f"{r.max_over_mean:.6f}",
                    f"{r.stddev:.3f}",
                    f"{r.stddev_pct:.4f}",
                    f"{r.moved_add:.6f}",
                    f"{r.ideal_add:.6f}",
                    f"{r.moved_remove:.6f}",
                    f"{r.ideal_remove:.6f}",
                    r.removed_node,
                    f"{r.stray_add:.6f}",
                    f"{r.stray_remove:.6f}",
                    f"{r.balance_add:.6f}",
                    f"{r.balance_remove:.6f}",
                    f"{r.place_ns:.3f}",
                    f"{r.get_node_ns:.1f}",
                    f"{r.build_ms:.3f}",
                    f"{r.add_ms:.4f}",
                    f"{r.remove_ms:.4f}",
                    r.memory_bytes,
                    "; ".join(r.notes),
                ]
            )


def write_markdown(path: Path, results: list[Result], setup: str, plots: list[str]) -> None:
    lines = ["# shardwise simulate", "", setup, "", format_table(HEADERS, rows(results), markdown=True), ""]
    notes = [f"- {r.name}: {'; '.join(r.notes)}" for r in results if r.notes]
    if notes:
        lines += ["Notes:", "", *notes, ""]
    lines += [f"![{p}]({p})" for p in plots]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    names = algorithms.parse_algorithms(args.algorithms)
    if args.scale is not None:
        from shardwise.cli import scale

        return scale.run(args, names, load_keys)
    if any(v is not None for v in (args.threads, args.budget, args.memory_limit)):
        raise CliError("--threads, --budget and --memory-limit apply only with --scale", 2)
    if args.nodes is None:
        args.nodes = "10"
    if not args.no_plots:
        from shardwise.cli import plots as plotting

        plotting.check_available()  # fail before the work, not after it
    inputs = node_file(args.nodes)
    if args.key_file is not None:
        check_readable(args.key_file)
        inputs.append(("key file", args.key_file))
    written = SUMMARIES if args.no_plots else (*PLOT_NAMES, *SUMMARIES)
    refuse_inputs("--out", [args.out / name for name in written], inputs)
    nodes = parse_nodes(args.nodes, args.weights, allow_count=True)
    keys, source = load_keys(args)
    output_dir("--out", args.out)
    weighted = " weighted" if nodes.weighted else ""
    vnodes = f", {args.vnodes} vnodes per unit weight" if args.vnodes else ""
    setup = f"{len(nodes.names)}{weighted} nodes, {source}{vnodes}."

    results: list[Result] = []
    skipped: list[str] = []
    chosen = args.algorithms is not None and args.algorithms.strip() not in ("", "all")
    with Progress(4 * len(names), "simulate", enabled=args.progress) as bar:
        for name in names:
            try:
                results.append(simulate_one(name, nodes, keys, args.vnodes, args.repeat, bar))
            except CliError as exc:
                if chosen:
                    raise
                skipped.append(f"skipped {algorithms.label(name)}: {exc}")
                bar.advance(4)
    if not results:
        raise CliError(f"no algorithm could run these nodes: {'; '.join(skipped)}")

    print(setup)
    print(format_table(HEADERS, rows(results)))
    for r in results:
        if r.notes:
            print(f"note: {r.name} {'; '.join(r.notes)}")
    for line in skipped:
        print(f"note: {line}")

    out: Path = args.out
    try:
        plots: list[str] = []
        if not args.no_plots:
            from shardwise.cli import plots as plotting

            plots = plotting.write_all(out, results, setup)
        with atomic_output(out / "summary.csv") as path:
            write_csv(path, results)
        with atomic_output(out / "summary.md") as path:
            write_markdown(path, results, setup, plots)
    except OSError as exc:
        raise CliError(f"cannot write to {str(out)!r}: {exc.strerror or exc}") from None
    print(f"wrote {', '.join([*plots, 'summary.md', 'summary.csv'])} to {out}")
    return 0
