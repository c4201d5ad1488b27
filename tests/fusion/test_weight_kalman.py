"""The vectorised level Kalman filter agrees with filterpy on the same input."""

from __future__ import annotations

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter

from fusion.weight import LevelKalman
from fusion.weight.layout import chunk_rows

from .test_weight_signals import PlateScript, make_samples


def _filterpy_track(t, z, x0, P0, t0, q, r):
    kf = KalmanFilter(dim_x=1, dim_z=1)
    kf.x = np.array([[x0]])
    kf.P = np.array([[P0]])
    kf.F = np.array([[1.0]])
    kf.H = np.array([[1.0]])
    kf.R = np.array([[r]])
    xs, Ps, last = [], [], t0
    for ti, zi in zip(t, z, strict=True):
        kf.Q = np.array([[q * max(ti - last, 0.0)]])
        last = max(last, ti)
        kf.predict()
        kf.update(None if np.isnan(zi) else np.array([[zi]]))
        xs.append(kf.x[0, 0])
        Ps.append(kf.P[0, 0])
    return np.array(xs), np.array(Ps)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_filterpy_on_interleaved_cells(seed):
    rng = np.random.default_rng(seed)
    scripts = [PlateScript(level_g=1000.0 * (i + 1), noise_g=float(rng.uniform(0.3, 3)),
                           rate_hz=float(rng.choice([10, 20, 50, 80])), phase_s=0.001 * i,
                           jitter_s=0.002, steps=[(1.0, 30.0, 0.5)], gaps=[(1.5, 1.7)])
               for i in range(4)]
    s = make_samples(scripts, 3.0, seed=seed)
    n = len(scripts)
    q = np.array([0.5, 2.0, 0.1, 5.0])
    r = np.array([p.noise_g ** 2 for p in scripts])
    kf = LevelKalman(n)
    idx = np.arange(n)
    kf.reset(idx, np.full(n, 900.0), np.full(n, 1e4), np.zeros(n))
    xs = np.empty(s.size)
    Ps = np.empty(s.size)
    t, cell, z = s["t"], s["cell"].astype(int), s["grams"].astype(float)
    for row in chunk_rows(t, cell):
        c = cell[row]
        kf.predict(c, t[row], q[c])
        ok = np.isfinite(z[row])
        kf.update(c[ok], z[row][ok], r[c[ok]])
        xs[row], Ps[row] = kf.x[c], kf.P[c]
    for i in range(n):
        m = cell == i
        fx, fP = _filterpy_track(t[m], z[m], 900.0, 1e4, 0.0, q[i], r[i])
        np.testing.assert_allclose(xs[m], fx, rtol=1e-9, atol=1e-7)
        np.testing.assert_allclose(Ps[m], fP, rtol=1e-7, atol=1e-10)


def test_chunk_rows_orders_each_cell_in_time():
    t = np.array([0.0, 0.0, 0.1, 0.05, 0.2, 0.1])
    cell = np.array([0, 1, 0, 1, 0, 1])
    rows = chunk_rows(t, cell)
    assert [sorted(cell[r].tolist()) for r in rows] == [[0, 1], [0, 1], [0, 1]]
    for i in (0, 1):
        seq = [t[r][cell[r] == i][0] for r in rows]
        assert seq == sorted(seq)


def test_predict_never_runs_time_backwards():
    kf = LevelKalman(1)
    kf.reset(np.array([0]), np.array([5.0]), np.array([1.0]), np.array([10.0]))
    P = kf.predict(np.array([0]), np.array([9.0]), np.array([1.0]))
    assert P[0] == 1.0 and kf.t[0] == 10.0
