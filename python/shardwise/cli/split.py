"""``shardwise place --split-by-owner DIR``: every row of a Parquet or CSV key file, all columns,
into one Parquet dataset per node, ``DIR/node=<name>/part-<k>.parquet`` (hive-style), streamed in
record batches by :func:`shardwise.data.partition_by_owner`. ``DIR`` must not exist yet; it
appears only once the run is complete."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from shardwise.cli._common import CliError, UsageError
from shardwise.cli.keyfiles import check_readable, detect_format, need_pyarrow, parquet_rows, pick_column
from shardwise.cli.outfiles import node_file, refuse_inputs
from shardwise.cli.progress import Progress


def _key_column(args: argparse.Namespace, fmt: str) -> str:
    """The ``--column`` name (or index) among the file's columns; the first by default."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            names = list(pq.ParquetFile(args.keys).schema_arrow.names)
        except Exception as exc:
            raise CliError(f"{args.keys}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    else:
        from shardwise.cli.keyfiles import _csv_columns

        names = _csv_columns(
            args.keys, "\t" if ".tsv" in [x.lower() for x in args.keys.suffixes] else ",", True
        )
    return pick_column(names, args.column, args.keys)


def run(args: argparse.Namespace, placement: Any, nodes: Any) -> int:
    from shardwise.cli.place import load_summary
    from shardwise.data import partition_by_owner

    target: Path = args.split_by_owner
    fmt = detect_format(args.keys, args.format)
    if fmt == "text":
        raise UsageError(
            "--split-by-owner needs a Parquet or CSV key file (rows with columns); a text file holds "
            "only keys: use --out"
        )
    if args.no_header:
        raise UsageError("--split-by-owner needs a CSV header row (the column names of the output)")
    if args.out_format is not None:
        raise UsageError("--out-format applies to --out; --split-by-owner always writes Parquet")
    check_readable(args.keys)
    refuse_inputs("--split-by-owner", [target], [("key file", args.keys), *node_file(args.nodes)])
    if target.exists():
        raise CliError(f"--split-by-owner {str(target)!r} exists; remove it or choose another directory")
    need_pyarrow("--split-by-owner")
    key = _key_column(args, fmt)
    total = parquet_rows(args.keys) if fmt == "parquet" else None
    with Progress(total, "splitting", enabled=args.progress, unit=" rows") as bar:
        try:
            summary = partition_by_owner(
                args.keys,
                target,
                placement,
                key,
                format=fmt,
                key_type=args.key_type,
                batch_size=min(args.chunk_size, 1 << 17),
                progress=bar.advance,
            )
        except (ValueError, TypeError, KeyError, OverflowError, OSError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise CliError(f"{args.keys}: {message}") from None
    order = tuple(placement.nodes)
    counts = np.array([summary.rows[n] for n in order], dtype=np.int64)
    if summary.total == 0:
        shutil.rmtree(target, ignore_errors=True)
        raise CliError(f"key file {str(args.keys)!r} holds no rows")
    weights = dict(zip(nodes.names, nodes.weights, strict=True))
    print(load_summary(order, weights, counts))
    print(
        f"wrote {summary.total:,} rows into {len(summary.directories)} node datasets "
        f"({summary.files} Parquet files) under {target}"
    )
    return 0
