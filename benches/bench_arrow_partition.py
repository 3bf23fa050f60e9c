"""Splitting a Parquet dataset by owner: ``shardwise place --split-by-owner`` against the pyarrow code
users write today (``pyarrow.dataset`` batches, ``.to_numpy()`` keys, a filter and a ParquetWriter
per node). Both run as child processes; ``extra_info`` holds rows, rows/s and the child's peak RSS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bench_support import size

ROWS = size(20_000_000, 20_000)
NODES = ",".join(f"node-{i}" for i in range(10))
BASELINE = textwrap.dedent(
    """
    import sys, pathlib
    import numpy as np, pyarrow as pa, pyarrow.dataset as ds, pyarrow.parquet as pq
    import shardwise
    source, target = sys.argv[1], pathlib.Path(sys.argv[2])
    ring = shardwise.HashRing([f"node-{i}" for i in range(10)])
    dataset = ds.dataset(source, format="parquet")
    writers = {}
    for batch in dataset.to_batches(batch_size=65536):
        owners = ring.place(batch.column("user").to_numpy(zero_copy_only=False))
        for i, name in enumerate(ring.nodes):
            part = batch.filter(pa.array(owners == i))
            if part.num_rows:
                if name not in writers:
                    (target / f"node={name}").mkdir(parents=True)
                    writers[name] = pq.ParquetWriter(target / f"node={name}" / "part-0.parquet", batch.schema)
                writers[name].write_batch(part)
    for w in writers.values():
        w.close()
    """
)
PEAK = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); " \
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"  # fmt: skip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("split")
    path = root / "events.parquet"
    rng = np.random.default_rng(5)
    step = min(ROWS, 1_000_000)
    schema = pa.schema([("user", pa.string()), ("amount", pa.int64()), ("region", pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        for _ in range(0, ROWS, step):
            ids = rng.integers(0, 10**11, size=step)
            writer.write_table(
                pa.table(
                    {
                        "user": pa.array([f"user:{v:011d}" for v in ids]),
                        "amount": pa.array(ids % 10_000),
                        "region": pa.array(["eu", "us", "ap"] * (step // 3) + ["eu"] * (step % 3)),
                    },
                    schema=schema,
                ),
                row_group_size=step,
            )
    return path


def peak_run(args: list[str]) -> int:
    """Run ``args``; the child's peak RSS in KiB."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", PEAK, *args], capture_output=True, text=True, env=env, check=True
    )
    return int(result.stdout.split()[-1])


def record(benchmark: Any, seconds: float, rss_kib: int) -> None:
    benchmark.extra_info.update(
        rows=ROWS, keys=ROWS, rows_per_s=round(ROWS / seconds), peak_rss_mb=rss_kib // 1024
    )


def test_cli_split_by_owner(benchmark: Any, dataset: Path) -> None:
    def run() -> tuple[float, int]:
        target = dataset.parent / f"cli-{time.monotonic_ns()}"
        start = time.perf_counter()
        rss = peak_run([sys.executable, "-m", "shardwise", "place", "--algo", "ring", "--nodes", NODES,
                        "--keys", str(dataset), "--column", "user", "--no-progress",
                        "--split-by-owner", str(target)])  # fmt: skip
        return time.perf_counter() - start, rss

    seconds, rss = benchmark.pedantic(run, rounds=1, iterations=1)
    record(benchmark, seconds, rss)


def test_pyarrow_to_numpy_script(benchmark: Any, dataset: Path) -> None:
    def run() -> tuple[float, int]:
        target = dataset.parent / f"script-{time.monotonic_ns()}"
        start = time.perf_counter()
        rss = peak_run([sys.executable, "-c", BASELINE, str(dataset), str(target)])
        return time.perf_counter() - start, rss

    seconds, rss = benchmark.pedantic(run, rounds=1, iterations=1)
    record(benchmark, seconds, rss)
