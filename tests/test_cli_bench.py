"""`shardwise bench` driven as a user would: a Markdown table whose ratios follow from its ns/key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import assert_one_line_error, cli_env, run_cli
from shardwise import selection
from shardwise.cli import algorithms

AVAILABLE = [a.name for a in algorithms.available()]
SMALL = ["--quick", "--keys", "3000", "--sample", "300", "--nodes", "10"]


def parse_markdown(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]
    ]


def test_table_rows_and_ratios(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    result = run_cli("bench", *SMALL, "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = parse_markdown(result.stdout)
    cases = {r["case"] for r in rows}
    assert {"hash xxh3_64", "hash murmur3_32"} <= cases
    assert {c for c in cases if not c.startswith(("hash", "pick"))} == set(AVAILABLE)
    assert {f"pick {name}" for name in selection.CLASSES} <= cases  # every registered balancer
    implementations = {r["implementation"] for r in rows if r["case"] == "hash murmur3_32"}
    assert {"shardwise bulk", "shardwise one key", "mmh3"} <= implementations
    for case in cases:
        case_rows = [r for r in rows if r["case"] == case]
        (bulk,) = [r for r in case_rows if r["implementation"] in ("shardwise bulk", "shardwise pick")]
        assert int(bulk["keys"]) == (300 if case.startswith("pick") else 3000)
        for r in case_rows:
            ns = float(r["ns/key"])
            assert ns > 0
            ratio = float(r["ratio"].rstrip("x"))
            assert ratio == pytest.approx(ns / float(bulk["ns/key"]), rel=0.06, abs=0.06)
    assert parse_markdown(out.read_text()) == rows


def test_absent_peer_is_skipped_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "mmh3.py").write_text("raise ImportError('pretend mmh3 is not installed')\n")
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    result = subprocess.run(
        [sys.executable, "-m", "shardwise", "bench", *SMALL, "--cases", "hash"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = parse_markdown(result.stdout)
    assert "mmh3" not in {r["implementation"] for r in rows}
    assert "xxhash" in {r["implementation"] for r in rows}
    assert "skipped: peer not installed: mmh3 (pip install mmh3)" in result.stdout


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--cases", "nosuch"], ["--cases", "nosuch"]),
        (["--keys", "zero"], ["--keys"]),
        (["--out", "/no/such/dir/bench.md"], ["cannot write"]),
    ],
)
def test_errors_are_one_line(args: list[str], needles: list[str]) -> None:
    assert_one_line_error(run_cli("bench", *SMALL, "--cases", "hash", *args), *needles)


def test_help_has_examples() -> None:
    result = run_cli("bench", "--help")
    assert result.returncode == 0 and "shardwise bench --quick" in result.stdout
