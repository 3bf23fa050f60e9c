"""``shardwise place``: assign the keys of a file to nodes, streaming, and write key -> node."""

from __future__ import annotations

import argparse
import contextlib
import csv
from pathlib import Path
from typing import Any

import numpy as np

from shardwise._key_inputs import is_bytes_type
from shardwise.cli import algorithms
from shardwise.cli._common import CliError, HelpFormatter, UsageError, format_table, parse_nodes, positive_int
from shardwise.cli.keyfiles import (
    FORMATS,
    KeyChunk,
    check_readable,
    detect_format,
    is_compressed,
    keys_for,
    need_pyarrow,
    parquet_rows,
    read_keys,
)
from shardwise.cli.outfiles import atomic_output, node_file, refuse_inputs
from shardwise.cli.progress import Progress

EPILOG = """\
examples:
  shardwise place --algo ring --nodes a,b,c --keys keys.txt --out placed.csv
  shardwise place --algo ketama --nodes @servers.txt --keys users.parquet \\
      --column user_id --out placed.parquet
  shardwise place --algo jump --nodes s0,s1,s2,s3 --keys events.csv --column 2 --out -
  shardwise place --algo ring --nodes a,b,c --keys events.parquet --column user_id \\
      --split-by-owner events-by-node/

--nodes takes a,b,c (a=2 gives a weight), or @FILE with one 'NAME [WEIGHT]' a line ('#' comments).
Text key files hold one key per line; CSV and Parquet need pyarrow (pip install 'shardwise[cli]').
Keys are read and placed in chunks, so files of any size fit in modest memory. --out '-' writes
CSV to stdout (the load summary then goes to stderr). bounded: the load bound applies per chunk."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "place",
        help="assign the keys of a text/CSV/Parquet file to nodes",
        description="Assign every key of a file to a node and write a CSV or Parquet file of key,node; "
        "print the load per node at the end.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--algo", required=True, metavar="NAME", help=f"algorithm: {algorithms.names_help()}, or module:Class"
    )
    parser.add_argument("--nodes", required=True, metavar="LIST|@FILE", help="node names, or @file")
    parser.add_argument("--weights", metavar="LIST", help="comma-separated weights, one per node")
    parser.add_argument(
        "--vnodes",
        type=int,
        metavar="V",
        help="virtual nodes per unit weight (ring algorithms; default: the class default)",
    )
    parser.add_argument("--keys", required=True, type=Path, metavar="FILE", help="the key file")
    parser.add_argument(
        "--column", metavar="C", help="CSV/Parquet column name or 0-based index (default: first)"
    )
    parser.add_argument("--format", choices=FORMATS, help="key file format (default: from the extension)")
    parser.add_argument("--no-header", action="store_true", help="the CSV file has no header row")
    parser.add_argument(
        "--key-type",
        choices=("str", "int"),
        default="str",
        help="read text/CSV keys as strings (default) or as integers (hashed as 8 bytes)",
    )
    parser.add_argument(
        "--chunk-size",
        type=positive_int,
        default=1 << 20,
        metavar="N",
        help="keys read and placed at a time (default: 1048576)",
    )
    outputs = parser.add_mutually_exclusive_group(required=True)
    outputs.add_argument("--out", metavar="FILE", help="output .csv or .parquet (or '-' for CSV on stdout)")
    outputs.add_argument(
        "--split-by-owner",
        type=Path,
        metavar="DIR",
        help="write every row of the Parquet/CSV key file, all columns, into DIR/node=NAME/ (one "
        "Parquet dataset per node, hive-style) instead of key,node rows",
    )
    parser.add_argument("--out-format", choices=("csv", "parquet"), help="default: from the --out extension")
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
    parser.set_defaults(run=run)


class Writer:
    """Writes (key, node) rows as CSV or Parquet to ``target`` (a path, or '-' for stdout), one
    chunk at a time."""

    def __init__(self, target: str, fmt: str, nodes: tuple[str, ...]) -> None:
        self.target = target
        self.fmt = fmt
        self.nodes = nodes
        self._names = np.array(nodes, dtype=object)
        self._arrow: Any = None
        self._writer: Any = None
        self._handle: Any = None
        if fmt == "parquet":
            self._arrow = need_pyarrow("writing Parquet")
        else:
            try:
                import pyarrow

                self._arrow = pyarrow
            except ImportError:
                self._arrow = None

    def write(self, chunk: KeyChunk, idx: Any) -> None:
        if self._arrow is not None and self.target != "-":
            self._write_arrow(chunk, idx)
        else:
            self._write_stdlib(chunk, idx)

    def _key_array(self, chunk: KeyChunk) -> Any:
        pa = self._arrow
        if chunk.arrow is not None:
            return chunk.arrow
        keys = chunk.keys
        if isinstance(keys, list):
            return pa.array(keys, type=pa.string())
        return pa.array(keys)

    def _write_arrow(self, chunk: KeyChunk, idx: Any) -> None:
        pa = self._arrow
        key = self._key_array(chunk)
        indices = pa.array(np.asarray(idx, dtype=np.int32))
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            node = pa.DictionaryArray.from_arrays(indices, pa.array(list(self.nodes), type=pa.string()))
            table = pa.table({"key": key, "node": node})
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.target, table.schema)
            self._writer.write_table(table)
        else:
            import pyarrow.compute as pc
            import pyarrow.csv as pacsv

            node = pc.take(pa.array(list(self.nodes), type=pa.string()), indices)
            if is_bytes_type(pa, key.type):
                raise CliError("binary keys cannot be written as CSV; use a .parquet output")
            table = pa.table({"key": key, "node": node})
            if self._writer is None:
                self._writer = pacsv.CSVWriter(
                    self.target, table.schema, write_options=pacsv.WriteOptions(quoting_style="needed")
                )
            self._writer.write_table(table)

    def _write_stdlib(self, chunk: KeyChunk, idx: Any) -> None:
        import sys

        if self._handle is None:
            self._handle = (
                sys.stdout if self.target == "-" else open(self.target, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
            )
            self._csv = csv.writer(self._handle, lineterminator="\n")
            self._csv.writerow(["key", "node"])
        keys = chunk.keys.tolist() if hasattr(chunk.keys, "tolist") else chunk.keys
        if keys and isinstance(keys[0], bytes):
            raise CliError("binary keys cannot be written as CSV; use a .parquet output")
        self._csv.writerows(zip(keys, self._names[np.asarray(idx)].tolist(), strict=True))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._handle is not None and self.target != "-":
            self._handle.close()


def _out_format(target: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    if target == "-":
        return "csv"
    suffix = Path(target).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".csv":
        return "csv"
    raise UsageError(
        f"--out {target!r}: cannot tell the format from the extension; use .csv or .parquet "
        "or give --out-format"
    )


def load_summary(nodes: tuple[str, ...], weights: dict[str, float], counts: Any) -> str:
    total = int(counts.sum())
    w = np.array([weights.get(n, 1.0) for n in nodes], dtype=np.float64)
    expected = total * w / w.sum() if total else np.zeros(len(nodes))
    rows = []
    for name, count, exp in zip(nodes, counts.tolist(), expected.tolist(), strict=True):
        share = 100.0 * count / total if total else 0.0
        rows.append(
            [
                name,
                str(count),
                f"{share:.2f}",
                f"{100.0 * exp / total if total else 0:.2f}",
                f"{count / exp:.3f}" if exp else "-",
            ]
        )
    shown = rows if len(rows) <= 60 else rows[:60]
    table = format_table(["node", "keys", "share%", "fair%", "load/fair"], shown)
    if len(rows) > 60:
        table += f"\n... {len(rows) - 60} more nodes"
    if total:
        ratio = counts / expected
        table += (
            f"\n{total:,} keys on {len(nodes)} nodes: max/mean {ratio.max():.4f}, "
            f"stddev {np.sqrt(np.mean((counts - expected) ** 2)):.1f} keys"
        )
    return table


def build_placement(args: argparse.Namespace, cls: type, nodes: Any) -> Any:
    """The placement ``--algo``, ``--nodes`` and ``--vnodes`` ask for."""
    import sys

    if args.vnodes is not None and args.vnodes < 1:
        raise UsageError("--vnodes must be >= 1")
    placement = algorithms.build(cls, nodes, args.vnodes)
    if args.vnodes is not None and algorithms.vnode_parameter(cls) is None:
        print(
            f"shardwise place: note: {algorithms.label(args.algo)} has no virtual nodes; --vnodes ignored",
            file=sys.stderr,
        )
    return placement


def run(args: argparse.Namespace) -> int:
    import sys

    cls = algorithms.resolve_class(args.algo)
    nodes = parse_nodes(args.nodes, args.weights)
    if args.split_by_owner is not None:
        from shardwise.cli import split

        return split.run(args, build_placement(args, cls, nodes), nodes)
    out_fmt = _out_format(args.out, args.out_format)
    if args.out_format == "parquet" and args.out == "-":
        raise UsageError("--out -: Parquet cannot be written to stdout")
    check_readable(args.keys)
    if args.out != "-":
        refuse_inputs("--out", [Path(args.out)], [("key file", args.keys), *node_file(args.nodes)])
    placement = build_placement(args, cls, nodes)
    order = tuple(placement.nodes)
    fmt = detect_format(args.keys, args.format)
    chunks = read_keys(
        args.keys, fmt, args.column, args.key_type, header=not args.no_header, chunk_rows=args.chunk_size
    )
    counts = np.zeros(len(order), dtype=np.int64)
    if fmt == "text" and not is_compressed(args.keys):
        total, unit, by_bytes = args.keys.stat().st_size, "B", True
    else:
        total, unit, by_bytes = (parquet_rows(args.keys) if fmt == "parquet" else None), " keys", False
    with contextlib.ExitStack() as stack:
        # A file is written under a temporary name and renamed at the end (never half-written).
        target = args.out if args.out == "-" else str(stack.enter_context(atomic_output(Path(args.out))))
        writer = Writer(target, out_fmt, order)
        try:
            with Progress(total, "placing", enabled=args.progress, unit=unit) as bar:
                for chunk in chunks:
                    if chunk.count == 0:
                        continue
                    try:
                        idx = np.asarray(placement.place(keys_for(placement, chunk.keys)))
                    except (TypeError, ValueError, OverflowError) as exc:
                        raise CliError(f"{args.keys}: {exc}") from None
                    counts += np.bincount(idx, minlength=len(order))
                    writer.write(chunk, idx)
                    bar.advance(chunk.size if by_bytes else chunk.count)
        finally:
            writer.close()
        if counts.sum() == 0:
            raise CliError(f"key file {str(args.keys)!r} holds no keys")
    summary_stream = sys.stderr if args.out == "-" else sys.stdout
    weights = dict(zip(nodes.names, nodes.weights, strict=True))
    print(load_summary(order, weights, counts), file=summary_stream)
    if args.out != "-":
        print(f"wrote {int(counts.sum()):,} rows (key, node) to {args.out}", file=summary_stream)
    return 0
