"""`shardwise place` driven as a user would: the output file agrees with the library's place()."""

from __future__ import annotations

import contextlib
import csv
import importlib
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_support import assert_one_line_error, cli_env, run_cli
from shardwise.cli import algorithms

PLUGIN = "cli_plugin:ModPlacement"
AVAILABLE = [a.name for a in algorithms.available()]
NODES = ["alpha", "beta", "gamma", "delta", "epsilon"]


def resolve(name: str) -> type:
    if ":" in name:
        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
    return algorithms.resolve_class(name)


def library_owners(name: str, nodes: list[str] | dict[str, float], keys: list[object]) -> list[str]:
    placement = resolve(name)(nodes)
    table = list(placement.nodes)
    array = np.array(keys) if keys and isinstance(keys[0], int) else np.array(keys, dtype=object)
    return [table[i] for i in np.asarray(placement.place(array)).tolist()]


def read_csv_rows(path: Path) -> tuple[list[str], list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        assert next(reader) == ["key", "node"]
        rows = list(reader)
    return [r[0] for r in rows], [r[1] for r in rows]


def text_keys(count: int) -> list[str]:
    rng = np.random.default_rng(3)
    keys = [f"k{n}" for n in rng.integers(0, 10**9, size=count)]
    return [*keys, "", "été", "with,comma", 'quote"d']


@pytest.mark.parametrize("name", [PLUGIN, *AVAILABLE])
def test_text_to_csv_matches_library(tmp_path: Path, name: str) -> None:
    keys = text_keys(5000)
    (tmp_path / "keys.txt").write_text("\r\n".join(keys) + "\r\n", encoding="utf-8")
    out = tmp_path / "placed.csv"
    result = run_cli(
        "place",
        "--algo",
        name,
        "--nodes",
        ",".join(NODES),
        "--keys",
        str(tmp_path / "keys.txt"),
        "--out",
        str(out),
        "--chunk-size",
        "777",
    )
    assert result.returncode == 0, result.stderr
    got_keys, got_nodes = read_csv_rows(out)
    assert got_keys == keys
    assert got_nodes == library_owners(name, NODES, list(keys))
    # The load summary adds up to the key count and names every node.
    for node in NODES:
        assert f"\n{node} " in result.stdout
    assert f"{len(keys):,} keys on 5 nodes" in result.stdout


def test_csv_column_to_parquet_with_weights_file(tmp_path: Path) -> None:
    keys = [f"order-{i}" for i in range(3000)]
    with open(tmp_path / "orders.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "order_key", "amount"])
        writer.writerows([i, k, i * 2] for i, k in enumerate(keys))
    (tmp_path / "nodes.txt").write_text("# servers\nalpha 1\nbeta 2.5\ngamma\n", encoding="utf-8")
    out = tmp_path / "placed.parquet"
    result = run_cli(
        "place",
        "--algo",
        PLUGIN,
        "--nodes",
        "@" + str(tmp_path / "nodes.txt"),
        "--keys",
        str(tmp_path / "orders.csv"),
        "--column",
        "order_key",
        "--out",
        str(out),
        "--chunk-size",
        "1000",
    )
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out)
    assert table.column("key").to_pylist() == keys
    want = library_owners(PLUGIN, {"alpha": 1.0, "beta": 2.5, "gamma": 1.0}, list(keys))
    assert table.column("node").to_pylist() == want


@pytest.mark.parametrize("name", [PLUGIN, *AVAILABLE[:3]])
def test_parquet_int_column(tmp_path: Path, name: str) -> None:
    ids = np.random.default_rng(5).integers(0, 2**62, size=4000, dtype=np.int64)
    pq.write_table(pa.table({"name": [f"n{i}" for i in range(4000)], "user_id": ids}), tmp_path / "u.parquet")
    out = tmp_path / "placed.csv"
    result = run_cli(
        "place",
        "--algo",
        name,
        "--nodes",
        "a,b,c",
        "--keys",
        str(tmp_path / "u.parquet"),
        "--column",
        "user_id",
        "--out",
        str(out),
        "--chunk-size",
        "1500",
    )
    assert result.returncode == 0, result.stderr
    got_keys, got_nodes = read_csv_rows(out)
    assert [int(k) for k in got_keys] == ids.tolist()
    assert got_nodes == library_owners(name, ["a", "b", "c"], ids.tolist())


def test_text_int_keys_and_stdout(tmp_path: Path) -> None:
    numbers = list(range(-50, 950))
    (tmp_path / "ids.txt").write_text("\n".join(map(str, numbers)), encoding="utf-8")  # no final newline
    result = run_cli(
        "place",
        "--algo",
        PLUGIN,
        "--nodes",
        "a,b",
        "--keys",
        str(tmp_path / "ids.txt"),
        "--key-type",
        "int",
        "--out",
        "-",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "key,node"
    rows = [line.split(",") for line in lines[1:]]
    assert [int(k) for k, _ in rows] == numbers
    assert [n for _, n in rows] == library_owners(PLUGIN, ["a", "b"], numbers)
    assert "1,000 keys on 2 nodes" in result.stderr  # the summary goes to stderr when data is on stdout


def test_progress_bar(tmp_path: Path) -> None:
    (tmp_path / "k.txt").write_text("\n".join(map(str, range(3000))) + "\n")
    result = run_cli(
        "place",
        "--algo",
        PLUGIN,
        "--nodes",
        "a,b",
        "--keys",
        str(tmp_path / "k.txt"),
        "--out",
        str(tmp_path / "o.csv"),
        "--progress",
        "--chunk-size",
        "1000",
    )
    assert result.returncode == 0
    assert "placing [" in result.stderr and "100%" in result.stderr


@pytest.mark.parametrize(
    ("setup", "args", "needles"),
    [
        ("", ["--keys", "{d}/missing.txt"], ["does not exist"]),
        ("", ["--keys", "{d}"], ["directory"]),
        ("text", ["--algo", "nosuch"], ["unknown algorithm"]),
        ("text", ["--nodes", "a,,b"], ["empty node name"]),
        ("text", ["--out", "{d}/out.json"], [".csv or .parquet"]),
        ("text", ["--out", "{d}/no/such/dir/o.csv"], ["does not exist"]),
        ("text", ["--column", "x"], ["--column"]),
        ("csv", ["--column", "nope"], ["no such column", "nope"]),
        ("badutf8", [], ["not UTF-8"]),
        ("text", ["--key-type", "int"], ["not an integer"]),
        ("empty", [], ["no keys"]),
        ("floatparquet", [], ["type double"]),
        ("notparquet", [], ["not a readable Parquet file"]),
        ("binaryparquet", [], ["binary keys cannot be written as CSV"]),
        ("text", ["--chunk-size", "-3"], ["--chunk-size"]),
    ],
)
def test_errors_are_one_line(tmp_path: Path, setup: str, args: list[str], needles: list[str]) -> None:
    keys = tmp_path / "keys.txt"
    if setup == "text":
        keys.write_text("a\nb\nc\n")
    elif setup == "csv":
        keys = tmp_path / "keys.csv"
        keys.write_text("id,name\n1,a\n")
    elif setup == "badutf8":
        keys.write_bytes(b"ok\n\xff\xfe\n")
    elif setup == "empty":
        keys.write_text("")
    elif setup == "floatparquet":
        keys = tmp_path / "keys.parquet"
        pq.write_table(pa.table({"x": [1.5, 2.5]}), keys)
    elif setup == "binaryparquet":
        keys = tmp_path / "keys.parquet"
        pq.write_table(pa.table({"k": pa.array([b"\x00\xff", b"ab"], type=pa.binary())}), keys)
    elif setup == "notparquet":
        keys = tmp_path / "keys.parquet"
        keys.write_text("this is not parquet")
    base = {"--algo": PLUGIN, "--nodes": "a,b", "--keys": str(keys), "--out": str(tmp_path / "o.csv")}
    extra = [a.replace("{d}", str(tmp_path)) for a in args]
    for flag in list(base):
        if flag in extra:
            del base[flag]
    argv = [x for pair in base.items() for x in pair] + extra
    assert_one_line_error(run_cli("place", *argv), *needles)


def test_missing_required_option_is_one_line() -> None:
    assert_one_line_error(run_cli("place", "--algo", PLUGIN), "required")


def test_binary_parquet_keys_to_parquet(tmp_path: Path) -> None:
    keys = [bytes([i % 256, (i * 7) % 256, 0, 255]) + str(i).encode() for i in range(2000)]
    pq.write_table(pa.table({"raw": pa.array(keys, type=pa.binary())}), tmp_path / "raw.parquet")
    name = AVAILABLE[0] if AVAILABLE else PLUGIN
    out = tmp_path / "placed.parquet"
    result = run_cli(
        "place",
        "--algo",
        name,
        "--nodes",
        "x,y,z",
        "--keys",
        str(tmp_path / "raw.parquet"),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out)
    assert table.column("key").to_pylist() == keys
    assert table.column("node").to_pylist() == library_owners(name, ["x", "y", "z"], list(keys))


def limit_file_size() -> None:
    """In the child: a file over 64 MiB kills it (SIGXFSZ), so a regression cannot fill the disk."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))


def make_input(directory: Path, fmt: str) -> Path:
    directory.mkdir()
    if fmt == "text":
        path = directory / "keys.txt"
        path.write_text("".join(f"key-{i}\n" for i in range(3000)), encoding="utf-8")
    else:
        path = directory / "keys.parquet"
        table = pa.table({"key": [f"key-{i}" for i in range(3000)], "payload": list(range(3000))})
        pq.write_table(table, path)
    return path


def listing(*directories: Path) -> list[str]:
    return sorted(str(p) for d in directories for p in d.iterdir())


@pytest.mark.parametrize("fmt", ["text", "parquet"])
@pytest.mark.parametrize(
    "alias", ["same path", "relative vs absolute", "dot segments", "symlink", "hard link"]
)
def test_output_over_the_key_file_is_refused(tmp_path: Path, fmt: str, alias: str) -> None:
    keys = make_input(tmp_path / "in", fmt)
    before = keys.read_bytes()
    keys_arg, out, cwd = str(keys), keys, None
    if alias == "relative vs absolute":
        keys_arg, cwd = keys.name, keys.parent
    elif alias == "dot segments":
        out = tmp_path / "in" / ".." / "in" / "." / keys.name
    elif alias == "symlink":
        out = tmp_path / f"link{keys.suffix}"
        out.symlink_to(keys)
    elif alias == "hard link":
        out = tmp_path / f"hard{keys.suffix}"
        os.link(keys, out)
    files = listing(tmp_path, keys.parent)
    result = run_cli(
        "place", "--algo", PLUGIN, "--nodes", "a,b", "--keys", keys_arg, "--out", str(out),
        "--out-format", "csv" if fmt == "text" else "parquet",
        cwd=cwd, preexec_fn=limit_file_size,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result, "--out", "key file", "destroy")
    assert keys.read_bytes() == before
    assert listing(tmp_path, keys.parent) == files  # nothing written, not even a temporary file


def test_output_over_the_node_file_is_refused(tmp_path: Path) -> None:
    keys = make_input(tmp_path / "in", "text")
    nodes = tmp_path / "nodes.txt"
    nodes.write_text("a 1\nb 2\n")
    result = run_cli(
        "place", "--algo", PLUGIN, "--nodes", f"@{nodes}", "--keys", str(keys),
        "--out", str(nodes), "--out-format", "csv", preexec_fn=limit_file_size,
    )  # fmt: skip
    assert_one_line_error(result, "node file")
    assert nodes.read_text() == "a 1\nb 2\n"


def test_simulate_output_over_its_key_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    keys = out / "summary.csv"
    keys.write_text("key\n" + "".join(f"k{i}\n" for i in range(500)))
    before = keys.read_bytes()
    result = run_cli(
        "simulate", "--nodes", "3", "--key-file", str(keys), "--out", str(out), "--no-plots",
        "--algorithms", PLUGIN, "--no-progress",
    )  # fmt: skip
    assert_one_line_error(result, "--out", "summary.csv", "key file")
    assert keys.read_bytes() == before
    assert listing(out) == [str(keys)]


def test_failure_mid_write_leaves_the_previous_output(tmp_path: Path) -> None:
    keys = tmp_path / "ids.txt"
    keys.write_text("".join(f"{i}\n" for i in range(4500)) + "oops\n" + "".join(f"{i}\n" for i in range(500)))
    out = tmp_path / "placed.csv"
    out.write_text("previous run\n")
    result = run_cli(
        "place", "--algo", PLUGIN, "--nodes", "a,b", "--keys", str(keys), "--key-type", "int",
        "--chunk-size", "1000", "--out", str(out),
    )  # fmt: skip
    assert_one_line_error(result, "line 4501", "not an integer")
    assert out.read_text() == "previous run\n"
    assert listing(tmp_path) == sorted([str(keys), str(out)])  # the temporary file is gone


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_sigkill_mid_write_leaves_no_output(tmp_path: Path, suffix: str) -> None:
    """The keys come through a FIFO: the command places and writes the first 8 MiB block, then
    waits for more input; it is killed there, in the middle of writing its output."""
    fifo = tmp_path / "keys.txt"
    os.mkfifo(fifo)
    out = tmp_path / f"placed{suffix}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "shardwise", "place", "--algo", PLUGIN, "--nodes", "a,b",
         "--keys", str(fifo), "--chunk-size", "100000", "--out", str(out)],
        env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    data = "".join(f"k{i}\n" for i in range(1_200_000)).encode()  # more than one 8 MiB block

    def feed() -> None:
        with contextlib.suppress(OSError), open(fifo, "wb") as pipe:
            pipe.write(data)
            done.wait(60)  # keep the FIFO open: no end of input

    done = threading.Event()
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        deadline = time.monotonic() + 60
        while not any("placed" in p.name and p.stat().st_size > 0 for p in tmp_path.iterdir()):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no output was written"
            time.sleep(0.01)
        proc.kill()
        proc.wait(10)
    finally:
        done.set()
        proc.kill()
        feeder.join(10)
    assert not out.exists()
