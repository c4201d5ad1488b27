"""The closed-form variance of evenly spaced rows equals the general scan and filterpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion.weight import WeightDetector, stable
from fusion.weight.scan import ema_final, mobius_scan, riccati_even
from fusion.weight.stable import stable_pass

from .test_weight_scan import _state, assert_matches_filterpy
from .test_weight_signals import PlateScript, make_samples, make_store, take


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(1, 300), st.floats(-10, 2), st.integers(0, 2 ** 32 - 1))
def test_riccati_even_matches_loop(m, L, log_e, seed):
    rng = np.random.default_rng(seed)
    e = 10.0 ** log_e * rng.uniform(0.5, 2.0, m)
    p0 = rng.uniform(0.0, 5.0, m) * (rng.random(m) < 0.8)
    ps, p = np.empty((m, L)), p0.copy()
    for k in range(L):
        p = (p + e) / (p + e + 1.0)
        ps[:, k] = p
    np.testing.assert_allclose(riccati_even(e, p0, L), ps, rtol=1e-11, atol=0.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_stable_pass_on_even_and_jittered_rows_matches_filterpy(seed):
    rng = np.random.default_rng(seed)
    m, L = 4, 60
    dt = np.array([0.0125, 0.025, 0.1, 0.05])[:, None]
    T = np.arange(1, L + 1)[None, :] * dt
    T[3] += rng.uniform(-0.01, 0.01, L)  # the last row is jittered: general scan
    r = rng.uniform(0.1, 9.0, m)
    Z = 500.0 + rng.normal(0, 1, (m, L)) * np.sqrt(r)[:, None]
    n = np.array([L, 30, 7, L])
    q = 0.01 * r
    res = stable_pass(T, Z, np.broadcast_to(dt, (m, L)), n, _state(m, 500.0, 0.5, 0.0, r, q),
                      gate=1e9, k=1.0, h=1e9, confirm=2)
    assert_matches_filterpy(res, T, Z, n, q, r)


def _general_only(dt, qdt, valid, st_, cache=None):
    r = st_.r[:, None]
    c = 1.0 / (qdt + r)
    return mobius_scan(r * c, qdt * r * c, c, st_.P)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detector_with_closed_form_equals_general_scan(seed, monkeypatch):
    """Takes, spikes, gaps and resets on evenly sampled plates: same events and levels."""
    rng = np.random.default_rng(seed)
    scripts = [PlateScript(level_g=1500.0 + 300 * i, noise_g=float(rng.uniform(0.3, 3.0)),
                           rate_hz=float(rng.choice([10, 20, 40, 80])), phase_s=0.003 * i,
                           spikes=[(float(rng.uniform(1, 9)), 80.0)],
                           gaps=[(float(g), float(g) + 0.3) for g in rng.uniform(1, 9, 1)],
                           **take(float(rng.uniform(2, 8)), -352.0))
               for i in range(4)]
    s = make_samples(scripts, 10.0, seed=seed)
    store = make_store(4)
    outs = []
    for general in (False, True):
        if general:
            monkeypatch.setattr(stable, "_posterior_var", _general_only)
        det = WeightDetector(store)
        levels = []
        ev = []
        edges = np.searchsorted(s["t"], np.arange(0.25, 10.0, 0.25))
        for part in np.split(s, edges):
            ev += det.process(part)
            levels.append(det.levels_g())
        ev += det.flush()
        outs.append((ev, np.array(levels)))
    (ev_a, lv_a), (ev_b, lv_b) = outs
    assert len(ev_a) == len(ev_b) and len(ev_a) >= 1
    for a, b in zip(ev_a, ev_b, strict=True):
        assert a.cells == b.cells and a.t_start == pytest.approx(b.t_start, abs=1e-12)
        assert a.t_final == pytest.approx(b.t_final, abs=1e-12)
        np.testing.assert_allclose(a.delta_g, b.delta_g, atol=1e-9, rtol=0)
    np.testing.assert_allclose(lv_a, lv_b, atol=1e-9, rtol=0)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 200), st.integers(0, 2 ** 32 - 1))
def test_ema_final_matches_loop(m, L, seed):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.0, 0.3, (m, L)) * (rng.random((m, L)) < 0.9)
    y, x = rng.normal(2.0, 3.0, (m, L)), rng.normal(0.0, 5.0, m)
    want = x.copy()
    for k in range(L):
        want = (1.0 - w[:, k]) * want + w[:, k] * y[:, k]
    np.testing.assert_allclose(ema_final(w, y, x), want, rtol=1e-10, atol=1e-10)
