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

from .scan import EvenCoeffCache, affine_scan, mobius_scan, riccati_even

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
    return np.concatenate([first[:, None], a[:, :-1]], axis=1)


def _lindley(y: np.ndarray, g0: np.ndarray) -> np.ndarray:
    """CUSUM sums g_k = max(0, g_{k-1} + y_k) along the last axis of y (..., L) from g0 (...)."""
    S = np.add.accumulate(y, axis=-1)
    return S - np.minimum(np.minimum.accumulate(S, axis=-1), -g0[..., None])


def _outlier_end(end: StableState, st: StableState, is_out: np.ndarray, kind: np.ndarray,
                 j: np.ndarray, t_left: np.ndarray, x_prior: np.ndarray, P_prior: np.ndarray,
                 G_prior: np.ndarray, confirm: int) -> tuple[StableState, np.ndarray]:
    """End state and kind of rows whose last sample ``j`` (m,) is an outlier (``is_out``).

    An outlier is skipped (predict only: level ``x_prior``, variance
    ``P_prior``, CUSUM sums ``G_prior`` (2, m) from before it); ``confirm``
    in a row (counted across passes) make it ``ALARM_OUT``, the episode
    starting at the first of them (``t_left`` (m,), s).
    """
    n_out_before = np.where(j == 0, st.n_out, 0)
    n_out = np.where(is_out, n_out_before + 1, 0)
    t_out = np.where(is_out & (n_out_before == 0), t_left, st.t_out)
    kind = np.where(is_out & (n_out >= confirm), ALARM_OUT, kind)
    return StableState(
        x=np.where(is_out, x_prior, end.x), P=np.where(is_out, P_prior, end.P), kt=end.kt,
        r=end.r, q=end.q, gp=np.where(is_out, G_prior[0], end.gp),
        gn=np.where(is_out, G_prior[1], end.gn), n_out=n_out, t_out=t_out,
        t_valid=end.t_valid, anc_x=end.anc_x, anc_P=end.anc_P, anc_t=end.anc_t), kind


def _t_left(T: np.ndarray, D: np.ndarray, t_valid: np.ndarray, *cols: np.ndarray
            ) -> tuple[np.ndarray, ...]:
    """When the hand may have arrived at the samples in columns ``cols`` (each (m,)), s.

    The sample's time, or after a gap in valid readings (more than 3 sample
    intervals ``D`` since the previous one, ``t_valid`` (m,) before column 0)
    the time of the reading before the gap: a change happened during it.
    Evaluated at the requested columns only.
    """
    m = T.shape[0]
    if len(cols) == 1:  # the common case (no row stopped): no tile / concatenate
        rr, c = np.arange(m), cols[0]
        t = T[rr, c]
        prev = np.where(c > 0, T[rr, c - 1], t_valid)
        return (np.where(t - prev > 3.0 * np.fmax(D[rr, c], 1e-3), prev, t),)
    rr = np.tile(np.arange(m), len(cols))
    c = np.concatenate(cols)
    t = T[rr, c]
    prev = np.where(c > 0, T[rr, c - 1], np.tile(t_valid, len(cols)))
    t = np.where(t - prev > 3.0 * np.fmax(D[rr, c], 1e-3), prev, t)
    return tuple(t.reshape(len(cols), m))


def _posterior_var(dt: np.ndarray, qdt: np.ndarray, valid: np.ndarray, st: StableState,
                   cache: EvenCoeffCache | None = None) -> np.ndarray:
    """(m, L) posterior Kalman variance (g^2) at each sample.

    Rows whose valid samples are evenly spaced (every interval within 1e-9
    relative of the first, the common case of a plate sampled at a fixed
    rate) use the closed form :func:`~fusion.weight.scan.riccati_even`; the
    others the general :func:`~fusion.weight.scan.mobius_scan`.  Padding
    columns (``valid`` (m, L) False) hold values that are never read.
    """
    m, L = dt.shape
    d0 = dt[:, :1]
    even = (np.abs(np.where(valid, dt, d0) - d0) <= 1e-9 * d0).all(axis=1)
    e = st.q * d0[:, 0] / st.r
    even &= e >= 1e-10
    if even.all():
        if cache is None:
            return riccati_even(e, st.P / st.r, L) * st.r[:, None]
        e, coeffs = cache.get(e, L)
        return riccati_even(e, st.P / st.r, L, coeffs) * st.r[:, None]
    r = st.r[:, None]
    c = 1.0 / (qdt + r)
    a = r * c
    if not even.any():
        return mobius_scan(a, qdt * a, c, st.P)
    P = np.empty((m, L))
    ev, od = np.flatnonzero(even), np.flatnonzero(~even)
    P[ev] = riccati_even(e[ev], st.P[ev] / st.r[ev], L) * r[ev]
    P[od] = mobius_scan(a[od], qdt[od] * a[od], c[od], st.P[od])
    return P


def stable_pass(T: np.ndarray, Z: np.ndarray, D: np.ndarray, n: np.ndarray, st: StableState,
                gate: float, k: float, h: float, confirm: int,
                even_cache: EvenCoeffCache | None = None) -> PassResult:
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
        even_cache: reuse the closed-form coefficients of evenly spaced rows
            across passes (:class:`~fusion.weight.scan.EvenCoeffCache`).
    """
    m, L = T.shape
    col = np.arange(L)
    rows = np.arange(m)
    dt = np.fmax(T - _shift(T, st.kt), 0.0)  # 0 for NaN (padding, no previous time)
    r = st.r[:, None]
    qdt = st.q[:, None] * dt
    valid = col[None, :] < n[:, None]
    Ppost = _posterior_var(dt, qdt, valid, st, even_cache)
    Pm = _shift(Ppost, st.P) + qdt  # predicted variance at each sample
    S = Pm + r
    K = Pm / S
    x = affine_scan(1.0 - K, K * Z, st.x)
    xprev = _shift(x, st.x)
    v = Z - xprev
    nu = v / np.sqrt(S)
    out = np.abs(nu) > gate
    inlier = ~out
    # both CUSUM sums at once: G[0] upper, G[1] lower, (2, m, L)
    y = np.empty((2, m, L))
    np.subtract(nu, k, out=y[0])
    np.subtract(-k, nu, out=y[1])
    g0 = np.empty((2, m))
    g0[0], g0[1] = st.gp, st.gn
    G = _lindley(y, g0)
    stop = (out | (G > h).any(axis=0)) & valid
    any_stop = stop.any(axis=1)
    j = np.where(any_stop, np.argmax(stop, axis=1), n - 1)
    # anchor: the last inlier sample at which both CUSUM sums were zero before it (both
    # sums are >= 0, so their sum is 0 exactly when both are)
    zero = inlier & (_shift(G[0] + G[1], st.gp + st.gn) == 0.0)
    last0 = np.maximum.accumulate(np.where(zero, col[None, :], -1), axis=1)[rows, j]
    has0 = last0 >= 0
    l0 = np.maximum(last0, 0)
    stopped = bool(any_stop.any())
    tl = _t_left(T, D, st.t_valid, *((l0, j) if stopped else (l0,)))
    tl0, tlj = tl[0], tl[-1]
    anc_x = np.where(has0, xprev[rows, l0], st.anc_x)
    anc_P = np.where(has0, Pm[rows, l0], st.anc_P)
    anc_t = np.where(has0, tl0, st.anc_t)
    end = StableState(
        x=x[rows, j], P=Ppost[rows, j], kt=np.fmax(st.kt, T[rows, j]), r=st.r, q=st.q,
        gp=G[0, rows, j], gn=G[1, rows, j], n_out=np.zeros(m, np.int64), t_out=st.t_out,
        t_valid=T[rows, j], anc_x=anc_x, anc_P=anc_P, anc_t=anc_t)
    kind, t0 = np.full(m, NONE), anc_t
    base_x, base_var = anc_x, anc_P
    if stopped:  # some row stopped at an outlier or an alarm
        G_prev = np.empty_like(G)
        G_prev[:, :, 0] = (st.gp, st.gn)
        G_prev[:, :, 1:] = G[:, :, :-1]
        is_out = out[rows, j] & any_stop
        kind = np.where(any_stop, np.where(is_out, SPIKE, ALARM_CUSUM), NONE)
        end, kind = _outlier_end(end, st, is_out, kind, j, tlj, xprev[rows, j], Pm[rows, j],
                                 G_prev[:, rows, j], confirm)
        alarm_out = kind == ALARM_OUT
        base_x = np.where(alarm_out, end.x, anc_x)
        base_var = np.where(alarm_out, end.P, anc_P)
        t0 = np.where(alarm_out, end.t_out, anc_t)
    inl = (col[None, :] <= j[:, None]) & inlier
    return PassResult(used=j + 1, kind=kind, t0=t0, base_x=base_x, base_var=base_var,
                      state=end, v2_minus_p=np.where(inl, v * v - Pm, 0.0), inl=inl)
