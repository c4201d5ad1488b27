"""Vectorised random-walk Kalman filter on the level of many plates.

State layout (one scalar state per plate, all plates held as arrays of shape
``(n_cells,)``)::

    x   level of the plate (g)
    P   variance of x (g^2)
    t   store time of the last predict/update (s)

Model: ``x_k = x_{k-1} + w``, ``w ~ N(0, q * dt)`` (a random walk, i.e. slow
drift / automatic zero tracking), ``z_k = x_k + v``, ``v ~ N(0, r)``.  So
``F = H = 1``, ``Q = q * dt`` and ``R = r``.  Every method acts on a subset of
plates given as an index array ``idx`` (unique indices).
"""

from __future__ import annotations

import numpy as np


class LevelKalman:
    """Scalar Kalman filters for ``n`` plates, updated together.

    Args:
        n: number of plates.
    """

    def __init__(self, n: int):
        if n < 0:
            raise ValueError(f"LevelKalman: n must be >= 0, got {n}")
        self.x = np.full(n, np.nan)  # (n,) level, g
        self.P = np.full(n, np.inf)  # (n,) variance of the level, g^2
        self.t = np.full(n, np.nan)  # (n,) time of the last step, s

    def reset(self, idx: np.ndarray, x: np.ndarray, P: np.ndarray, t: np.ndarray) -> None:
        """Set level ``x`` (g), variance ``P`` (g^2) and time ``t`` (s) of plates ``idx``."""
        self.x[idx] = x
        self.P[idx] = P
        self.t[idx] = t

    def predict(self, idx: np.ndarray, t: np.ndarray, q_g2_per_s: np.ndarray) -> np.ndarray:
        """Propagate plates ``idx`` to times ``t`` (s); returns the predicted P (g^2).

        ``q_g2_per_s`` is the random-walk intensity, so ``Q = q * dt``.  Time
        never runs backwards: a negative or unknown ``dt`` counts as 0.
        """
        dt = t - self.t[idx]
        dt = np.where(np.isfinite(dt) & (dt > 0.0), dt, 0.0)
        P = self.P[idx] + q_g2_per_s * dt
        self.P[idx] = P
        self.t[idx] = np.fmax(self.t[idx], t)
        return P

    def innovation(self, idx: np.ndarray, z: np.ndarray, r_g2: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Innovation ``v = z - x`` (g) and its variance ``S = P + R`` (g^2)."""
        return z - self.x[idx], self.P[idx] + r_g2

    def update(self, idx: np.ndarray, z: np.ndarray, r_g2: np.ndarray) -> None:
        """Fold measurements ``z`` (g, finite) with noise variance ``r_g2`` into plates ``idx``."""
        P = self.P[idx]
        K = P / (P + r_g2)
        self.x[idx] = self.x[idx] + K * (z - self.x[idx])
        self.P[idx] = (1.0 - K) * P
