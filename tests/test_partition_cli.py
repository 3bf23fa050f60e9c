"""`shardwise place --split-by-owner DIR`: one hive-style Parquet dataset per node, every column kept,
and the same refusals as the library (checked before anything is written)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import shardwise
from cli_support import assert_one_line_error, run_cli

NODES = ["a", "b", "c:1"]
ROWS = pa.table({"user": [f"u{i}" for i in range(4000)], "amount": list(range(4000))})


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def check(out: Path, algo: str = "ring") -> None:
    placement = {"ring": shardwise.HashRing, "maglev": shardwise.Maglev}[algo](NODES)
    back = ds.dataset(out, partitioning="hive").to_table().sort_by("amount")
    assert back.column_names == ["user", "amount", "node"]
    assert back.column("amount").to_pylist() == list(range(4000))
    assert back.column("node").to_pylist() == [placement.get_node(k) for k in back.column("user").to_pylist()]


def test_parquet_split(tmp_path: Path) -> None:
    pq.write_table(ROWS, tmp_path / "rows.parquet", row_group_size=500)
    result = run_cli(
        "place",
        "--algo",
        "ring",
        "--nodes",
        ",".join(NODES),
        "--keys",
        str(tmp_path / "rows.parquet"),
        "--column",
        "user",
        "--chunk-size",
        "700",
        "--split-by-owner",
        str(tmp_path / "by-node"),
    )
    assert result.returncode == 0, result.stderr
    assert "wrote 4,000 rows into 3 node datasets" in result.stdout
    check(tmp_path / "by-node")
    assert sorted(p.name for p in (tmp_path / "by-node").iterdir()) == ["node=a", "node=b", "node=c%3A1"]


def test_gzipped_csv_split(tmp_path: Path) -> None:
    pacsv.write_csv(ROWS, tmp_path / "rows.csv")
    (tmp_path / "rows.csv.gz").write_bytes(gzip.compress((tmp_path / "rows.csv").read_bytes()))
    result = run_cli(
        "place",
        "--algo",
        "maglev",
        "--nodes",
        ",".join(NODES),
        "--keys",
        str(tmp_path / "rows.csv.gz"),
        "--split-by-owner",
        str(tmp_path / "out"),
    )
    assert result.returncode == 0, result.stderr
    check(tmp_path / "out", "maglev")


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--split-by-owner", "{keys}"], "is the key file"),
        (["--split-by-owner", "{nodes}"], "is the node file"),
        (["--split-by-owner", "{existing}"], "exists; remove it"),
        (["--split-by-owner", "{dir}/out", "--out", "{dir}/x.csv"], "not allowed with argument"),
        (["--split-by-owner", "{dir}/out", "--no-header"], "needs a CSV header row"),
    ],
    ids=["same-as-keys", "same-as-nodes", "exists", "with-out", "no-header"],
)
def test_refusals_leave_everything_as_it_was(tmp_path: Path, extra: list[str], needle: str) -> None:
    pq.write_table(ROWS, tmp_path / "rows.parquet")
    (tmp_path / "nodes.txt").write_text("\n".join(NODES) + "\n")
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "keep.txt").write_text("keep")
    names = {
        "keys": tmp_path / "rows.parquet",
        "nodes": tmp_path / "nodes.txt",
        "existing": tmp_path / "existing",
        "dir": tmp_path,
    }
    before = listing(tmp_path)
    contents = (tmp_path / "rows.parquet").read_bytes()
    args = [a.format(**names) for a in extra]
    result = run_cli(
        "place",
        "--algo",
        "ring",
        "--nodes",
        f"@{tmp_path / 'nodes.txt'}",
        "--keys",
        str(tmp_path / "rows.parquet"),
        *args,
    )
    assert_one_line_error(result, needle)
    assert listing(tmp_path) == before
    assert (tmp_path / "rows.parquet").read_bytes() == contents


def test_text_key_files_cannot_be_split(tmp_path: Path) -> None:
    (tmp_path / "keys.txt").write_text("a\nb\n")
    result = run_cli(
        "place",
        "--algo",
        "ring",
        "--nodes",
        "a,b",
        "--keys",
        str(tmp_path / "keys.txt"),
        "--split-by-owner",
        str(tmp_path / "out"),
    )
    assert_one_line_error(result, "needs a Parquet or CSV key file")
    assert not (tmp_path / "out").exists()
