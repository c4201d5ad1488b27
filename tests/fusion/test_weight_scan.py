"""The vectorised scans and the stable pass agree with sequential references (and filterpy)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion.weight.scan import affine_scan, mobius_scan
from fusion.weight.stable import ALARM_CUSUM, ALARM_OUT, NONE, SPIKE, StableState, stable_pass

from .test_weight_kalman import _filterpy_track


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 70), st.integers(0, 2 ** 32 - 1))
def test_scans_match_loops(m, L, seed):
    rng = np.random.default_rng(seed)
    a, b, c = rng.uniform(0, 1.5, (m, L)), rng.normal(0, 3, (m, L)), rng.uniform(0, 2, (m, L))
    x0, p0 = rng.normal(0, 5, m), rng.uniform(0, 10, m)
    xs, ps = np.empty((m, L)), np.empty((m, L))
    x, p = x0.copy(), p0.copy()
    for k in range(L):
        x = a[:, k] * x + b[:, k]
        p = (a[:, k] * p + np.abs(b[:, k])) / (c[:, k] * p + 1.0)
        xs[:, k], ps[:, k] = x, p
    np.testing.assert_allclose(affine_scan(a, b, x0), xs, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(mobius_scan(a, np.abs(b), c, p0), ps, rtol=1e-9, atol=1e-12)


def assert_matches_filterpy(res, T, Z, n, q, r, x0=500.0, P0=0.5):
    """A stable pass that ran every row to its end (no stop) ends where filterpy does."""
    assert (res.kind == NONE).all() and (res.used == n).all()
    for i in range(len(n)):
        fx, fP = _filterpy_track(T[i, :n[i]], Z[i, :n[i]], x0, P0, 0.0, q[i], r[i])
        assert res.state.x[i] == pytest.approx(fx[-1], rel=1e-12)
        assert res.state.P[i] == pytest.approx(fP[-1], rel=1e-9)


def _state(m, x, P, kt, r, q):
    z = np.zeros(m)
    return StableState(x=np.full(m, x), P=np.full(m, P), kt=np.full(m, kt), r=r, q=q, gp=z, gn=z,
                       n_out=np.zeros(m, int), t_out=np.full(m, np.nan), t_valid=np.full(m, kt),
                       anc_x=np.full(m, x), anc_P=np.full(m, P), anc_t=np.full(m, kt))


@pytest.mark.parametrize("seed", [0, 1])
def test_stable_pass_matches_filterpy(seed):
    rng = np.random.default_rng(seed)
    m, L = 3, 50
    T = np.cumsum(rng.uniform(0.01, 0.05, (m, L)), axis=1)
    r = rng.uniform(0.1, 9.0, m)
    Z = 500.0 + rng.normal(0, 1, (m, L)) * np.sqrt(r)[:, None]
    n = np.array([L, 30, 7])
    q = 0.01 * r
    res = stable_pass(T, Z, np.full((m, L), 0.02), n, _state(m, 500.0, 0.5, 0.0, r, q),
                      gate=1e9, k=1.0, h=1e9, confirm=2)
    assert_matches_filterpy(res, T, Z, n, q, r)


def test_stable_pass_stops_at_spike_alarm_and_cusum():
    m, L = 3, 40
    T = np.tile(np.arange(1, L + 1) * 0.025, (m, 1))
    Z = np.full((m, L), 1000.0)
    Z[0, 10] += 50.0  # lone spike
    Z[1, 10:] += 50.0  # step: two outliers in a row
    Z[2, 10:] += 2.0  # 2-sigma shift: CUSUM
    r = np.ones(m)
    res = stable_pass(T, Z, np.full((m, L), 0.025), np.full(m, L),
                      _state(m, 1000.0, 0.05, 0.0, r, 0.01 * r), gate=5.0, k=1.0, h=6.0,
                      confirm=2)
    assert res.kind[0] == SPIKE and res.used[0] == 11 and res.state.n_out[0] == 1
    assert res.state.x[0] == pytest.approx(1000.0)
    # the step: the first outlier stops the pass, the second (next pass) starts the episode
    assert res.kind[1] == SPIKE and res.used[1] == 11
    st1 = res.state
    nxt = stable_pass(T[1:2, 11:], Z[1:2, 11:], np.full((1, L - 11), 0.025), np.array([L - 11]),
                      StableState(*(np.atleast_1d(getattr(st1, f)[1])
                                    for f in StableState.__slots__)),
                      gate=5.0, k=1.0, h=6.0, confirm=2)
    assert nxt.kind[0] == ALARM_OUT and nxt.used[0] == 1
    assert nxt.t0[0] == pytest.approx(T[1, 10]) and nxt.base_x[0] == pytest.approx(1000.0)
    assert res.kind[2] == ALARM_CUSUM and 11 < res.used[2] < 20
    assert res.t0[2] == pytest.approx(T[2, 10]) and res.base_x[2] == pytest.approx(1000.0)
