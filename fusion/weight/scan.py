"""Prefix scans along the sample axis of padded ``(m, L)`` arrays (m plates, L samples).

Both recursions of the level filter are solved for all samples of all
plates at once, in ``ceil(log2 L)`` doubling steps of whole-array numpy
operations (Hillis-Steele scans), so there is no per-sample Python loop:

* :func:`affine_scan`: ``x_k = a_k x_{k-1} + b_k`` (Kalman level update,
  exponential moving averages);
* :func:`mobius_scan`: ``P_k = (a_k P_{k-1} + b_k) / (c_k P_{k-1} + 1)``
  (the scalar Riccati recursion of the Kalman variance, a linear-fractional
  map; composing two such maps is a 2x2 matrix product).

Padding entries must be identities (``a = 1, b = 0`` resp. ``a = 1, b = c = 0``).
"""

from __future__ import annotations

import numpy as np


def affine_scan(a: np.ndarray, b: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """Solve ``x_k = a_k * x_{k-1} + b_k`` along axis 1.

    Args:
        a: (m, L) multipliers.
        b: (m, L) offsets.
        x0: (m,) value before the first column.

    Returns:
        (m, L) array of x_k.
    """
    if a.size and a.min() > 0.0:
        # closed form x_k = e^{G_k} (x0 + sum_{j<=k} b_j e^{-G_j}), G = cumsum(log a):
        # 8 array operations instead of 4 per doubling step; only while e^{|G|}
        # stays far from overflow
        G = np.log(a).cumsum(axis=1)
        if np.abs(G).max() < 300.0:
            E = np.exp(G)  # e^{-G_j} as 1 / E_j: one exp instead of two
            S = (b / E).cumsum(axis=1)
            return E * (x0[:, None] + S)
    A, B = a.astype(float, copy=True), b.astype(float, copy=True)
    L, s = A.shape[1], 1
    while s < L:
        B[:, s:] = A[:, s:] * B[:, :-s] + B[:, s:]
        A[:, s:] = A[:, s:] * A[:, :-s]
        s *= 2
    return A * x0[:, None] + B


def mobius_scan(a: np.ndarray, b: np.ndarray, c: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """Solve ``P_k = (a_k P_{k-1} + b_k) / (c_k P_{k-1} + 1)`` along axis 1.

    Each step is the matrix ``[[a, b], [c, 1]]``; prefixes are products of
    them, renormalised so the lower-right entry stays 1 (it is >= 1 for the
    non-negative entries of a Riccati step, so this never divides by 0).

    Args:
        a, b, c: (m, L) non-negative coefficients of each step.
        p0: (m,) value before the first column (finite, >= 0).

    Returns:
        (m, L) array of P_k.
    """
    A, B, C = (v.astype(float, copy=True) for v in (a, b, c))
    L, s = A.shape[1], 1
    while s < L:
        # later step (A2, B2, C2, 1) after earlier step (A1, B1, C1, 1)
        A2, B2, C2 = A[:, s:], B[:, s:], C[:, s:]
        A1, B1, C1 = A[:, :-s], B[:, :-s], C[:, :-s]
        d = C2 * B1 + 1.0
        na = (A2 * A1 + B2 * C1) / d
        nb = (A2 * B1 + B2) / d
        nc = (C2 * A1 + C1) / d
        A[:, s:], B[:, s:], C[:, s:] = na, nb, nc
        s *= 2
    p = p0[:, None]
    return (A * p + B) / (C * p + 1.0)


def riccati_even(e: np.ndarray, p0: np.ndarray, L: int,
                 coeffs: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Closed form of the normalised Riccati recursion with a constant step.

    ``p_k = (p_{k-1} + e) / (p_{k-1} + e + 1)`` (the posterior variance of a
    random-walk Kalman filter in units of R, with ``e = Q / R`` per step) is
    the Moebius map of ``N = [[1, e], [1, 1 + e]]`` (det 1, eigenvalues
    ``lam`` and ``1 / lam``, ``lam = 1 + e/2 + sqrt(e + e^2/4)``).  By
    Cayley-Hamilton ``N^k = a_k N + b_k I`` with, after dividing both by
    ``lam^k / (lam - 1/lam)``, ``a_k = 1 - lam^-2k`` and
    ``b_k = -(1 - lam^-2(k-1)) / lam``, so every ``p_k`` is a few whole-array
    operations (``expm1`` keeps ``1 - lam^-2k`` accurate for small ``e``).
    Exact up to rounding (~1e-13 relative for ``e >= 1e-10``).

    Args:
        e: (m,) step ratio ``Q / R`` of each row (> 0).
        p0: (m,) value before the first column (>= 0, in units of R).
        L: number of steps.
        coeffs: ``riccati_even_coeffs(e, L)`` if already known (they depend
            on ``e`` and ``L`` only, not on ``p0``).

    Returns:
        (m, L) array of p_k, k = 1..L.
    """
    A, B = coeffs if coeffs is not None else riccati_even_coeffs(e, L)
    num = B * p0[:, None] - A * (p0 + e)[:, None]
    return num / (B - A * (p0 + 1.0 + e)[:, None])


def riccati_even_coeffs(e: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray]:
    """(m, L) scaled ``-a_k`` and ``b_k``, k = 1..L, of :func:`riccati_even` for step ratios ``e``."""
    g2 = -2.0 * np.log1p(0.5 * e + np.sqrt(e + 0.25 * e * e))  # (m,) log lam^-2
    k = np.arange(L + 1, dtype=float)
    E = np.expm1(g2[:, None] * k)  # (m, L + 1) lam^-2k - 1 for k = 0..L
    B = E[:, :-1] * np.exp(0.5 * g2)[:, None]  # b_k for k = 1..L (a_k = -E[:, 1:])
    return E[:, 1:], B


class EvenCoeffCache:
    """:func:`riccati_even_coeffs` of recent ``(e, L)``, reused across passes.

    For a plate sampled at a fixed rate ``e = q dt / r`` is the same every
    chunk up to rounding (``q`` is proportional to ``r``), so the
    coefficients are reused when every row's ``e`` is within ``rel`` (1e-12)
    relative of the stored one; the stored ``e`` is then used for the whole
    closed form (a step ratio off by <= 1e-12 relative: far below the 1e-9
    relative spacing tolerance that already makes a row "even").
    """

    __slots__ = ("_store", "rel")

    def __init__(self, rel: float = 1e-12) -> None:
        self._store: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.rel = rel

    def get(self, e: np.ndarray, L: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """(the ``e`` to use, its coefficients) for step ratios ``e`` (m,) over ``L`` steps."""
        key = (e.size, L)
        hit = self._store.get(key)
        if hit is not None and (np.abs(e - hit[0]) <= self.rel * hit[0]).all():
            return hit[0], (hit[1], hit[2])
        A, B = riccati_even_coeffs(e, L)
        if len(self._store) >= 32:
            self._store.clear()
        self._store[key] = (e.copy(), A, B)
        return e, (A, B)


def ema_final(w: np.ndarray, y: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """Last value of ``x_k = (1 - w_k) x_{k-1} + w_k y_k`` along axis 1.

    The closed form ``x_L = W_L x0 + sum_k w_k y_k W_L / W_k`` with
    ``W_k = prod_{j<=k} (1 - w_j)``, from ``cumsum(log1p(-w))``: every
    factor ``W_L / W_k`` is <= 1, so nothing overflows.

    Args:
        w: (m, L) weights in [0, 1).
        y: (m, L) inputs.
        x0: (m,) value before the first column.

    Returns:
        (m,) x after the last column.
    """
    G = np.log1p(-w).cumsum(axis=1)
    GL = G[:, -1]
    return np.exp(GL) * x0 + (w * y * np.exp(GL[:, None] - G)).sum(axis=1)
