"""Physics checks of the single-plate load-cell model (fusion.sim.loadcell)."""

import numpy as np
import pytest

from fusion.sim.loadcell import (
    LoadCellModel,
    LoadTimeline,
    drift_g,
    sample_signal,
    sample_times,
    true_load_g,
)

QUIET = dict(drift_g=0.0, spike_p=0.0, error_p=0.0, dropout_rate_hz=0.0, resolution_g=0.0)


def _noise_sd(hz: float) -> float:
    model = LoadCellModel(sample_hz=hz, **QUIET)
    rng = np.random.default_rng(3)
    t = sample_times(model, 0.0, 200.0, rng)
    g = sample_signal(model, LoadTimeline.build(1000.0), t, rng)
    return float(np.std(g - 1000.0))


def test_noise_grows_with_sample_rate_like_hx711():
    sd10, sd80 = _noise_sd(10.0), _noise_sd(80.0)
    assert sd10 == pytest.approx(0.5, rel=0.1)
    assert sd80 / sd10 == pytest.approx(90.0 / 50.0, rel=0.08)


def test_creep_tail_follows_the_sign_of_the_change():
    model = LoadCellModel(creep_fraction=5e-4, creep_tau_s=60.0)
    for delta in (-2000.0, 2000.0):
        tl = LoadTimeline.build(3000.0, steps=[(10.0, 0.4, delta)])
        just_after, later = true_load_g(model, tl, np.array([12.0, 400.0]))
        tail = later - just_after
        assert np.sign(tail) == np.sign(delta)
        assert abs(tail) == pytest.approx(5e-4 * abs(delta), rel=0.1)


def test_press_returns_to_level_and_rings_after_release():
    model = LoadCellModel(ring_fraction=0.1, ring_hz=10.0, ring_tau_s=0.1)
    tl = LoadTimeline.build(2000.0, presses=[(5.0, 8.0, 400.0)])
    t = np.arange(0.0, 15.0, 0.005)
    load = true_load_g(model, tl, t)
    assert load[(t > 5.5) & (t < 7.5)].min() > 2000.0 + 300.0
    assert np.allclose(load[t > 10.0], 2000.0, atol=1e-6)
    assert np.allclose(load[t < 5.0], 2000.0)
    ring = load[(t > 8.0) & (t < 8.3)] - 2000.0
    assert ring.min() < -5.0 and ring.max() > 5.0  # oscillates around the level
    assert ring[np.argmax(np.abs(ring) > 1.0)] < 0  # the unloaded plate first springs up


def test_ringing_overshoots_in_the_direction_of_the_change():
    model = LoadCellModel(ring_fraction=0.1, ring_hz=10.0, ring_tau_s=0.1, creep_fraction=0.0)
    for delta in (-500.0, 500.0):
        tl = LoadTimeline.build(2000.0, steps=[(1.0, 0.3, delta)])
        t = np.arange(1.3, 1.6, 0.002)
        dev = true_load_g(model, tl, t) - (2000.0 + delta)
        first = dev[np.argmax(np.abs(dev) > 1.0)]
        assert np.sign(first) == np.sign(delta)


def test_step_ramp_is_smooth_and_settles_to_the_change():
    model = LoadCellModel(creep_fraction=0.0, ring_fraction=0.0)
    tl = LoadTimeline.build(1000.0, steps=[(1.0, 0.5, -350.0)])
    t = np.linspace(0, 3, 3001)
    load = true_load_g(model, tl, t)
    assert load[0] == pytest.approx(1000.0) and load[-1] == pytest.approx(650.0)
    assert np.all(np.diff(load) <= 1e-9)  # monotone ramp
    assert load[np.searchsorted(t, 1.25)] == pytest.approx(825.0, abs=1.0)
    assert tl.net_g(0.5) == 1000.0 and tl.net_g(2.0) == 650.0


def test_sample_times_are_ordered_jittered_and_have_gaps():
    model = LoadCellModel(sample_hz=80.0, jitter_s=0.001, dropout_rate_hz=0.2,
                          dropout_mean_s=0.5, phase_s=0.004)
    t = sample_times(model, 0.0, 100.0, np.random.default_rng(1))
    assert np.all(np.diff(t) > 0)
    assert 0.5 * 8000 < t.size < 8000
    assert np.diff(t).max() > 0.2  # a dropout
    assert np.std(np.diff(t)[np.diff(t) < 0.02]) > 1e-4  # jitter


def test_overload_and_errors_are_nan():
    model = LoadCellModel(capacity_g=2500.0, error_p=0.01)
    tl = LoadTimeline.build(2000.0, presses=[(1.0, 3.0, 900.0)])
    rng = np.random.default_rng(0)
    t = sample_times(model, 0.0, 60.0, rng)
    g = sample_signal(model, tl, t, rng)
    assert np.isnan(g[(t > 1.5) & (t < 2.5)]).all()
    quiet = (t > 5.0)
    assert 0 < np.isnan(g[quiet]).sum() < 0.05 * quiet.sum()


def test_drift_is_slow_and_bounded():
    model = LoadCellModel(drift_g=0.5, drift_period_s=1200.0, drift_phase=1.0)
    t = np.linspace(0, 3600, 10001)
    d = drift_g(model, t)
    assert np.abs(d).max() <= 0.5 * 1.25 + 1e-9
    assert np.abs(np.diff(d)).max() < 0.01


def test_bad_parameters_are_value_errors():
    with pytest.raises(ValueError):
        LoadCellModel(sample_hz=0.0)
    with pytest.raises(ValueError):
        LoadTimeline.build(0.0, steps=[(1.0, 0.0, 5.0)])
    with pytest.raises(ValueError):
        LoadTimeline.build(0.0, presses=[(2.0, 1.0, 5.0)])
