"""Bodies that keep apart: who is where when (planning-time collision checks)
and the entry gate queue.

Paths are piecewise-linear floor trajectories, (k, 3) rows of (t s, x m, y m).
People are planned one after another; each new path segment is checked
against every path planned before it on a time grid, and the planner waits or
detours until the segment keeps ``gap_m`` from everybody (see
``docs/simulator.md``: body width and the entry gate).
"""

from __future__ import annotations

import numpy as np

CHECK_DT_S = 0.1  #: time step of the clearance checks (s)


class Occupancy:
    """The paths of everybody planned so far."""

    def __init__(self) -> None:
        self.paths: list[np.ndarray] = []
        self.t0: list[float] = []
        self.t1: list[float] = []

    def add(self, path: np.ndarray) -> None:
        """Register a finished (k, 3) path."""
        self.paths.append(path)
        self.t0.append(float(path[0, 0]))
        self.t1.append(float(path[-1, 0]))

    def clearance(self, path: np.ndarray, t0: float, t1: float) -> float:
        """Smallest distance (m) between ``path`` and anybody else over [t0, t1]
        (sampled every :data:`CHECK_DT_S`); 9.0 when nobody is around."""
        tt = np.arange(t0, max(t1, t0) + 0.5 * CHECK_DT_S, CHECK_DT_S)
        x = np.interp(tt, path[:, 0], path[:, 1])
        y = np.interp(tt, path[:, 0], path[:, 2])
        best = 9.0
        for q, a, b in zip(self.paths, self.t0, self.t1, strict=True):
            if b < tt[0] or a > tt[-1]:
                continue
            m = (tt >= a) & (tt <= b)
            d = np.hypot(np.interp(tt[m], q[:, 0], q[:, 1]) - x[m],
                         np.interp(tt[m], q[:, 0], q[:, 2]) - y[m])
            best = min(best, float(d.min()))
        return best

    def clearance_at(self, xy: np.ndarray, t0: float, t1: float) -> float:
        """Smallest distance (m) from anybody to a person standing at ``xy`` over [t0, t1]."""
        still = np.array([[t0, xy[0], xy[1]], [max(t1, t0 + 1e-6), xy[0], xy[1]]])
        return self.clearance(still, t0, t1)


def along_line(gate_xy: np.ndarray, into: np.ndarray, path: np.ndarray, t: float) -> float:
    """Distance (m) of a path's position at ``t`` before the gate point, along
    the entry direction ``into`` (negative once through)."""
    xy = np.array([np.interp(t, path[:, 0], path[:, 1]), np.interp(t, path[:, 0], path[:, 2])])
    return float(np.dot(gate_xy - xy, into))


def approach(gate_xy: np.ndarray, into: np.ndarray, *, start_m: float, t_ready: float,
             speed: float, t_allowed: float, ahead: np.ndarray | None, gap_m: float,
             lateral_m: float) -> tuple[list[list[float]], float]:
    """Walk in file to the entry gate and through it (one at a time).

    The person walks along ``into`` towards ``gate_xy``; free, they would be
    there at ``t_ready``. They stay ``gap_m`` behind the person ``ahead``
    (their path, or None) until that person is ``gap_m`` through the gate, and
    wait at the gate until ``t_allowed`` (the gate admits one person at a time).

    Args:
        gate_xy: (2,) gate point (m). into: (2,) unit direction into the store.
        start_m: distance before the gate where the walk starts at the latest
            (out of camera view) (m).
        t_ready: free arrival time at the gate (s). speed: walking speed (m/s).
        t_allowed: earliest time the gate lets this person through (s).
        ahead: (k, 3) path of the person in front in the queue, or None.
        gap_m: distance kept behind ``ahead`` (m).
        lateral_m: constant sideways offset of the walking line (m).

    Returns:
        (path rows [t, x, y] up to and including the gate point, gate time s).
    """
    side = np.array([into[1], -into[0]])
    t0 = t_ready - start_m / speed

    def lead_at(t: float) -> float:
        # before its path starts the person ahead is still out there at its start
        if ahead is None or t > ahead[-1, 0]:
            return -np.inf
        return along_line(gate_xy, into, ahead, max(t, float(ahead[0, 0]))) + gap_m

    s, t, rows = max(start_m, lead_at(t0)), t0, []
    while True:
        rows.append([t, s])
        lead = lead_at(t)
        if s <= 0.0 and t >= t_allowed and lead <= 0.0:
            break
        t += CHECK_DT_S
        s = max(s - speed * CHECK_DT_S, lead, 0.0)
        s = min(s, rows[-1][1])  # nobody walks backwards in a queue
    rows_a = np.array(rows)
    keep = np.ones(len(rows_a), bool)
    v = np.diff(rows_a[:, 1])
    keep[1:-1] = np.abs(v[1:] - v[:-1]) > 1e-9  # drop points inside straight stretches
    out = []
    for t_k, s_k in rows_a[keep]:
        xy = gate_xy - into * s_k + side * lateral_m * min(1.0, s_k / 0.5)
        out.append([float(t_k), float(xy[0]), float(xy[1])])
    return out, float(rows_a[-1, 0])
