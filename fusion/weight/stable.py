"""Vectorised pass over the samples of plates that are stable.

While a plate is stable its level filter, outlier gate and CUSUM are closed
recursions of the sample times and readings, so a whole chunk of samples of
many plates is processed at once on padded ``(m, L)`` arrays (m plates, L
samples, row i = plate i's next readings in time order, valid entries first):

* Kalman variance: the scalar Riccati recursion, a linear-fractional map per
  sample (:func:`~fusion.weight.scan.mobius_scan`);
* level: ``x_k = (1 - K_k) x_{k-1} + K_k z_k`` (:func:`~fusion.weight.scan.affine_scan`);
* CUSUM: the Lindley recursion ``g_k = max(0, g_{k-1} + y_k)`` has the closed
  form ``g_k = S_k - min(-g_0, min_{j<=k} S_j)`` with ``S = cumsum(y)``
  (``np.minimum.accumulate``).

Everything is exact up to the first outlier or CUSUM alarm of a plate (after
an outlier the filter would not have been updated, so later samples differ):
the pass stops there, and the caller handles that sample (an alarm starts an
episode; a lone outlier is skipped) and runs the pass again from the next
sample.  The noise variance ``r`` is held at its value from the start of the
pass for the filter and updated once, over the pass's inliers, at the end
(it moves by ~dt / noise_tau_s per sample, < 3 % over a 0.5 s chunk).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scan import affine_scan, mobius_scan

NONE, SPIKE, ALARM_OUT, ALARM_CUSUM = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class StableState:
    """Per-plate state entering a pass, all (m,).

    Attributes:
        x, P, kt: level (g), its variance (g^2), time of the last filter step (s).
        r, q: noise variance (g^2) and random-walk intensity (g^2/s).
        gp, gn: upper and lower CUSUM sums (sigma units).
        n_out: outliers in a row so far; t_out: time the first of them began (s).
        t_valid: time of the last valid reading (s).
        anc_x, anc_P, anc_t: level, variance and time when the CUSUM last left zero.
    """

    x: np.ndarray
    P: np.ndarray
    kt: np.ndarray
    r: np.ndarray
    q: np.ndarray
    gp: np.ndarray
    gn: np.ndarray
    n_out: np.ndarray
    t_out: np.ndarray
    t_valid: np.ndarray
    anc_x: np.ndarray
    anc_P: np.ndarray
    anc_t: np.ndarray


@dataclass(frozen=True, slots=True)
class PassResult:
    """What a pass did, all (m,): ``used`` samples consumed, ``kind`` of the last one.

    ``kind``: NONE (ran to the end), SPIKE (a lone outlier, skipped),
    ALARM_OUT / ALARM_CUSUM (an episode starts at that sample, ``t0`` s,
    with the level before it ``base_x`` g and its variance ``base_var`` g^2).
    ``state`` is the plates' state after the consumed samples; ``v2_minus_p``
    and ``inl`` (m, L) are the inlier innovations' ``v^2 - P`` (g^2) for the
    noise estimate.
    """

    used: np.ndarray
    kind: np.ndarray
    t0: np.ndarray
    base_x: np.ndarray
    base_var: np.ndarray
    state: StableState
    v2_minus_p: np.ndarray
    inl: np.ndarray


def _shift(a: np.ndarray, first: np.ndarray) -> np.ndarray:
    """(m, L) array of the previous column, ``first`` (m,) before column 0."""
    out = np.empty_like(a)
    out[:, 0] = first
    out[:, 1:] = a[:, :-1]
    return out


def _lindley(y: np.ndarray, g0: np.ndarray) -> np.ndarray:
    """CUSUM sums g_k = max(0, g_{k-1} + y_k) along axis 1 from g0 (m,)."""
    S = y.cumsum(axis=1)
    return S - np.minimum(np.minimum.accumulate(S, axis=1), -g0[:, None])


def stable_pass(T: np.ndarray, Z: np.ndarray, D: np.ndarray, n: np.ndarray, st: StableState,
                gate: float, k: float, h: float, confirm: int) -> PassResult:
    """Run level filter, gate and CUSUM over the stable plates' next samples.

    Every recursion is causal and a row's padding comes after its valid
    samples, so padding never reaches a result that is read (all are taken at
    or before each row's stopping column): only the stop search is masked.

    Args:
        T: (m, L) sample times, s (entries at columns >= ``n`` are padding).
        Z: (m, L) readings, g (all valid; padding finite).
        D: (m, L) each plate's sample-interval estimate at that sample, s.
        n: (m,) valid samples per row (>= 1).
        st: state before the pass.
        gate, k, h: outlier gate, CUSUM reference and threshold (sigma units).
        confirm: outliers in a row that start an episode.
    """
    m, L = T.shape
    col = np.arange(L)
    rows = np.arange(m)
    dt = T - _shift(T, st.kt)
    dt = np.where(dt > 0.0, dt, 0.0)  # also 0 for NaN (padding, no previous time)
    r = st.r[:, None]
    qdt = st.q[:, None] * dt
    c = 1.0 / (qdt + r)
    Ppost = mobius_scan(r * c, qdt * (r * c), c, st.P)
    Pm = _shift(Ppost, st.P) + qdt  # predicted variance at each sample
    S = Pm + r
    K = Pm / S
    Zv = np.where(np.isfinite(Z), Z, 0.0)
    x = affine_scan(1.0 - K, K * Zv, st.x)
    xprev = _shift(x, st.x)
    v = Zv - xprev
    nu = v / np.sqrt(S)
    out = np.abs(nu) > gate
    gp = _lindley(nu - k, st.gp)
    gn = _lindley(-nu - k, st.gn)
    stop = (out | (gp > h) | (gn > h)) & (col[None, :] < n[:, None])
    any_stop = stop.any(axis=1)
    j = np.where(any_stop, np.argmax(stop, axis=1), n - 1)
    is_out = out[rows, j] & any_stop
    kind = np.where(any_stop, np.where(is_out, SPIKE, ALARM_CUSUM), NONE)
    # t_left: after a gap in valid readings, a change happened during it
    tvprev = _shift(T, st.t_valid)
    gap = (T - tvprev) > 3.0 * np.fmax(D, 1e-3)
    t_left = np.where(gap, tvprev, T)
    # anchor: the last inlier sample at which both CUSUM sums were zero before it
    gp_prev, gn_prev = _shift(gp, st.gp), _shift(gn, st.gn)
    zero = ~out & (gp_prev == 0.0) & (gn_prev == 0.0)
    last0 = np.maximum.accumulate(np.where(zero, col[None, :], -1), axis=1)[rows, j]
    has0 = last0 >= 0
    l0 = np.maximum(last0, 0)
    anc_x = np.where(has0, xprev[rows, l0], st.anc_x)
    anc_P = np.where(has0, Pm[rows, l0], st.anc_P)
    anc_t = np.where(has0, t_left[rows, l0], st.anc_t)
    # outliers: a lone one is skipped (predict only), `confirm` in a row start an episode
    n_out_before = np.where(j == 0, st.n_out, 0)
    n_out = np.where(is_out, n_out_before + 1, 0)
    t_out = np.where(is_out & (n_out_before == 0), t_left[rows, j], st.t_out)
    kind = np.where(is_out & (n_out >= confirm), ALARM_OUT, kind)
    x_end = np.where(is_out, xprev[rows, j], x[rows, j])
    P_end = np.where(is_out, Pm[rows, j], Ppost[rows, j])
    base_x = np.where(kind == ALARM_OUT, x_end, anc_x)
    base_var = np.where(kind == ALARM_OUT, P_end, anc_P)
    t0 = np.where(kind == ALARM_OUT, t_out, anc_t)
    inl = (col[None, :] <= j[:, None]) & ~out
    end = StableState(
        x=x_end, P=P_end, kt=np.fmax(st.kt, T[rows, j]), r=st.r, q=st.q,
        gp=np.where(is_out, gp_prev[rows, j], gp[rows, j]),
        gn=np.where(is_out, gn_prev[rows, j], gn[rows, j]),
        n_out=n_out, t_out=t_out, t_valid=T[rows, j], anc_x=anc_x, anc_P=anc_P, anc_t=anc_t)
    return PassResult(used=j + 1, kind=kind, t0=t0, base_x=base_x, base_var=base_var,
                      state=end, v2_minus_p=np.where(inl, v * v - Pm, 0.0), inl=inl)
