"""The command line reads CSV and Parquet columns through the Arrow path (no object arrays), and
compressed key files are decompressed or refused, never misread."""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import shardwise
from cli_support import assert_one_line_error, run_cli
from shardwise.cli import keyfiles

KEYS = [f"user:{i}:{i * 7 % 13}" for i in range(3000)]
NODES = "a,b,c,d"


def placed(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["key", "node"]
    return [(r[0], r[1]) for r in rows[1:]]


def place_ring(tmp_path: Path, keys: Path, *extra: str) -> list[tuple[str, str]]:
    """``shardwise place --algo ring`` of ``keys`` to a CSV file: its (key, node) rows."""
    out = tmp_path / "o.csv"
    args = ["--nodes", NODES, "--keys", str(keys), *extra, "--out", str(out)]
    result = run_cli("place", "--algo", "ring", *args)
    assert result.returncode == 0, result.stderr
    return placed(out)


def simulate(tmp_path: Path, keys: Path, *extra: str) -> str:
    """``shardwise simulate --key-file keys`` without plots: its stdout."""
    args = ["--key-file", str(keys), *extra, "--no-plots", "--out", str(tmp_path / "r")]
    result = run_cli("simulate", "--nodes", "5", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def library(keys: list[Any]) -> list[tuple[str, str]]:
    ring = shardwise.HashRing(NODES.split(","))
    return [(str(k), ring.nodes[i]) for k, i in zip(keys, ring.place(keys).tolist(), strict=True)]


@pytest.mark.parametrize(
    "column",
    [
        pa.array(KEYS),
        pa.array(KEYS, pa.large_string()),
        pa.array(KEYS).dictionary_encode(),
    ],
    ids=["string", "large_string", "dictionary"],
)
def test_parquet_columns_reach_place_as_arrow_arrays(tmp_path: Path, column: Any) -> None:
    pq.write_table(pa.table({"id": range(len(KEYS)), "user": column}), tmp_path / "k.parquet")
    chunks = list(keyfiles.read_keys(tmp_path / "k.parquet", "parquet", "user", "str", chunk_rows=1000))
    assert all(isinstance(c.keys, pa.Array) for c in chunks)  # not numpy object arrays
    everything = keyfiles.read_all_keys(tmp_path / "k.parquet", "parquet", "user", "str", limit=2500)
    assert isinstance(everything, pa.ChunkedArray) and len(everything) == 2500
    assert place_ring(tmp_path, tmp_path / "k.parquet", "--column", "user") == library(KEYS)


def test_csv_column_reaches_place_as_arrow(tmp_path: Path) -> None:
    pacsv.write_csv(pa.table({"user": KEYS, "n": range(len(KEYS))}), tmp_path / "k.csv")
    (chunk,) = keyfiles.read_keys(tmp_path / "k.csv", "csv", "user", "str")
    assert isinstance(chunk.keys, pa.Array) and chunk.keys.type == pa.string()


def test_fixed_size_binary_parquet_keys(tmp_path: Path) -> None:
    keys = [i.to_bytes(16, "big") for i in range(500)]
    pq.write_table(pa.table({"uuid": pa.array(keys, pa.binary(16))}), tmp_path / "k.parquet")
    out = tmp_path / "o.parquet"
    result = run_cli(
        "place", "--algo", "jump", "--nodes", NODES, "--keys", str(tmp_path / "k.parquet"), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    back = pq.read_table(out)
    jump = shardwise.JumpHash(NODES.split(","))
    assert back.column("node").to_pylist() == [jump.nodes[i] for i in jump.place(keys)]


def test_simulate_reads_a_dictionary_column(tmp_path: Path) -> None:
    pq.write_table(pa.table({"user": pa.array(KEYS).dictionary_encode()}), tmp_path / "k.parquet")
    stdout = simulate(tmp_path, tmp_path / "k.parquet", "--algorithms", "ring,maglev,cli_plugin:ModPlacement")
    assert f"{len(KEYS):,} keys from" in stdout


# ----- compressed key files ----------------------------------------------------------------------

TEXT = "".join(f"{k}\n" for k in KEYS).encode()


def zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as stream:
        stream.write(data)
    return bytes(sink.getvalue().to_pybytes())


COMPRESSORS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress, ".zst": zstd}


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_compressed_text_key_files_are_decompressed(tmp_path: Path, suffix: str) -> None:
    keys = tmp_path / f"keys.txt{suffix}"
    keys.write_bytes(COMPRESSORS[suffix](TEXT))
    assert place_ring(tmp_path, keys) == library(KEYS)


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_compressed_csv_key_files_are_decompressed(tmp_path: Path, suffix: str) -> None:
    plain = tmp_path / "plain.csv"
    pacsv.write_csv(pa.table({"n": range(len(KEYS)), "user": KEYS}), plain)
    keys = tmp_path / f"keys.csv{suffix}"
    keys.write_bytes(COMPRESSORS[suffix](plain.read_bytes()))
    assert place_ring(tmp_path, keys, "--column", "user") == library(KEYS)
    assert f"{len(KEYS):,} keys from" in simulate(tmp_path, keys, "--algorithms", "jump", "--column", "user")


def test_a_compressed_file_is_recognised_by_its_bytes_not_its_name(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"  # gzip data under a plain name: still decompressed
    keys.write_bytes(gzip.compress(TEXT))
    assert place_ring(tmp_path, keys) == library(KEYS)


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("keys.txt.gz", TEXT, "the name says gzip but the file is not compressed"),
        ("keys.txt.zst", gzip.compress(TEXT), "the name says zstd but the file is gzip data"),
        ("keys.txt.gz", gzip.compress(TEXT)[:200], "damaged compressed data"),
        ("keys.parquet.gz", b"", "gzip-compressed Parquet file"),
    ],
    ids=["plain-named-gz", "gzip-named-zst", "truncated-gzip", "gzipped-parquet"],
)
def test_files_that_cannot_be_read_as_they_claim_are_refused(
    tmp_path: Path, name: str, content: bytes, needle: str
) -> None:
    if name.endswith(".parquet.gz"):
        pq.write_table(pa.table({"k": ["a", "b"]}), tmp_path / "k.parquet")
        content = gzip.compress((tmp_path / "k.parquet").read_bytes())
    (tmp_path / name).write_bytes(content)
    out = tmp_path / "o.csv"
    result = run_cli(
        "place", "--algo", "ring", "--nodes", NODES, "--keys", str(tmp_path / name), "--out", str(out)
    )
    assert_one_line_error(result, needle)
    assert not out.exists()


def test_bzip2_magic_needs_the_whole_header(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"  # a text file that merely starts with "BZh" is text
    keys.write_text("BZhang\nother\n")
    chunks = list(keyfiles.read_keys(keys, "text", None, "str"))
    assert [k for c in chunks for k in c.keys] == ["BZhang", "other"]
