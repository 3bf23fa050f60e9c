"""`shardwise simulate` driven as a user would: table numbers checked against the library."""

from __future__ import annotations

import csv
import importlib
from pathlib import Path

import numpy as np
import pytest
from cli_support import assert_one_line_error, png_size, run_cli
from shardwise.cli import algorithms

PLUGIN = "cli_plugin:ModPlacement"
AVAILABLE = [a.name for a in algorithms.available()]


def parse_table(stdout: str) -> dict[str, dict[str, str]]:
    """The text table as {algorithm: {header: cell}}."""
    lines = stdout.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    header = lines[rule - 1]
    # Headers may contain single spaces ("place ns/key"); columns are separated by 2+ spaces.
    names = [h.strip() for h in header.split("  ") if h.strip()]
    rows: dict[str, dict[str, str]] = {}
    for line in lines[rule + 1 :]:
        cells = line.split()
        if len(cells) != len(names):
            break
        rows[cells[0]] = dict(zip(names, cells, strict=True))
    return rows


def write_keys(path: Path, count: int, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    keys = [f"user:{n}" for n in rng.integers(0, 10**12, size=count)]
    path.write_text("\n".join(keys) + "\n", encoding="utf-8")
    return keys


def resolve(name: str) -> type:
    if ":" in name:
        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
    return algorithms.resolve_class(name)


def expected_figures(cls: type, names: list[str], keys: list[str]) -> dict[str, float]:
    """Balance and movement computed here, straight from the library."""
    arr = np.array(keys, dtype=object)
    base = cls(names)
    counts = np.bincount(np.asarray(base.place(arr)), minlength=len(names))
    mean = len(keys) / len(names)

    def owners(p: object) -> np.ndarray:
        return np.array(p.nodes, dtype=object)[np.asarray(p.place(arr))]  # type: ignore[attr-defined]

    grown = cls(names)
    grown.add_node(f"node-{len(names)}")
    shrunk = cls(names)
    removed = list(base.nodes)[len(names) // 2]
    try:
        shrunk.remove_node(removed)
    except (ValueError, LookupError, NotImplementedError, TypeError):
        shrunk = cls(names)
        shrunk.remove_node(list(base.nodes)[-1])
    return {
        "max/mean": counts.max() / mean,
        "stddev": float(np.std(counts)),
        "moved+1%": 100 * float(np.mean(owners(base) != owners(grown))),
        "moved-1%": 100 * float(np.mean(owners(base) != owners(shrunk))),
    }


def test_table_agrees_with_the_library(tmp_path: Path) -> None:
    """One run over every algorithm; each row is recomputed here from the library."""
    keys = write_keys(tmp_path / "keys.txt", 20_000)
    names = [f"node-{i}" for i in range(7)]
    out = tmp_path / "out"
    chosen = [PLUGIN, *AVAILABLE]
    result = run_cli(
        "simulate",
        "-a",
        ",".join(chosen),
        "--nodes",
        "7",
        "--key-file",
        str(tmp_path / "keys.txt"),
        "--out",
        str(out),
        "--repeat",
        "1",
        "--no-plots",
    )
    assert result.returncode == 0, result.stderr
    table = parse_table(result.stdout)
    assert list(table) == [algorithms.label(n) for n in chosen]
    with open(out / "summary.csv", newline="") as handle:
        records = {r["algorithm"]: r for r in csv.DictReader(handle)}
    for name in chosen:
        row = table[algorithms.label(name)]
        want = expected_figures(resolve(name), names, keys)
        assert float(row["max/mean"]) == pytest.approx(want["max/mean"], abs=1e-4), name
        assert float(row["stddev"]) == pytest.approx(want["stddev"], abs=0.06), name
        assert float(row["moved+1%"]) == pytest.approx(want["moved+1%"], abs=0.006), name
        assert float(row["moved-1%"]) == pytest.approx(want["moved-1%"], abs=0.006), name
        assert float(row["ideal+1%"]) == pytest.approx(100 / 8, abs=0.006)
        assert float(row["ideal-1%"]) == pytest.approx(100 / 7, abs=0.006)
        assert float(row["place ns/key"]) > 0 and float(row["get_node ns"]) > 0
        record = records[algorithms.label(name)]
        assert int(record["keys"]) == len(keys) and int(record["nodes"]) == 7
        assert float(record["max_over_mean"]) == pytest.approx(want["max/mean"], abs=1e-6)
    assert "| algorithm" in (out / "summary.md").read_text()
    assert not (out / "load.png").exists()


def test_plots_are_valid_pngs(tmp_path: Path) -> None:
    out = tmp_path / "plots"
    result = run_cli(
        "simulate",
        "-a",
        ",".join([PLUGIN, *AVAILABLE[:2]]),
        "--keys",
        "20k",
        "--nodes",
        "5",
        "--out",
        str(out),
        "--repeat",
        "1",
    )
    assert result.returncode == 0, result.stderr
    for name in ("load.png", "movement.png", "throughput.png"):
        width, height = png_size(out / name)
        assert 400 <= width <= 3000 and 300 <= height <= 2000, (name, width, height)
    summary = (out / "summary.md").read_text()
    assert "![load.png](load.png)" in summary
    assert "ModPlacement" in summary


def test_weights_change_the_fair_shares(tmp_path: Path) -> None:
    result = run_cli(
        "simulate",
        "-a",
        PLUGIN,
        "--nodes",
        "a,b,c",
        "--weights",
        "1,1,2",
        "--keys",
        "30k",
        "--no-plots",
        "--out",
        str(tmp_path),
        "--repeat",
        "1",
    )
    assert result.returncode == 0, result.stderr
    row = parse_table(result.stdout)["ModPlacement"]
    # The plugin ignores weights, so node c gets ~1/3 of the keys against a fair share of 1/2.
    assert float(row["max/mean"]) == pytest.approx(4 / 3, abs=0.03)
    # The added node gets the median weight (1): 1 / (4 + 1) of the keys.
    assert float(row["ideal+1%"]) == pytest.approx(100 / 5, abs=0.01)
    assert "3 weighted nodes" in result.stdout


def test_weighted_run_skips_algorithms_without_weights(tmp_path: Path) -> None:
    result = run_cli(
        "simulate",
        "--nodes",
        "a=1,b=2,c=1",
        "--keys",
        "20k",
        "--no-plots",
        "--out",
        str(tmp_path),
        "--repeat",
        "1",
    )
    assert result.returncode == 0, result.stderr
    table = parse_table(result.stdout)
    assert "jump" not in table and "ring" in table
    assert "note: skipped jump:" in result.stdout and "weight" in result.stdout
    # Named explicitly, the same refusal is an error.
    refused = run_cli(
        "simulate", "-a", "jump", "--nodes", "a=1,b=2", "--keys", "1k", "--no-plots", "--out", str(tmp_path)
    )
    assert_one_line_error(refused, "JumpHash", "weight")


def test_progress_bar_goes_to_stderr(tmp_path: Path) -> None:
    result = run_cli(
        "simulate",
        "-a",
        PLUGIN,
        "--keys",
        "5k",
        "--no-plots",
        "--out",
        str(tmp_path),
        "--progress",
        "--repeat",
        "1",
    )
    assert result.returncode == 0
    assert "100%" in result.stderr and "[####" in result.stderr
    assert "[####" not in result.stdout


def test_defaults_run_every_algorithm(tmp_path: Path) -> None:
    result = run_cli("simulate", cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert set(parse_table(result.stdout)) == set(AVAILABLE)
    assert "1,000,000 random 64-bit keys" in result.stdout
    for name in ("load.png", "movement.png", "throughput.png", "summary.md", "summary.csv"):
        assert (tmp_path / "shardwise-out" / name).stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--keys", "lots"], ["--keys", "lots"]),
        (["--keys", "0"], ["--keys"]),
        (["--nodes", "a,b,a"], ["'a'", "twice"]),
        (["--nodes", "a,b", "--weights", "1"], ["1 weights for 2 nodes"]),
        (["--nodes", "a,b", "--weights", "1,-2"], ["weight"]),
        (["--nodes", "a=nan,b"], ["weight"]),
        (["--nodes", "@/no/such/nodes.txt"], ["cannot read node file"]),
        (["-a", "nosuch"], ["unknown algorithm", "nosuch"]),
        (["-a", "no_such_module:X"], ["cannot import"]),
        (["--key-file", "/no/such/keys.txt"], ["does not exist"]),
        (["--column", "x"], ["--key-file"]),
        (["--bogus"], ["unrecognized"]),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    result = run_cli("simulate", "-a", PLUGIN, "--no-plots", "--out", str(tmp_path), *args)
    assert_one_line_error(result, *needles)


def test_unwritable_out_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("simulate", "-a", PLUGIN, "--keys", "1k", "--out", str(blocker / "sub"), "--no-plots")
    assert_one_line_error(result, "cannot write")


def test_help_has_examples() -> None:
    for args in (["--help"], ["simulate", "--help"]):
        result = run_cli(*args)
        assert result.returncode == 0
        assert "examples:" in result.stdout and "shardwise simulate" in result.stdout
