"""Per-layer closed contours from a cut: closed loops as they are, open chains joined across gaps.

A chain left open (a small hole in the mesh) is joined end to start within `gap_mm`; what still
cannot be closed is counted, never silently printed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gcode.cut import Cut, FloatArray


@dataclass(frozen=True)
class LayerContours:
    """The closed loops of one layer: each (k, 2) float mm, CCW around material, CW around holes."""

    loops: list[FloatArray]
    unclosed: int


def layer_contours(cut: Cut, n_layers: int, gap_mm: float = 0.05) -> list[LayerContours]:
    """Group the cut's chains by layer; join open chains whose ends lie within `gap_mm`."""
    loops: list[list[FloatArray]] = [[] for _ in range(n_layers)]
    open_chains: list[list[FloatArray]] = [[] for _ in range(n_layers)]
    offsets = cut.offsets
    for c in range(cut.layer.shape[0]):
        chain = cut.points[offsets[c] : offsets[c + 1]]
        if cut.closed[c]:
            if chain.shape[0] >= 3:
                loops[cut.layer[c]].append(chain)
        else:
            open_chains[cut.layer[c]].append(chain)
    result = []
    for layer in range(n_layers):
        closed, unclosed = _join(open_chains[layer], gap_mm) if open_chains[layer] else ([], 0)
        result.append(LayerContours(loops=loops[layer] + closed, unclosed=unclosed))
    return result


def _join(chains: list[FloatArray], gap_mm: float) -> tuple[list[FloatArray], int]:
    """Greedily append to each chain the chain whose start is nearest its end, within the gap."""
    pending = list(chains)
    closed: list[FloatArray] = []
    unclosed = 0
    while pending:
        current = pending.pop()
        while True:
            if np.hypot(*(current[-1] - current[0])) <= gap_mm and current.shape[0] >= 3:
                closed.append(current[:-1] if np.array_equal(current[-1], current[0]) else current)
                break
            if not pending:
                unclosed += 1
                break
            starts = np.array([c[0] for c in pending])
            distance = np.hypot(*(starts - current[-1]).T)
            best = int(np.argmin(distance))
            if distance[best] > gap_mm:
                unclosed += 1
                break
            current = np.vstack([current, pending.pop(best)])
    return closed, unclosed
