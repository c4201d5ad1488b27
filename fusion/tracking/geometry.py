"""Floor-plane geometry helpers for gate zones (metres)."""

from __future__ import annotations

import numpy as np


def inside_polygon(poly: np.ndarray, xy: np.ndarray) -> bool:
    """True when point ``xy`` (2,) lies inside polygon ``poly`` (N, 2) (even-odd rule)."""
    x, y = float(xy[0]), float(xy[1])
    px, py = poly[:, 0], poly[:, 1]
    qx, qy = np.roll(px, -1), np.roll(py, -1)
    crosses = (py > y) != (qy > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = px + (y - py) * (qx - px) / (qy - py)
    return bool(np.count_nonzero(crosses & (x < x_at)) % 2)


def distance_to_polygon(poly: np.ndarray, xy: np.ndarray) -> float:
    """Distance (m) from ``xy`` (2,) to polygon ``poly`` (N, 2); 0 inside."""
    if inside_polygon(poly, xy):
        return 0.0
    a = poly
    b = np.roll(poly, -1, axis=0)
    ab = b - a
    denom = np.einsum("ij,ij->i", ab, ab)
    u = np.clip(np.einsum("ij,ij->i", xy - a, ab) / np.where(denom > 0, denom, 1.0), 0.0, 1.0)
    closest = a + u[:, None] * ab
    return float(np.sqrt(np.min(np.sum((closest - xy) ** 2, axis=1))))
