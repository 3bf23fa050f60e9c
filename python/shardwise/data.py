"""Partition a dataset by owner: read a Parquet or CSV dataset in record batches, place each row's
key, and write one Parquet dataset per node, hive-style (``TARGET/node=<name>/part-<k>.parquet``),
every original column kept.

Memory stays flat whatever the input size: one input batch at a time, rows waiting for a node's
next row group capped per node and in total. Nothing appears under the final name until the end:
the output is written to a hidden sibling (``.TARGET.partial-…``) and renamed when complete, so an
interrupted run leaves no half-written dataset where a finished one is expected. An input and an
output that are the same file, or an output inside the input (or the reverse), are refused before
anything is written. Needs pyarrow (``pip install 'shardwise[cli]'``).

Node names are percent-encoded in directory names (as pyarrow's hive partitioning writes and
reads them): ``pyarrow.dataset.dataset(target, partitioning="hive")`` gives back every row with a
``node`` column. A :class:`~shardwise.BoundedLoadRing` applies its load bound per input batch.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from shardwise._compressed import open_binary, refuse_compressed_parquet
from shardwise._key_inputs import DROP_NULLS
from shardwise.cli.outfiles import same_or_inside
from shardwise.placement._protocol import Placement

__all__ = ["PartitionSummary", "check_separate", "partition_by_owner"]

FORMATS = ("parquet", "csv")
ROWS_PER_GROUP = 1 << 17
BUFFER_BYTES = 128 << 20
MAX_OPEN_FILES = 128


@dataclass
class PartitionSummary:
    """What :func:`partition_by_owner` wrote: rows per node (every node, 0 for one that owns none),
    the node directories that exist, and the files."""

    target: Path
    rows: dict[str, int]
    directories: dict[str, Path] = field(default_factory=dict)
    files: int = 0

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def check_separate(sources: Sequence[str | os.PathLike[str]], target: str | os.PathLike[str]) -> None:
    """Refuse an output that is an input, lies inside one, or contains one (symlinks and hard links
    resolved)."""
    out = Path(target)
    for source in sources:
        src = Path(source)
        if same_or_inside(out, src):
            raise ValueError(f"output {os.fspath(out)!r} is the input {os.fspath(src)!r} or inside it")
        if same_or_inside(src, out):
            raise ValueError(f"input {os.fspath(src)!r} is inside the output {os.fspath(out)!r}")


def _files(paths: list[Path]) -> list[Path]:
    """The data files of files and directories (hidden and ``_`` files skipped, as pyarrow does)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith((".", "_")))
        else:
            found.append(path)
    return found


def _format(files: list[Path], explicit: str | None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {explicit!r}")
        return explicit
    names = [f.name.lower() for f in files]
    for suffix in (".gz", ".bz2", ".xz", ".zst"):
        names = [n.removesuffix(suffix) for n in names]
    if names and all(n.endswith((".parquet", ".pq")) for n in names):
        return "parquet"
    if names and all(n.endswith((".csv", ".tsv")) for n in names):
        return "csv"
    raise ValueError("cannot tell the input format from the file names; pass format='parquet' or 'csv'")


def _parquet(files: list[Path], batch_size: int) -> tuple[Any, Iterator[Any]]:
    """Parquet files one after the other, read a page at a time: without pre-buffering (which holds
    whole row groups, hundreds of MB for large ones) memory stays near one batch."""
    import pyarrow.parquet as pq

    for f in files:
        refuse_compressed_parquet(f)

    def reader(path: Path) -> Any:
        return pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)

    first = reader(files[0])
    schema = first.schema_arrow

    def batches() -> Iterator[Any]:
        for i, path in enumerate(files):
            current = first if i == 0 else reader(path)
            if not current.schema_arrow.equals(schema):
                raise ValueError(f"{os.fspath(path)!r} has other columns than {os.fspath(files[0])!r}")
            yield from current.iter_batches(batch_size=batch_size)

    return schema, batches()


def _csv(files: list[Path], key: str, key_type: str, batch_size: int) -> tuple[Any, Iterator[Any]]:
    """CSV files one after the other (decompressed if they are), the key column as str or int."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def reader(path: Path) -> Any:
        tsv = ".tsv" in [s.lower() for s in path.suffixes]
        return pacsv.open_csv(
            open_binary(path),
            read_options=pacsv.ReadOptions(block_size=max(1 << 20, batch_size * 64)),
            parse_options=pacsv.ParseOptions(delimiter="\t" if tsv else ","),
            convert_options=pacsv.ConvertOptions(
                column_types={key: pa.int64() if key_type == "int" else pa.string()},
                strings_can_be_null=False,
            ),
        )

    first = reader(files[0])

    def batches() -> Iterator[Any]:
        for i, path in enumerate(files):
            current = first if i == 0 else reader(path)
            if not current.schema.equals(first.schema):
                raise ValueError(f"{os.fspath(path)!r} has other columns than {os.fspath(files[0])!r}")
            yield from current

    return first.schema, batches()


class _NodeFiles:
    """Per node: rows waiting for the next row group, and an open Parquet writer (at most
    ``max_open`` at once; a closed node continues in a new part file)."""

    def __init__(self, root: Path, schema: Any, nodes: tuple[str, ...], column: str, max_open: int) -> None:
        self.root, self.schema, self.nodes, self.column, self.max_open = root, schema, nodes, column, max_open
        self.waiting: dict[int, list[Any]] = {}
        self.waiting_rows = [0] * len(nodes)
        self.waiting_bytes = 0
        self.writers: dict[int, Any] = {}  # insertion order = least recently opened first
        self.parts = [0] * len(nodes)
        self.files = 0

    def directory(self, node: int) -> Path:
        return self.root / f"{self.column}={quote(self.nodes[node], safe='')}"

    def add(self, node: int, rows: Any) -> None:
        self.waiting.setdefault(node, []).append(rows)
        self.waiting_rows[node] += rows.num_rows
        self.waiting_bytes += rows.nbytes
        if self.waiting_rows[node] >= ROWS_PER_GROUP:
            self.flush(node)
        while self.waiting_bytes > BUFFER_BYTES:
            self.flush(max(self.waiting, key=lambda n: self.waiting_rows[n]))

    def flush(self, node: int) -> None:
        import pyarrow as pa

        batches = self.waiting.pop(node, [])
        if not batches:
            return
        self.waiting_rows[node] = 0
        self.waiting_bytes -= sum(b.nbytes for b in batches)
        self._writer(node).write_table(pa.Table.from_batches(batches, schema=self.schema))

    def _writer(self, node: int) -> Any:
        import pyarrow.parquet as pq

        writer = self.writers.get(node)
        if writer is not None:
            return writer
        if len(self.writers) >= self.max_open:
            oldest = next(iter(self.writers))
            self.writers.pop(oldest).close()
        directory = self.directory(node)
        directory.mkdir(exist_ok=True)
        path = directory / f"part-{self.parts[node]}.parquet"
        self.parts[node] += 1
        self.files += 1
        writer = self.writers[node] = pq.ParquetWriter(path, self.schema)
        return writer

    def close(self) -> None:
        for node in list(self.waiting):
            self.flush(node)
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


def _first_null(column: Any) -> int:
    import pyarrow.compute as pc

    return int(pc.index(pc.is_null(column), True).as_py())


def _split(batches: Iterator[Any], placement: Placement, key: str, files: _NodeFiles) -> list[int]:
    """Place every batch and hand each node its rows; the rows each node received."""
    counts = np.zeros(len(files.nodes), dtype=np.int64)
    seen = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        keys = batch.column(key)
        if keys.null_count:
            raise ValueError(
                f"key column {key!r} is null at row {seen + _first_null(keys)}; keys cannot be null: "
                f"drop those rows first ({DROP_NULLS})"
            )
        owners = placement.place(keys)
        order = np.argsort(owners, kind="stable")
        per_node = np.bincount(owners, minlength=len(files.nodes))
        grouped = batch.take(order)
        start = 0
        for node in np.flatnonzero(per_node).tolist():
            files.add(node, grouped.slice(start, int(per_node[node])))
            start += int(per_node[node])
        counts += per_node
        seen += batch.num_rows
    return [int(c) for c in counts]


def partition_by_owner(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    target: str | os.PathLike[str],
    placement: Placement,
    key: str,
    *,
    format: str | None = None,
    key_type: str = "str",
    column: str = "node",
    batch_size: int = 1 << 16,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> PartitionSummary:
    """Write the rows of ``source`` (a Parquet or CSV file or directory, or a list of files) into
    one hive-style Parquet dataset per node of ``placement`` under ``target``, by the owner of
    each row's ``key``.

    ``format``: ``"parquet"`` or ``"csv"`` (default: from the file names; CSV files may be gzip,
    bzip2, xz or zstd compressed). ``key_type``: CSV keys
    are read as strings (``"str"``, default) or integers (``"int"``, hashed as 8 bytes); Parquet
    columns keep their type. ``column``: the partition column name. ``overwrite``: replace an
    existing ``target`` (else it is refused). ``progress(rows)`` is called after each batch.
    Returns a :class:`PartitionSummary`. Raises ``ValueError`` for an output that overlaps the
    input, a null key (with its row), and ``FileExistsError`` for an existing target.
    """
    pa_needed()
    paths = [Path(source)] if isinstance(source, (str, os.PathLike)) else [Path(s) for s in source]
    out = Path(target)
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"input {os.fspath(path)!r} does not exist")
    check_separate(paths, out)
    if not out.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {os.fspath(out)!r}: directory {os.fspath(out.parent)!r} does not exist"
        )
    if out.exists() and not overwrite:
        raise FileExistsError(f"output {os.fspath(out)!r} exists; remove it or pass overwrite=True")
    if key_type not in ("str", "int"):
        raise ValueError(f"key_type must be 'str' or 'int', not {key_type!r}")
    files = _files(paths)
    if not files:
        raise ValueError(f"no data files in {', '.join(repr(os.fspath(p)) for p in paths)}")
    fmt = _format(files, format)
    schema, batches = (
        _parquet(files, batch_size) if fmt == "parquet" else _csv(files, key, key_type, batch_size)
    )
    names = list(schema.names)
    if key not in names:
        shown = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
        raise KeyError(f"no key column {key!r} in {os.fspath(paths[0])!r} (columns: {shown})")
    if column in names:
        raise ValueError(f"the input already has a column {column!r}; choose another partition column name")
    nodes = tuple(placement.nodes)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    partial.mkdir()
    try:
        writers = _NodeFiles(partial, schema, nodes, column, MAX_OPEN_FILES)
        try:
            counts = _split(_reporting(batches, progress), placement, key, writers)
        finally:
            writers.close()
        _publish(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    directories = {n: out / writers.directory(i).name for i, n in enumerate(nodes) if counts[i]}
    return PartitionSummary(out, dict(zip(nodes, counts, strict=True)), directories, writers.files)


def _reporting(batches: Iterator[Any], progress: Callable[[int], None] | None) -> Iterator[Any]:
    for batch in batches:
        yield batch
        if progress is not None:
            progress(batch.num_rows)


def _publish(partial: Path, out: Path) -> None:
    """Move the finished output to its final name (an existing one is replaced, then removed)."""
    if not out.exists():
        partial.rename(out)
        return
    old = out.parent / f".{out.name}.old-{secrets.token_hex(4)}"
    out.rename(old)
    partial.rename(out)
    shutil.rmtree(old) if old.is_dir() else old.unlink()


def pa_needed() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError("partitioning a dataset needs pyarrow: pip install 'shardwise[cli]'") from None
