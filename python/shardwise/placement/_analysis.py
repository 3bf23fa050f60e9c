"""Analysis helpers: how evenly a placement spreads keys, and what a change would move."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shardwise.placement._protocol import Placement

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class LoadDistribution:
    """Keys per node for one placement and one set of keys."""

    nodes: tuple[str, ...]
    counts: npt.NDArray[np.int64]  # counts[i] = keys owned by nodes[i]
    total: int
    mean: float
    max: int
    min: int
    stddev: float  # population standard deviation of the counts
    max_over_mean: float  # 1.0 is perfect balance for equal weights; 0.0 when there are no keys
    max_over_share: float  # max of count / (total * weight / sum of weights): 1.0 is perfect for any weights

    def as_dict(self) -> dict[str, int]:
        """Node name -> key count."""
        return {n: int(c) for n, c in zip(self.nodes, self.counts, strict=True)}


def load_distribution(placement: Placement, keys: Any) -> LoadDistribution:
    """Count the keys each node of ``placement`` owns (bulk ``place``, so it is fast)."""
    import numpy as np  # imported on use: ``import shardwise`` stays light

    nodes = placement.nodes
    owners = placement.place(keys)
    counts = np.bincount(owners, minlength=len(nodes)).astype(np.int64)
    total = int(counts.sum())
    mean = total / len(nodes) if len(nodes) else 0.0
    weights = placement.weights
    w = np.array([weights[n] for n in nodes], dtype=np.float64)
    expected = total * w / w.sum() if len(nodes) and total else np.zeros(len(nodes))
    return LoadDistribution(
        nodes=nodes,
        counts=counts,
        total=total,
        mean=mean,
        max=int(counts.max()) if len(nodes) else 0,
        min=int(counts.min()) if len(nodes) else 0,
        stddev=float(counts.std()) if len(nodes) else 0.0,
        max_over_mean=float(counts.max() / mean) if mean else 0.0,
        max_over_share=float((counts / expected).max()) if total else 0.0,
    )


@dataclass(frozen=True)
class Movement:
    """Which keys change owner between two placements: the plan for a topology change."""

    before_nodes: tuple[str, ...]
    after_nodes: tuple[str, ...]
    matrix: npt.NDArray[np.int64]  # matrix[i, j] = keys owned by before_nodes[i] then after_nodes[j]
    total: int
    moved: int  # keys whose owner *name* changed
    fraction: float  # moved / total (0.0 without keys)

    def flows(self) -> list[tuple[str, str, int]]:
        """``(from, to, count)`` for every pair of different nodes that exchanges keys, largest first."""
        import numpy as np  # imported on use: ``import shardwise`` stays light

        out = [
            (self.before_nodes[i], self.after_nodes[j], int(self.matrix[i, j]))
            for i, j in zip(*np.nonzero(self.matrix), strict=True)
            if self.before_nodes[i] != self.after_nodes[j]
        ]
        return sorted(out, key=lambda f: (-f[2], f[0], f[1]))


def movement(before: Placement, after: Placement, keys: Any) -> Movement:
    """Compare the owners of ``keys`` under ``before`` and ``after`` (matched by node name)."""
    import numpy as np  # imported on use: ``import shardwise`` stays light

    b_nodes, a_nodes = before.nodes, after.nodes
    b = before.place(keys).astype(np.int64)
    a = after.place(keys).astype(np.int64)
    matrix = np.zeros((len(b_nodes), len(a_nodes)), dtype=np.int64)
    if len(b):
        flat = np.bincount(b * len(a_nodes) + a, minlength=len(b_nodes) * len(a_nodes))
        matrix = flat.reshape(len(b_nodes), len(a_nodes)).astype(np.int64)
    same = np.array([[x == y for y in a_nodes] for x in b_nodes], dtype=bool).reshape(matrix.shape)
    total = len(b)
    moved = total - int(matrix[same].sum())
    return Movement(
        before_nodes=b_nodes,
        after_nodes=a_nodes,
        matrix=matrix,
        total=total,
        moved=moved,
        fraction=moved / total if total else 0.0,
    )
