"""Partitioning a dataset by owner (shardwise.data.partition_by_owner): every row lands under its
key's owner (checked with get_node), columns kept, overlapping paths refused before anything is
written, and no output under the final name until the run is complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import shardwise
from shardwise import data

NODES = ["a", "b:6379", "c/slash", "d e"]


def table(n: int = 5000, offset: int = 0) -> pa.Table:
    ids = np.arange(offset, offset + n)
    return pa.table(
        {
            "user": [f"user-{i}" for i in ids],
            "amount": ids * 3,
            "note": pa.array([f"n{i % 7}" for i in ids]).dictionary_encode(),
        }
    )


def read_back(target: Path) -> pa.Table:
    return ds.dataset(target, partitioning="hive").to_table()


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def check_rows(back: pa.Table, source: pa.Table, placement: Any, key: str = "user") -> None:
    """Every source row once, under the node get_node() names for its key, columns intact."""
    rows = back.to_pydict()
    got = sorted(zip(*(rows[c] for c in [*source.column_names, "node"]), strict=True))
    want_rows = source.to_pydict()
    owners = [placement.get_node(k) for k in want_rows[key]]
    want = sorted(zip(*(want_rows[c] for c in source.column_names), owners, strict=True))
    assert got == want


def test_parquet_file_round_trip(tmp_path: Path) -> None:
    source = table()
    pq.write_table(source, tmp_path / "in.parquet", row_group_size=700)
    ring = shardwise.HashRing(NODES)
    summary = data.partition_by_owner(tmp_path / "in.parquet", tmp_path / "out", ring, "user", batch_size=512)
    check_rows(read_back(tmp_path / "out"), source, ring)
    assert summary.total == len(source) and set(summary.rows) == set(NODES)
    assert {p.name for p in summary.directories.values()} == {
        "node=a",
        "node=b%3A6379",
        "node=c%2Fslash",
        "node=d%20e",
    }
    assert [p.name for p in tmp_path.iterdir()] != [] and not [
        p for p in tmp_path.iterdir() if p.name.startswith(".")
    ]


def test_directory_and_file_list_inputs(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    parts = [table(800, i * 800) for i in range(3)]
    for i, part in enumerate(parts):
        pq.write_table(part, tmp_path / "in" / f"p{i}.parquet")
    jump = shardwise.JumpHash(NODES)
    data.partition_by_owner(tmp_path / "in", tmp_path / "out1", jump, "user")
    check_rows(read_back(tmp_path / "out1"), pa.concat_tables(parts), jump)
    files = [tmp_path / "in" / "p0.parquet", tmp_path / "in" / "p2.parquet"]
    data.partition_by_owner(files, tmp_path / "out2", jump, "user")
    check_rows(read_back(tmp_path / "out2"), pa.concat_tables([parts[0], parts[2]]), jump)


def test_csv_keys_are_strings_unless_asked_for_ints(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("id,city\n007,Oslo\n42,Lima\n9,Rome\n")
    ring = shardwise.HashRing(NODES, vnodes=8)
    data.partition_by_owner(tmp_path / "in.csv", tmp_path / "s", ring, "id")
    back = read_back(tmp_path / "s").to_pydict()
    assert sorted(zip(back["id"], back["node"], strict=True)) == sorted(
        (k, ring.get_node(k)) for k in ["007", "42", "9"]
    )
    data.partition_by_owner(tmp_path / "in.csv", tmp_path / "i", ring, "id", key_type="int")
    back = read_back(tmp_path / "i").to_pydict()
    assert sorted(zip(back["id"], back["node"], strict=True)) == sorted(
        (k, ring.get_node(k)) for k in [7, 42, 9]
    )


def test_many_nodes_with_few_open_files_and_small_row_groups(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(data, "MAX_OPEN_FILES", 2)
    monkeypatch.setattr(data, "ROWS_PER_GROUP", 50)
    monkeypatch.setattr(data, "BUFFER_BYTES", 4096)
    source = table(3000)
    pq.write_table(source, tmp_path / "in.parquet")
    maglev = shardwise.Maglev([f"n{i}" for i in range(9)])
    summary = data.partition_by_owner(
        tmp_path / "in.parquet", tmp_path / "out", maglev, "user", batch_size=300
    )
    check_rows(read_back(tmp_path / "out"), source, maglev)
    assert summary.files > 9  # writers were closed and nodes continued in new part files


# ----- refusals, all before anything is written --------------------------------------------------


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    (root / "sub").mkdir(parents=True)
    pq.write_table(table(100), root / "sub" / "p.parquet")
    return root


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("lake/sub/p.parquet", "lake/sub/p.parquet", "is the input"),
        ("lake", "lake/split", "or inside it"),
        ("lake/sub", "lake/sub/../sub/deeper", "or inside it"),
        ("link", "lake/out", "or inside it"),
    ],
    ids=["same-file", "inside", "inside-via-dots", "inside-via-symlink"],
)
def test_overlapping_paths_are_refused_before_writing(
    dataset_dir: Path, source: str, target: str, message: str
) -> None:
    root = dataset_dir.parent
    (root / "link").symlink_to(dataset_dir)
    before = listing(root)
    ring = shardwise.HashRing(NODES)
    with pytest.raises(ValueError, match=message):
        data.partition_by_owner(root / source, root / target, ring, "user", overwrite=True)
    assert listing(root) == before


def test_input_inside_the_output_is_refused_even_with_overwrite(dataset_dir: Path) -> None:
    before = listing(dataset_dir.parent)
    with pytest.raises(ValueError, match=r"input .* is inside the output"):
        data.partition_by_owner(
            dataset_dir / "sub", dataset_dir, shardwise.HashRing(NODES), "user", overwrite=True
        )
    assert listing(dataset_dir.parent) == before


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    pq.write_table(table(50), tmp_path / "in.parquet")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    ring = shardwise.HashRing(NODES)
    with pytest.raises(FileExistsError):
        data.partition_by_owner(tmp_path / "in.parquet", tmp_path / "out", ring, "user")
    assert (tmp_path / "out" / "old.txt").exists()
    data.partition_by_owner(tmp_path / "in.parquet", tmp_path / "out", ring, "user", overwrite=True)
    assert not (tmp_path / "out" / "old.txt").exists()
    check_rows(read_back(tmp_path / "out"), table(50), ring)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out"]


def test_bad_columns_and_null_keys(tmp_path: Path) -> None:
    ring = shardwise.HashRing(NODES)
    pq.write_table(table(10), tmp_path / "in.parquet")
    with pytest.raises(KeyError, match="no key column 'uid'"):
        data.partition_by_owner(tmp_path / "in.parquet", tmp_path / "out", ring, "uid")
    with pytest.raises(ValueError, match="already has a column 'note'"):
        data.partition_by_owner(tmp_path / "in.parquet", tmp_path / "out", ring, "user", column="note")
    keys = [f"k{i}" for i in range(600)]
    keys[517] = None
    pq.write_table(pa.table({"user": keys}), tmp_path / "nulls.parquet")
    with pytest.raises(ValueError, match=r"key column 'user' is null at row 517; .*drop_null"):
        data.partition_by_owner(tmp_path / "nulls.parquet", tmp_path / "out", ring, "user", batch_size=100)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.parquet",
        "nulls.parquet",
    ]  # partial output removed


def test_a_killed_run_leaves_nothing_under_the_final_name(tmp_path: Path) -> None:
    big = pa.concat_tables([table(50_000, i * 50_000) for i in range(8)])
    pq.write_table(big, tmp_path / "in.parquet", row_group_size=10_000)
    script = textwrap.dedent(
        f"""
        import shardwise, time
        from shardwise import data
        data.ROWS_PER_GROUP = 500  # files appear after the first batches
        def slow(rows):
            time.sleep(0.05)
        data.partition_by_owner({str(tmp_path / "in.parquet")!r}, {str(tmp_path / "out")!r},
                                shardwise.HashRing({NODES!r}), "user", batch_size=2000, progress=slow)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 60
        while not any(
            p.name.startswith(".out.partial-") and any(p.rglob("*.parquet")) for p in tmp_path.iterdir()
        ):
            assert child.poll() is None, "the run ended before it was interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    assert not (tmp_path / "out").exists()
    assert any(p.name.startswith(".out.partial-") for p in tmp_path.iterdir())  # hidden, not final


def test_a_hard_link_to_the_input_is_refused(tmp_path: Path) -> None:
    pq.write_table(table(20), tmp_path / "in.parquet")
    os.link(tmp_path / "in.parquet", tmp_path / "alias.parquet")
    with pytest.raises(ValueError, match="is the input"):
        data.partition_by_owner(
            tmp_path / "in.parquet",
            tmp_path / "alias.parquet",
            shardwise.HashRing(NODES),
            "user",
            overwrite=True,
        )
    assert pq.read_table(tmp_path / "alias.parquet").num_rows == 20


def test_compressed_csv_inputs(tmp_path: Path) -> None:
    import gzip

    import pyarrow.csv as pacsv

    source = table(900).drop_columns(["note"])
    pacsv.write_csv(source, tmp_path / "plain.csv")
    (tmp_path / "in.csv.gz").write_bytes(gzip.compress((tmp_path / "plain.csv").read_bytes()))
    ring = shardwise.HashRing(NODES)
    data.partition_by_owner(tmp_path / "in.csv.gz", tmp_path / "out", ring, "user")
    check_rows(read_back(tmp_path / "out"), source, ring)
