"""Reading keys from text, CSV and Parquet files in chunks, and writing key -> node files.

Text files hold one key per line (UTF-8, ``\\n`` or ``\\r\\n``). CSV and Parquet need pyarrow
(``pip install 'shardwise[cli]'``). Keys from text and CSV are strings unless ``key_type="int"``;
Parquet columns keep their type (string, binary or integer). CSV and Parquet columns go to
``place()`` as Arrow arrays, read in place (no Python object per key). Text and CSV files may be
gzip, bzip2, xz or zstd compressed (see :mod:`shardwise._compressed`).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from shardwise._compressed import (
    DECOMPRESSION_ERRORS,
    CompressionError,
    compression,
    refuse_compressed_parquet,
)
from shardwise._compressed import open_binary as _open_binary
from shardwise._key_inputs import is_key_type
from shardwise.cli._common import CliError, UsageError

TEXT_BLOCK = 8 << 20
FORMATS = ("text", "csv", "parquet")


@dataclass
class KeyChunk:
    """A run of keys: ``keys`` is what ``place()`` takes; ``arrow`` the same keys as a pyarrow array
    when the reader had one (saves a conversion on output); ``size`` the bytes consumed, if known."""

    keys: Any
    count: int
    arrow: Any = None
    size: int = 0


def need_pyarrow(what: str) -> Any:
    try:
        import pyarrow
    except ImportError:
        raise CliError(f"{what} needs pyarrow: pip install 'shardwise[cli]'") from None
    return pyarrow


def detect_format(path: Path, explicit: str | None) -> str:
    if explicit:
        return explicit
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".zst"):
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in (".csv", ".tsv"):
        return "csv"
    if last in (".parquet", ".pq"):
        return "parquet"
    return "text"


def check_readable(path: Path) -> None:
    if not path.exists():
        raise CliError(f"key file {str(path)!r} does not exist")
    if path.is_dir():
        raise CliError(f"key file {str(path)!r} is a directory")
    if not os.access(path, os.R_OK):
        raise CliError(f"key file {str(path)!r} is not readable")


def _to_ints(lines: list[str], first_line: int) -> Any:
    try:
        return np.array(lines, dtype=np.str_).astype(np.int64)
    except (ValueError, OverflowError):
        pass
    out: list[int] = []
    for offset, text in enumerate(lines):
        try:
            out.append(int(text))
        except ValueError:
            raise CliError(f"line {first_line + offset}: {text[:60]!r} is not an integer key") from None
    return out


def read_text(path: Path, key_type: str = "str", chunk_rows: int = 1 << 20) -> Iterator[KeyChunk]:
    """One key per line; yields at most ``chunk_rows`` keys at a time."""
    line_number = 1
    offset = 0
    rest = b""
    with open_binary(path) as handle:
        while True:
            block = _read_block(handle, path)
            data = rest + block
            if not block:
                if not data:
                    return
                rest = b""
            else:
                cut = data.rfind(b"\n")
                if cut < 0:
                    rest = data
                    continue
                data, rest = data[: cut + 1], data[cut + 1 :]
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CliError(
                    f"{path}: not UTF-8 text (bad byte at offset {offset + exc.start}); "
                    "use a Parquet binary column for raw bytes keys"
                ) from None
            lines = text.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            lines = [line[:-1] if line.endswith("\r") else line for line in lines]
            offset += len(data)
            for start in range(0, len(lines), chunk_rows):
                part = lines[start : start + chunk_rows]
                keys: Any = _to_ints(part, line_number) if key_type == "int" else part
                share = len(data) * len(part) // max(1, len(lines))
                yield KeyChunk(keys, len(part), size=share)
                line_number += len(part)
            if not block:
                return


def open_binary(path: Path) -> IO[bytes]:
    """``path`` for reading bytes, decompressed if it is compressed (a CliError if it cannot be)."""
    try:
        return _open_binary(path)
    except CompressionError as exc:
        raise CliError(str(exc)) from None


def is_compressed(path: Path) -> bool:
    """Whether ``path`` is a compressed regular file (False for a pipe, or when it cannot be told)."""
    try:
        return path.is_file() and compression(path) is not None
    except CompressionError:
        return False


def _read_block(handle: IO[bytes], path: Path) -> bytes:
    try:
        return handle.read(TEXT_BLOCK)
    except DECOMPRESSION_ERRORS as exc:
        raise CliError(f"{path}: cannot read it (damaged compressed data?): {exc}") from None


def _csv_columns(path: Path, delimiter: str, header: bool) -> list[str]:
    with io.TextIOWrapper(open_binary(path), encoding="utf-8", newline="") as handle:
        try:
            first = next(csv.reader(handle, delimiter=delimiter), None)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CliError(f"{path}: cannot read the CSV header: {exc}") from None
    if first is None:
        return []
    return first if header else [f"f{i}" for i in range(len(first))]


def pick_column(columns: list[str], column: str | None, path: Path) -> str:
    if not columns:
        raise CliError(f"{path}: the file has no columns")
    if column is None:
        return columns[0]
    if column in columns:
        return column
    if column.isdigit() and int(column) < len(columns):
        return columns[int(column)]
    shown = ", ".join(columns[:12]) + (" ..." if len(columns) > 12 else "")
    raise UsageError(f"--column {column!r}: no such column in {path} (columns: {shown})")


def read_csv(
    path: Path, column: str | None, key_type: str = "str", header: bool = True, chunk_rows: int = 1 << 20
) -> Iterator[KeyChunk]:
    pa = need_pyarrow("reading CSV")
    import pyarrow.csv as pacsv

    delimiter = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    columns = _csv_columns(path, delimiter, header)
    name = pick_column(columns, column, path)
    kind = pa.int64() if key_type == "int" else pa.string()
    read_options = pacsv.ReadOptions(
        block_size=16 << 20, column_names=None if header else columns, autogenerate_column_names=False
    )
    convert = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in columns} | {name: kind},
        include_columns=[name],
        strings_can_be_null=False,
    )
    parse = pacsv.ParseOptions(delimiter=delimiter)
    try:
        with open_binary(path) as stream:
            reader = pacsv.open_csv(
                stream, read_options=read_options, parse_options=parse, convert_options=convert
            )
            for batch in reader:
                column_data = batch.column(0)
                for start in range(0, len(column_data), chunk_rows):
                    yield from _arrow_chunks(column_data.slice(start, chunk_rows), name, path, chunk_rows)
    except pa.ArrowInvalid as exc:
        raise CliError(f"{path}: {str(exc).splitlines()[0]}") from None
    except DECOMPRESSION_ERRORS as exc:
        raise CliError(f"{path}: cannot read it (damaged compressed data?): {exc}") from None


def read_parquet(path: Path, column: str | None, chunk_rows: int = 1 << 20) -> Iterator[KeyChunk]:
    pa = need_pyarrow("reading Parquet")
    import pyarrow.parquet as pq

    try:
        refuse_compressed_parquet(path)
    except CompressionError as exc:
        raise CliError(str(exc)) from None
    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise CliError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    name = pick_column(list(handle.schema_arrow.names), column, path)
    try:
        for batch in handle.iter_batches(batch_size=chunk_rows, columns=[name]):
            yield from _arrow_chunks(batch.column(0), name, path, chunk_rows)
    except pa.ArrowInvalid as exc:
        raise CliError(f"{path}: {str(exc).splitlines()[0]}") from None


def parquet_rows(path: Path) -> int | None:
    try:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception:  # the reader reports the real problem
        return None


def _arrow_chunks(array: Any, name: str, path: Path, chunk_rows: int) -> Iterator[KeyChunk]:
    """An Arrow column as a chunk: ``place()`` reads it in place (no Python object per key);
    a dictionary column is placed once per distinct value and written out decoded."""
    import pyarrow as pa

    kind = array.type.value_type if pa.types.is_dictionary(array.type) else array.type
    if array.null_count:
        raise CliError(
            f"{path}: column {name!r} has {array.null_count} empty (null) values; keys cannot be null"
        )
    if not is_key_type(pa, kind):
        raise CliError(f"{path}: column {name!r} has type {kind}; keys must be strings, binary or integers")
    decoded = array.cast(kind) if kind != array.type else array
    yield KeyChunk(array, len(array), arrow=decoded)


def numpy_keys(keys: Any) -> Any:
    """Keys for a placement class that takes numpy arrays only (a ``--algo module:Class``
    plugin): Arrow columns as numpy arrays, anything else as it is."""
    if hasattr(keys, "to_numpy") and hasattr(keys, "type"):
        return keys.to_numpy(zero_copy_only=False)
    return keys


def key_list(keys: Any) -> list[Any]:
    """Keys (a list, numpy or Arrow array) as Python objects, for one-key-at-a-time lookups."""
    if hasattr(keys, "to_pylist"):
        return list(keys.to_pylist())
    return list(keys.tolist()) if hasattr(keys, "tolist") else list(keys)


def own_class(placement: Any) -> bool:
    """Whether ``placement`` is one of shardwise's classes (not a ``module:Class`` plugin)."""
    return type(placement).__module__.startswith("shardwise.")


def keys_for(placement: Any, keys: Any) -> Any:
    """``keys`` as ``placement`` takes them: shardwise's own classes read Arrow columns in place,
    other classes get numpy arrays."""
    return keys if own_class(placement) else numpy_keys(keys)


def read_keys(
    path: Path, fmt: str, column: str | None, key_type: str, header: bool = True, chunk_rows: int = 1 << 20
) -> Iterator[KeyChunk]:
    """Chunks of keys from ``path`` in format ``fmt`` (see :func:`detect_format`)."""
    check_readable(path)
    if fmt == "parquet":
        return read_parquet(path, column, chunk_rows)
    if fmt == "csv":
        return read_csv(path, column, key_type, header, chunk_rows)
    if column is not None:
        raise UsageError("--column applies to CSV and Parquet files; a text file has one key per line")
    return read_text(path, key_type, chunk_rows)


def read_all_keys(path: Path, fmt: str, column: str | None, key_type: str, limit: int | None) -> Any:
    """Every key (or the first ``limit``) as one array for simulations."""
    parts: list[Any] = []
    count = 0
    for chunk in read_keys(path, fmt, column, key_type):
        keys = chunk.keys
        if limit is not None and count + chunk.count > limit:
            keys = keys[: limit - count]
        parts.append(np.asarray(keys, dtype=object) if isinstance(keys, list) else keys)
        count += len(parts[-1])
        if limit is not None and count >= limit:
            break
    if not parts:
        raise CliError(f"key file {str(path)!r} holds no keys")
    if hasattr(parts[0], "type"):  # Arrow columns: one chunked array, nothing copied
        import pyarrow as pa

        return pa.chunked_array(parts)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]
