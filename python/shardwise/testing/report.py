"""Reports of lock checks: plain text, JSON, a side-by-side verdict, and Porcupine history dumps."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from shardwise.testing.checker import KINDS, CheckResult
from shardwise.testing.history import porcupine_operations
from shardwise.testing.run import RunResult

__all__ = ["failed", "side_by_side", "text_report", "to_json", "verdict", "write_history"]

_SHOWN_FINDINGS = 20


def verdict(run: RunResult) -> str:
    """``PASS``/``FAIL`` for a lock that claims safety; ``unsafe``/``no violation seen`` otherwise."""
    bad = not run.result.valid
    if run.kind.claims_safety:
        return "FAIL" if bad else "PASS"
    return "unsafe" if bad else "no violation seen"


def failed(runs: Sequence[RunResult]) -> bool:
    """True when a lock that claims safety showed a definite violation."""
    return any(run.kind.claims_safety and not run.result.valid for run in runs)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _latency(result: CheckResult) -> str:
    if not result.loss_latencies_ms:
        return "-"
    return f"{_ms(result.latency_percentile(0.5))}/{_ms(result.latency_percentile(0.99))}"


def side_by_side(runs: Sequence[RunResult]) -> str:
    """One row per lock: what it claims, what it did, what broke."""
    from shardwise.cli._common import format_table

    headers = ["lock", "claims", "acq", "acq/s", "faults", "stale", "double", "fence", "tokens", "lost",
               "notice p50/p99 ms", "verdict"]  # fmt: skip
    rows = []
    for run in runs:
        r = run.result
        rows.append(
            [
                run.kind.name,
                "safety" if run.kind.claims_safety else "-",
                str(r.acquisitions),
                f"{r.acquisitions_per_s:.1f}",
                str(len(run.faults)),
                str(r.count("stale-action")),
                str(r.count("double-grant")),
                str(r.count("fencing-order")),
                str(r.count("token-regression")),
                str(r.lost_updates),
                _latency(r),
                verdict(run),
            ]
        )
    return format_table(headers, rows)


def text_report(run: RunResult, *, findings: int = 5) -> str:
    """A readable summary of one run."""
    r = run.result
    c = run.config
    faults = Counter(f.kind for f in run.faults)
    lines = [
        f"== {run.kind.name}: {verdict(run)}",
        f"   {c.clients} clients, {c.duration:g} s, ttl {c.ttl:g} s, seed {c.seed}; "
        f"faults injected: {len(run.faults)}" + (f" ({_counts(faults)})" if faults else ""),
        f"   acquisitions: {r.acquisitions} ({r.acquisitions_per_s:.1f}/s, "
        f"{r.possible_acquisitions} unknown), "
        f"longest wait {r.longest_wait_s:.2f} s",
        f"   counter: {r.increments_acked} increments acknowledged, {r.increments_refused} refused, "
        f"{r.increments_unknown} unknown; final {r.final_counter}; lost updates {r.lost_updates}",
        f"   loss noticed: {r.notices} notices; loss->notice p50/p99 {_latency(r)} ms over "
        f"{len(r.loss_latencies_ms)} losses ({r.losses_unnoticed} never noticed, "
        f"{r.losses_presumed_early} presumed lost before the server lost them)",
    ]
    definite = Counter(f.kind for f in r.findings if f.definite)
    possible = Counter(f.kind for f in r.findings if not f.definite)
    lines.append(f"   violations: {r.violations}" + (f" ({_counts(definite)})" if definite else ""))
    if possible:
        lines.append(f"   possible (unknown outcomes, not counted): {_counts(possible)}")
    for finding in [f for f in r.findings if f.definite][:findings]:
        lines.append(f"   - {finding.kind}: {finding.detail}")
    return "\n".join(lines)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counter.items()))


def to_json(run: RunResult) -> dict[str, Any]:
    """The run as JSON-ready data."""
    r = run.result
    c = run.config
    return {
        "lock": run.kind.name,
        "claims_safety": run.kind.claims_safety,
        "fenced": run.kind.fenced,
        "verdict": verdict(run),
        "config": {
            "clients": c.clients,
            "duration_s": c.duration,
            "ttl_s": c.ttl,
            "seed": c.seed,
            "faults": list(c.faults),
        },
        "faults": {
            "injected": len(run.faults),
            "by_kind": dict(Counter(f.kind for f in run.faults)),
            "list": [asdict(f) for f in run.faults],
        },
        "liveness": {
            "acquisitions": r.acquisitions,
            "unknown_acquisitions": r.possible_acquisitions,
            "acquisitions_per_s": round(r.acquisitions_per_s, 3),
            "longest_wait_s": round(r.longest_wait_s, 3),
        },
        "counter": {
            "acknowledged": r.increments_acked,
            "refused": r.increments_refused,
            "unknown": r.increments_unknown,
            "applied": r.writes_applied,
            "final": r.final_counter,
            "lost_updates": r.lost_updates,
        },
        "violations": {"total": r.violations, **{k: r.count(k) for k in KINDS}},
        "possible": {k: r.count(k, definite=False) for k in KINDS},
        "loss_detection": {
            "notices": r.notices,
            "losses_measured": len(r.loss_latencies_ms),
            "p50_ms": r.latency_percentile(0.5),
            "p99_ms": r.latency_percentile(0.99),
            "max_ms": max(r.loss_latencies_ms, default=None),
            "never_noticed": r.losses_unnoticed,
            "presumed_early": r.losses_presumed_early,
        },
        "findings": [asdict(f) for f in r.findings if f.definite][:_SHOWN_FINDINGS]
        + [asdict(f) for f in r.findings if not f.definite][: _SHOWN_FINDINGS // 2],
    }


def write_history(run: RunResult, path: Path) -> None:
    """Write the run's history in Porcupine's visualization format (a JSON list of operations)."""
    path.write_text(json.dumps(porcupine_operations(run.history), separators=(",", ":")), encoding="utf-8")
