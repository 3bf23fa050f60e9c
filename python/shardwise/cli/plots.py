"""PNG plots of a simulation (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shardwise.cli._common import CliError
from shardwise.cli.outfiles import atomic_output

if TYPE_CHECKING:
    from shardwise.cli.simulate import Result


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise CliError("plots need matplotlib: pip install 'shardwise[cli]' (or use --no-plots)") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def check_available() -> None:
    """Raise the one-line error now if matplotlib is missing."""
    pyplot()


NAMES = ("load.png", "movement.png", "throughput.png", "costs.png")


def write_all(out: Path, results: list[Result], setup: str) -> list[str]:
    """Write load.png, movement.png, throughput.png and costs.png into ``out``; return the file
    names."""
    plt = pyplot()
    written = []
    for name, draw in zip(NAMES, (_load, _movement, _throughput, _costs), strict=True):
        fig = draw(plt, results, setup)
        with atomic_output(out / name) as path:
            fig.savefig(path, dpi=110, format="png")
        plt.close(fig)
        written.append(name)
    return written


def _load(plt: Any, results: list[Result], setup: str) -> Any:
    """Grouped bars: one group per node (nodes are categories), one bar per algorithm."""
    count = len(results[0].nodes)
    width_in = max(9.0, min(24.0, 0.06 * count * len(results) + 6))
    fig, ax = plt.subplots(figsize=(width_in, 4.8), layout="constrained")
    x = np.arange(count)
    width = 0.8 / len(results)
    colors = plt.get_cmap("tab20" if len(results) > 10 else "tab10").colors
    for k, r in enumerate(results):
        ax.bar(
            x - 0.4 + (k + 0.5) * width,
            r.counts / r.expected,
            width,
            color=colors[k % len(colors)],
            label=f"{r.name} (max/mean {r.max_over_mean:.3f})",
        )
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xlabel("node")
    ax.set_ylabel("load / fair share")
    if count <= 30:
        ax.set_xticks(x, list(results[0].nodes), rotation=45, ha="right", fontsize=8)
    low = min(float(np.min(r.counts / r.expected)) for r in results)
    ax.set_ylim(max(0.0, min(0.9, low - 0.05)), None)
    ax.set_title(f"Load per node\n{setup}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return fig


def _movement(plt: Any, results: list[Result], setup: str) -> Any:
    fig, ax = plt.subplots(figsize=(9, 4.8), layout="constrained")
    x = np.arange(len(results))
    width = 0.38
    add = [100 * r.moved_add for r in results]
    remove = [100 * r.moved_remove for r in results]
    ax.bar(x - width / 2, add, width, label="one node added")
    ax.bar(x + width / 2, remove, width, label="one node removed")
    ax.scatter(
        x - width / 2,
        [100 * r.ideal_add for r in results],
        marker="_",
        s=400,
        color="black",
        label="ideal",
        zorder=3,
    )
    ax.scatter(
        x + width / 2, [100 * r.ideal_remove for r in results], marker="_", s=400, color="black", zorder=3
    )
    many = len(results) > 6
    ax.set_xticks(x, [r.name for r in results], rotation=30 if many else 0, ha="right" if many else "center")
    ax.set_ylabel("keys moved (%)")
    ax.set_title(f"Keys that change owner\n{setup}", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2 if many else -0.08), ncols=3)
    ax.grid(axis="y", alpha=0.3)
    return fig


def _throughput(plt: Any, results: list[Result], setup: str) -> Any:
    fig, (bulk, single) = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
    names = [r.name for r in results]
    bulk.barh(names, [r.place_ns for r in results], color="tab:blue")
    bulk.set_xlabel("ns per key (bulk place, lower is better)")
    single.barh(names, [r.get_node_ns for r in results], color="tab:orange")
    single.set_xlabel("ns per call (get_node, lower is better)")
    for ax in (bulk, single):
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Lookup cost\n{setup}", fontsize=10)
    return fig


def _costs(plt: Any, results: list[Result], setup: str) -> Any:
    """Memory, init and resize times, balance after resizing and monotonicity, per algorithm."""
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5), layout="constrained")
    names = [r.name for r in results]
    y = np.arange(len(results))
    memory, init, resize = axes[0]
    after, stray, unused = axes[1]
    unused.axis("off")
    memory.barh(names, [r.memory_bytes / 1024 for r in results], color="tab:purple")
    memory.set_xlabel("memory (KiB)")
    init.barh(names, [max(r.build_ms, 1e-4) for r in results], color="tab:green")
    init.set_xlabel("init time (ms)")
    resize.barh(y - 0.2, [max(r.add_ms, 1e-4) for r in results], 0.4, label="add a node")
    resize.barh(y + 0.2, [max(r.remove_ms, 1e-4) for r in results], 0.4, label="remove a node")
    resize.set_yticks(y, names)
    resize.set_xlabel("resize time (ms)")
    resize.legend(fontsize=8)
    for ax in (memory, init, resize):
        ax.set_xscale("log")
    balances = [r.resize_balance for r in results]
    after.barh(names, balances, color="tab:red")
    after.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
    after.set_xlim(0.95, max(1.2, *balances) * 1.02)
    after.set_xlabel("max/mean after resize (1 = perfect)")
    stray.barh(names, [100 * r.stray for r in results], color="tab:gray")
    stray.set_xlabel("stray keys (%): moved between unchanged nodes")
    for ax in (memory, init, resize, after, stray):
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    unused.text(
        0.0,
        0.9,
        "Lower is better everywhere.\nResize: one add_node / remove_node.\n"
        "Stray keys: 0 for a monotone algorithm\n"
        "(keys only move to an added node\nor away from a removed one).",
        fontsize=9,
        va="top",
    )
    fig.suptitle(f"Costs of each algorithm\n{setup}", fontsize=10)
    return fig
