"""Benchmark settings. SHARDWISE_BENCH_SMOKE=1 (as .ci/run sets) shrinks every input so each
benchmark runs once, quickly, only to prove it still works; figures come from full runs."""

from __future__ import annotations

import os

SMOKE = os.environ.get("SHARDWISE_BENCH_SMOKE") == "1"


def size(full: int, smoke: int = 1000) -> int:
    """Input size for a benchmark: ``full`` normally, ``smoke`` in smoke mode."""
    return smoke if SMOKE else full
