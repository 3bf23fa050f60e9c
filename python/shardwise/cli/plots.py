"""PNG plots of a simulation (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shardwise.cli._common import CliError
from shardwise.cli.outfiles import atomic_output

if TYPE_CHECKING:
    from shardwise.cli.simulate import Result


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise CliError("plots need matplotlib: pip install 'shardwise[cli]' (or use --no-plots)") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def check_available() -> None:
    """Raise the one-line error now if matplotlib is missing."""
    _pyplot()


NAMES = ("load.png", "movement.png", "throughput.png")


def write_all(out: Path, results: list[Result], setup: str) -> list[str]:
    """Write load.png, movement.png and throughput.png into ``out``; return the file names."""
    plt = _pyplot()
    written = []
    for name, draw in zip(NAMES, (_load, _movement, _throughput), strict=True):
        fig = draw(plt, results, setup)
        with atomic_output(out / name) as path:
            fig.savefig(path, dpi=110, format="png")
        plt.close(fig)
        written.append(name)
    return written


def _load(plt: Any, results: list[Result], setup: str) -> Any:
    fig, ax = plt.subplots(figsize=(9, 4.8), layout="constrained")
    count = len(results[0].nodes)
    x = np.arange(count)
    for r in results:
        ratio = r.counts / r.expected
        ax.plot(
            x,
            ratio,
            marker="o" if count <= 60 else None,
            markersize=3,
            linewidth=1,
            label=f"{r.name} (max/mean {r.max_over_mean:.3f})",
        )
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xlabel("node")
    ax.set_ylabel("load / fair share")
    if count <= 30:
        ax.set_xticks(x, list(results[0].nodes), rotation=45, ha="right", fontsize=8)
    ax.set_title(f"Load per node\n{setup}", fontsize=10)
    ax.legend(fontsize=8, ncols=2)
    ax.grid(alpha=0.3)
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
    ax.set_xticks(x, [r.name for r in results])
    ax.set_ylabel("keys moved (%)")
    ax.set_title(f"Keys that change owner\n{setup}", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncols=3)
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
