"""``shardwise simulate --scale``: the cost curve as the node count grows (issue 14's "from 10 to
1M nodes in simulate"). Figures are checked against what is known independently of the timing:
how many points a ring holds, which sizes the limits must skip, what the files contain."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from cli_support import assert_one_line_error, png_size, run_cli
from shardwise.cli._common import UsageError
from shardwise.cli.scale import measure, parse_counts

PLUGIN = "cli_plugin:ModPlacement"


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_counts_are_sorted_distinct_and_bounded() -> None:
    assert parse_counts("1k,10,100,10") == [10, 100, 1000]
    assert parse_counts("1M") == [1_000_000]
    for bad, needle in [
        ("0", ">= 1"),
        ("2M", "at most 1,000,000"),
        ("ten", "whole number"),
        ("10,,100", "empty"),
    ]:
        with pytest.raises(UsageError, match=needle):
            parse_counts(bad)


def test_curve_of_rings_and_constant_time_placements(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "simulate", "--scale", "10,100,1000", "-a", f"ring,jumpbackhash,{PLUGIN}",
        "--vnodes", "16", "--keys", "20000", "--repeat", "1", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = read_rows(out / "scale.csv")
    by = {(r["algorithm"], int(r["nodes"])): r for r in rows}
    assert sorted(by) == sorted(
        (a, n) for a in ("ring", "jumpbackhash", "ModPlacement") for n in (10, 100, 1000)
    )
    assert {r["keys"] for r in rows} == {"20000"} and {r["threads"] for r in rows} == {"1"}
    for n in (10, 100, 1000):
        ring = int(by["ring", n]["memory_bytes"])
        assert ring >= 16 * (16 * n), "16 bytes for each of the ring's 16 points per node"
        assert int(by["jumpbackhash", n]["memory_bytes"]) < ring
        assert all(float(by[a, n]["place_ns_per_key"]) > 0 for a in ("ring", "jumpbackhash", "ModPlacement"))
    width, height = png_size(out / "scale.png")
    assert width >= 800 and height >= 300
    markdown = (out / "scale.md").read_text()
    assert "| ring " in markdown and "![scale.png](scale.png)" in markdown
    assert "place ns/key" in result.stdout and "step" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        # Rendezvous is O(nodes) per key: 200k keys over 10k nodes take seconds; the sample says so.
        (
            ("-a", "rendezvous", "--scale", "10,10000", "--keys", "200k", "--budget", "1"),
            "placing the keys once",
        ),
        # A 1.6M-point ring builds in over 20 ms: a hundred times that passes the budget.
        (("-a", "ring", "--scale", "10000,1000000", "--budget", "1"), "building would take about"),
        # 16 points a node hold over 1 MiB at 10k nodes: ten times that passes the limit.
        (
            ("-a", "ring", "--vnodes", "16", "--scale", "10000,100000", "--memory-limit", "10M"),
            "MiB (--memory-limit",
        ),
    ],
)
def test_a_size_past_the_limits_is_skipped_with_a_note(
    tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    out = tmp_path / "out"
    result = run_cli("simulate", "--keys", "5000", "--no-plots", "--out", str(out), *args)
    assert result.returncode == 0, result.stderr
    first, second = args[args.index("--scale") + 1].split(",")
    assert [r["nodes"] for r in read_rows(out / "scale.csv")] == [first]
    assert f"skipped {int(second):,} nodes and more" in result.stdout and needle in result.stdout
    assert needle in (out / "scale.md").read_text()
    assert not (out / "scale.png").exists()


def test_the_first_size_is_checked_too(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ("-a", "jump,rendezvous", "--scale", "20000", "--keys", "1M", "--budget", "1", "--no-plots")
    result = run_cli("simulate", *args, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert [r["algorithm"] for r in read_rows(out / "scale.csv")] == ["jump"]
    assert "rendezvous: skipped 20,000 nodes and more: placing the keys once" in result.stdout


def test_a_plugin_failing_at_a_size_ends_only_its_curve(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "simulate", "-a", "cli_plugin:SmallOnly,jump", "--scale", "10,100", "--keys", "1000", "--no-plots",
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [(r["algorithm"], r["nodes"]) for r in read_rows(out / "scale.csv")] == [
        ("SmallOnly", "10"), ("jump", "10"), ("jump", "100"),
    ]  # fmt: skip
    assert "SmallOnly: stopped at 100 nodes: RuntimeError: SmallOnly holds at most 50 nodes" in result.stdout


def test_measure_stops_at_the_size_an_algorithm_refuses() -> None:
    keys = np.arange(1000, dtype=np.uint64)
    # 200,000 points for one node; 20M for 100, past the ring's limit of 2**24 points.
    curve = measure("ring", [1, 100], keys, vnodes=200_000, repeat=1, budget=60, memory_limit=2**40)
    assert [p.nodes for p in curve.points] == [1]
    assert len(curve.notes) == 1 and curve.notes[0].startswith("stopped at 100 nodes:")
    refused = measure("ring", [100], keys, vnodes=200_000, repeat=1, budget=60, memory_limit=2**40)
    assert refused.points == [] and refused.notes[0].startswith("refused: ")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--scale", "10,100", "--nodes", "5"), "drop --nodes"),
        (("--scale", "10", "--weights", "1"), "drop --nodes and --weights"),
        (("--scale", "2M"), "at most 1,000,000"),
        (("--scale", "10", "--threads", "-1"), "--threads"),
        (("--scale", "10", "--budget", "0"), "--budget"),
        (("--scale", "10", "-a", "nosuch"), "unknown algorithm"),
        (("--scale", "10", "--threads", "5000"), "--threads must be 0 (every core) to 1024"),
        (
            (
                "--threads",
                "2",
            ),
            "apply only with --scale",
        ),
        (
            (
                "--budget",
                "nan",
            ),
            "apply only with --scale",
        ),
    ],
)
def test_scale_refuses_what_it_cannot_do(tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    result = run_cli("simulate", *args, "--no-plots", "--out", str(tmp_path / "out"))
    assert_one_line_error(result, needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("mode", [("--scale", "10"), ("--nodes", "3")])
def test_an_unwritable_out_fails_before_the_work(tmp_path: Path, mode: tuple[str, str]) -> None:
    taken = tmp_path / "file"
    taken.write_text("not a directory")
    result = run_cli(
        "simulate", *mode, "-a", "jump", "--keys", "1000", "--no-plots", "--out", str(taken / "sub")
    )
    assert_one_line_error(result, "--out: cannot write to")
    assert "jump" not in result.stdout, "nothing measured"
    assert taken.read_text() == "not a directory"
