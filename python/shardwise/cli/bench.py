"""``shardwise bench``: ns per key for shardwise (Rust), its pure-Python twins and peer libraries."""

from __future__ import annotations

import argparse
import functools
import importlib
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shardwise.cli import algorithms
from shardwise.cli._common import CliError, HelpFormatter, UsageError, format_table, positive_int
from shardwise.cli.outfiles import atomic_output

EPILOG = """\
examples:
  shardwise bench --quick                  # a few seconds
  shardwise bench --nodes 100 --out bench.md
  shardwise bench --cases ring,jump,hash,select

Every case times the same str keys ("key:0", "key:1", ...). "shardwise bulk" is one place() /
NAME_many() call over all keys (Rust, GIL released, all cores); "shardwise get_node" a Python loop
of single lookups; "pure" the pure-Python twin from shardwise.pure; the other rows are the peer
libraries that are installed (uhashring, ketama, jump-consistent-hash, xxhash, mmh3); absent ones
are listed as skipped. "select" times balancer picks (ns per pick), Rust vs pure twin. ratio = ns/key
of the row / ns/key of shardwise bulk (or shardwise pick) in the same case (lower is better).
The best of --repeat runs is kept; the machine's other load shows, so compare ratios."""

PEERS = {
    "uhashring": "uhashring",
    "ketama": "ketama",
    "jump": "jump-consistent-hash",
    "xxhash": "xxhash",
    "mmh3": "mmh3",
}


@dataclass
class Row:
    case: str
    implementation: str
    ns_per_key: float
    keys: int


@dataclass
class Bench:
    keys: list[str]
    sample: list[str]
    nodes: list[str]
    repeat: int
    rows: list[Row]
    skipped: list[str]

    def time(self, case: str, implementation: str, fn: Callable[[], Any], count: int) -> None:
        best = math.inf
        for _ in range(self.repeat):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        self.rows.append(Row(case, implementation, best * 1e9 / count, count))

    def loop(
        self, case: str, implementation: str, fn: Callable[[Any], Any], keys: list[Any] | None = None
    ) -> None:
        sample = self.sample if keys is None else keys

        def run() -> None:
            for key in sample:
                fn(key)

        self.time(case, implementation, run, len(sample))


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark Rust vs pure-Python twins vs installed peer libraries",
        description="Time placement and hashing per key: shardwise's Rust core in bulk and one key at a "
        "time, its pure-Python twins, and the peer libraries that are installed; print a Markdown table.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small inputs, one run each (a few seconds)")
    parser.add_argument("--keys", type=positive_int, metavar="K", help="bulk keys (default 1M; --quick 50k)")
    parser.add_argument(
        "--sample",
        type=positive_int,
        metavar="S",
        help="keys for the per-key Python loops (default 50k; --quick 5k)",
    )
    parser.add_argument(
        "--nodes", type=positive_int, default=100, metavar="N", help="node count (default 100)"
    )
    parser.add_argument(
        "--cases",
        metavar="LIST",
        help="comma-separated: placement short names (ring, ketama, jump, ...) and 'hash' "
        "(default: all available)",
    )
    parser.add_argument(
        "--repeat", type=positive_int, metavar="R", help="runs per measurement (default 3; quick 1)"
    )
    parser.add_argument("--out", type=Path, metavar="FILE", help="also write the Markdown table to FILE")
    parser.set_defaults(run=run)


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _pure_class(class_name: str) -> Any:
    module = _optional("shardwise.pure.placement")
    return getattr(module, class_name, None) if module is not None else None


def bench_placement(b: Bench, algo: algorithms.Algorithm) -> None:
    cls = algorithms.resolve_class(algo.name)
    placement = cls(b.nodes)
    keys_array = np.array(b.keys, dtype=object)
    placement.place(keys_array[:100])
    b.time(algo.name, "shardwise bulk", lambda: placement.place(keys_array), len(b.keys))
    b.loop(algo.name, "shardwise get_node", placement.get_node)
    pure = _pure_class(algo.class_name)
    if pure is not None:
        twin = pure(b.nodes)
        b.loop(algo.name, "pure get_node", twin.get_node, b.sample[: max(1, len(b.sample) // 10)])
    else:
        b.skipped.append(f"{algo.name}: no pure twin {algo.class_name} in shardwise.pure.placement")
    if algo.name in ("ring", "ketama"):
        uhashring = _optional("uhashring")
        if uhashring is None:
            b.skipped.append(f"{algo.name}: uhashring not installed")
        else:
            flavor = {"hash_fn": "ketama"} if algo.name == "ketama" else {}
            ring = uhashring.HashRing(nodes=b.nodes, **flavor)
            b.loop(
                algo.name,
                f"uhashring{' (ketama)' if flavor else ''}",
                ring.get_node,
                b.sample[: max(1, len(b.sample) // 10)],
            )
    if algo.name == "ketama":
        ketama = _optional("ketama")
        if ketama is None:
            b.skipped.append("ketama: libketama binding (ketama) not installed")
        else:
            with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as handle:
                handle.write("".join(f"{n}\t100\n" for n in b.nodes))
            try:
                continuum = ketama.Ketama(handle.name)
                b.loop(algo.name, "ketama (libketama)", continuum.get_server)
            finally:
                os.unlink(handle.name)
    if algo.name == "jump":
        jump = _optional("jump")
        if jump is None:
            b.skipped.append("jump: jump-consistent-hash not installed")
        else:
            ints = list(range(len(b.sample)))
            count = len(b.nodes)
            b.loop(algo.name, "jump-consistent-hash (int keys)", lambda k: jump.hash(k, count), ints)


def bench_hashing(b: Bench) -> None:
    from shardwise import hashing

    keys_array = np.array(b.keys, dtype=object)
    pure = _optional("shardwise.pure.hashing")
    xxhash = _optional("xxhash")
    mmh3 = _optional("mmh3")
    peers: list[tuple[str, Callable[[str], int] | None]] = [
        ("xxh3_64", (lambda k: xxhash.xxh3_64_intdigest(k.encode())) if xxhash else None),
        ("murmur3_32", mmh3.hash if mmh3 else None),
    ]
    for name, peer in peers:
        case = f"hash {name}"
        many = getattr(hashing, f"{name}_many")
        b.time(case, "shardwise bulk", functools.partial(many, keys_array), len(b.keys))
        b.loop(case, "shardwise one key", getattr(hashing, name))
        twin = getattr(pure, name, None) if pure is not None else None
        if twin is not None:
            b.loop(case, "pure", twin, b.sample[: max(1, len(b.sample) // 10)])
        else:
            b.skipped.append(f"{case}: no pure twin in shardwise.pure.hashing")
        if peer:
            b.loop(case, "xxhash" if name == "xxh3_64" else "mmh3", peer)
        else:
            b.skipped.append(f"{case}: {'xxhash' if name == 'xxh3_64' else 'mmh3'} not installed")


def bench_selection(b: Bench) -> None:
    """``pick()`` (``acquire()`` + release for LeastConnections) of every registered balancer: Rust vs
    the pure-Python twin."""
    from shardwise import selection
    from shardwise.pure import selection as pure

    weights = {name: float(1 + i % 3) for i, name in enumerate(b.nodes)}
    for class_name, cls in selection.CLASSES.items():
        case = f"pick {class_name}"
        for label, source, count in (("shardwise", cls, len(b.sample)), ("pure", None, len(b.sample) // 10)):
            balancer = (source if source is not None else pure.CLASSES[class_name])(weights)
            calls = max(1, count)
            if class_name == "LeastConnections":

                def run(balancer: Any = balancer, calls: int = calls) -> None:
                    for _ in range(calls):
                        balancer.acquire().release()
            else:

                def run(balancer: Any = balancer, calls: int = calls) -> None:
                    pick = balancer.pick
                    for _ in range(calls):
                        pick()

            b.time(case, f"{label} pick", run, calls)


def table(rows: list[Row], markdown: bool) -> str:
    base: dict[str, float] = {}
    for r in rows:
        if r.implementation in ("shardwise bulk", "shardwise pick"):
            base[r.case] = r.ns_per_key
    cells = [
        [
            r.case,
            r.implementation,
            f"{r.ns_per_key:.1f}",
            f"{r.ns_per_key / base[r.case]:.1f}x" if r.case in base else "-",
            str(r.keys),
        ]
        for r in rows
    ]
    return format_table(["case", "implementation", "ns/key", "ratio", "keys"], cells, markdown=markdown)


def run(args: argparse.Namespace) -> int:
    quick = args.quick
    count = args.keys or (50_000 if quick else 1_000_000)
    sample = args.sample or (5_000 if quick else 50_000)
    repeat = args.repeat or (1 if quick else 3)
    available = {a.name: a for a in algorithms.available()}
    if args.cases:
        wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
        for case in wanted:
            if case not in ("hash", "select") and case not in available:
                known = ", ".join([*available, "hash", "select"])
                raise UsageError(f"--cases: {case!r} is not available here (choose from {known})")
    else:
        wanted = [*available, "hash", "select"]
    keys = [f"key:{i}" for i in range(count)]
    b = Bench(keys, keys[:sample], [f"node-{i}" for i in range(args.nodes)], repeat, [], [])
    from shardwise.cli.progress import Progress

    with Progress(len(wanted), "bench") as bar:
        for case in wanted:
            bar.set_label(f"bench {case}")
            if case == "hash":
                bench_hashing(b)
            elif case == "select":
                bench_selection(b)
            else:
                bench_placement(b, available[case])
            bar.advance()
    missing = [f"{pkg} (pip install {dist})" for pkg, dist in PEERS.items() if _optional(pkg) is None]
    from shardwise import get_num_threads

    header = (
        f"shardwise bench: {count:,} str keys bulk, {sample:,} per-key loops, {args.nodes} nodes, "
        f"best of {repeat}, {get_num_threads()} threads"
    )
    text = table(b.rows, markdown=True)
    print(header)
    print()
    print(text)
    notes = [*b.skipped, *(f"peer not installed: {m}" for m in missing)]
    for note in dict.fromkeys(notes):
        print(f"skipped: {note}")
    if args.out is not None:
        body = "\n".join([f"# {header}", "", text, "", *(f"- skipped: {n}" for n in dict.fromkeys(notes))])
        try:
            with atomic_output(args.out) as path:
                path.write_text(body + "\n", encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot write {str(args.out)!r}: {exc.strerror or exc}") from None
    return 0
