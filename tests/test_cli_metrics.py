"""The literature's metrics of ``shardwise simulate`` (shardwise.cli.metrics): definitions checked on
small cases whose answers are known by hand, then end to end on a placement whose every owner is
known (key -> xxh3_64(key) % n)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import shardwise
from cli_support import png_size, run_cli
from shardwise.cli.metrics import Owners, balance, expected_loads, memory_bytes, moved_share, stray_share

PLUGIN = "cli_plugin:ModPlacement"


def test_owner_codes_compare_placements_by_name() -> None:
    owners = Owners()
    first = owners.of(("a", "b", "c"), [0, 2, 1])
    second = owners.of(("c", "a"), [1, 0, 1])  # "a" moved to index 1, "c" to index 0
    assert first.tolist() == [0, 2, 1]
    assert second.tolist() == [0, 2, 0]
    assert owners.codes(["c", "zz"]) == {2, 3}


def test_moved_share_counts_keys_whose_owner_changed() -> None:
    before = np.array([0, 0, 1, 2])
    assert moved_share(before, np.array([0, 1, 1, 2])) == 0.25
    assert moved_share(before, before) == 0.0
    assert moved_share(before, np.array([3, 3, 3, 3])) == 1.0
    assert moved_share(np.array([], dtype=np.int64), np.array([], dtype=np.int64)) == 0.0


def test_stray_share_counts_moves_between_unchanged_nodes() -> None:
    # Nodes a=0, b=1, c=2; d=3 is added. Key 0 moves a -> d (fine: to the added node), key 1
    # moves a -> b (stray: neither changed), keys 2 and 3 stay.
    before = np.array([0, 0, 1, 2])
    after = np.array([3, 1, 1, 2])
    assert stray_share(before, after, {3}) == 0.25
    # Removing b (1): keys leave b (fine); one moves c -> a (stray).
    before = np.array([1, 1, 2, 0])
    after = np.array([0, 2, 0, 0])
    assert stray_share(before, after, {1}) == 0.25
    assert stray_share(before, after, {1, 2}) == 0.0


def test_balance_is_the_most_loaded_node_over_its_fair_share() -> None:
    assert balance([0, 0, 0, 1], ("a", "b"), {}) == 1.5
    assert balance([0, 1, 1, 1], ("a", "b"), {"a": 1.0, "b": 3.0}) == 1.0
    assert balance([0, 0, 0, 1], ("a", "b"), {"a": 1.0, "b": 3.0}) == 3.0
    assert balance([0, 0], ("a", "b", "c"), {}) == 3.0, "an empty node counts"
    assert expected_loads(("a", "b"), {"b": 3.0}, 8).tolist() == [2.0, 6.0]


def test_memory_is_what_the_placement_holds() -> None:
    names = [f"n{i}" for i in range(100)]
    maglev = shardwise.Maglev(names)
    assert memory_bytes(maglev) >= 4 * maglev.table_size
    small = memory_bytes(shardwise.JumpBackHash(names))
    assert 100 * 8 < small < memory_bytes(maglev) / 10
    anchor = memory_bytes(shardwise.AnchorHash(names, capacity=10_000))
    assert anchor >= 16 * 10_000, "four int arrays of the capacity"
    assert memory_bytes(shardwise.AnchorHash(names, capacity=200)) < anchor
    assert memory_bytes(object()) == sys.getsizeof(object())


def test_memory_of_the_rings_counts_their_points() -> None:
    names = [f"n{i}" for i in range(100)]
    bare = memory_bytes(shardwise.JumpHash(names))
    for ring, points in [
        (shardwise.HashRing(names, vnodes=160), 16_000),
        (shardwise.KetamaRing(names), 16_000),
        (shardwise.MultiProbe(names), 100),
        (shardwise.BoundedLoadRing(names, vnodes=40), 4_000),
    ]:
        held = memory_bytes(ring) - bare
        assert 16 * points <= held <= 40 * points, (type(ring).__name__, held)
    skeleton = memory_bytes(shardwise.SkeletonRendezvous(names)) - bare
    assert skeleton >= 4 * 100, "one slot per node at least"


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as handle:
        return {r["algorithm"]: r for r in csv.DictReader(handle)}


def test_simulate_reports_the_known_figures_of_modulo_placement(tmp_path: Path) -> None:
    keys = np.random.default_rng(5).integers(0, 2**63, size=30_000, dtype=np.uint64)
    (tmp_path / "keys.txt").write_text("\n".join(str(k) for k in keys) + "\n")
    result = run_cli(
        "simulate",
        "-a",
        f"{PLUGIN},jumpbackhash,anchorhash",
        "--nodes",
        "7",
        "--key-file",
        str(tmp_path / "keys.txt"),
        "--key-type",
        "int",
        "--out",
        str(tmp_path / "out"),
        "--repeat",
        "1",
    )
    assert result.returncode == 0, result.stderr
    rows = read_csv(tmp_path / "out" / "summary.csv")
    h = shardwise.hashing.xxh3_64_many(keys)
    before, grown, shrunk = h % np.uint64(7), h % np.uint64(8), h % np.uint64(6)
    mod = rows["ModPlacement"]
    # Added node-7: a key is stray when it moved and did not move to node-7.
    assert float(mod["stray_add"]) == pytest.approx(np.mean((before != grown) & (grown != 7)), abs=1e-6)
    # Removed node-6 (the plugin removes only its last node): stray when it moved from elsewhere.
    assert float(mod["stray_remove"]) == pytest.approx(np.mean((before != shrunk) & (before != 6)), abs=1e-6)
    assert float(mod["moved_add"]) == pytest.approx(np.mean(before != grown), abs=1e-6)
    counts = np.bincount(grown.astype(np.int64), minlength=8)
    assert float(mod["balance_add"]) == pytest.approx(counts.max() / (len(keys) / 8), abs=1e-6)
    counts = np.bincount(shrunk.astype(np.int64), minlength=6)
    assert float(mod["balance_remove"]) == pytest.approx(counts.max() / (len(keys) / 6), abs=1e-6)
    for name in ("jumpbackhash", "anchorhash"):  # monotone: nothing moves between unchanged nodes
        assert float(rows[name]["stray_add"]) == 0.0 and float(rows[name]["stray_remove"]) == 0.0
        assert float(rows[name]["add_ms"]) >= 0 and float(rows[name]["remove_ms"]) >= 0
        assert int(rows[name]["memory_bytes"]) > 0
    assert "removes only the last node" in rows["jumpbackhash"]["notes"]
    assert "removes only the last node" not in rows["anchorhash"]["notes"]
    width, height = png_size(tmp_path / "out" / "costs.png")
    assert width >= 400 and height >= 300
    table = result.stdout
    assert "stray%" in table and "resize max/mean" in table and "memory KiB" in table
