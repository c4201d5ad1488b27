"""Tests of the generic Kalman/assignment core and the geometry/history helpers."""

from __future__ import annotations

import numpy as np
import pytest
from filterpy.common import Q_discrete_white_noise
from hypothesis import given
from hypothesis import strategies as st

from fusion.tracking import CoreConfig, TrackCore
from fusion.tracking.geometry import distance_to_polygon, inside_polygon
from fusion.tracking.history import TrackHistory
from fusion.tracking.kalman_core import _NIS_ALPHA, damped_terms, process_noise, transition
from fusion.types import Hand


@pytest.mark.parametrize("tau", [None, 2.0])
def test_batch_prediction_matches_filterpy_predict(tau):
    """The vectorised prediction equals filterpy's predict with the same F and Q,
    for constant velocity and for the damped model."""
    core = TrackCore(CoreConfig(dim=2, accel_sd=1.5, velocity_tau_s=tau, speed_sd=0.7))
    tr = core.birth(0.0, np.array([1.0, 2.0]))
    for k, z in enumerate([[1.1, 2.0], [1.2, 2.1], [1.3, 2.1]], start=1):
        core.update(tr, 0.1 * k, np.array(z))
    xp, pp = core.predicted([tr], 1.4)
    kf = tr.kf
    dt = 1.4 - tr.t_last
    kf.predict(F=transition(2, dt, tau), Q=process_noise(2, dt, 1.5**2, tau, 0.7**2))
    np.testing.assert_allclose(xp[0], kf.x, atol=1e-12)
    np.testing.assert_allclose(pp[0], kf.P, atol=1e-12)


def test_damped_velocity_decays_while_coasting():
    core = TrackCore(CoreConfig(dim=2, velocity_tau_s=1.0, speed_sd=0.8))
    tr = core.birth(0.0, np.array([0.0, 0.0]))
    tr.kf.x[2:] = [1.0, 0.0]
    xp, _ = core.predicted([tr], 1.0)
    assert xp[0, 2] == pytest.approx(np.exp(-1.0))      # v e^(-dt/tau)
    assert xp[0, 0] == pytest.approx(1.0 - np.exp(-1.0))  # tau v (1 - e^(-dt/tau))
    far, _ = core.predicted([tr], 30.0)
    assert far[0, 0] == pytest.approx(1.0, abs=1e-9)     # runs on at most tau v
    cv = TrackCore(CoreConfig(dim=2))
    tc = cv.birth(0.0, np.array([0.0, 0.0]))
    tc.kf.x[2:] = [1.0, 0.0]
    assert cv.predicted([tc], 3.0)[0][0, 0] == pytest.approx(3.0)  # constant velocity runs on


def test_damped_noise_is_white_acceleration_for_short_steps():
    tau, s = 3.0, 0.8**2
    dt = np.array([1e-4, 1e-2])
    fp, fv, (qpp, qpv, qvv) = damped_terms(dt, tau, s)
    q = 2 * s / tau  # spectral density of the equivalent white-noise acceleration
    np.testing.assert_allclose(fp, dt, rtol=1e-2)
    np.testing.assert_allclose(fv, 1.0, atol=1e-2)
    np.testing.assert_allclose(qvv, q * dt, rtol=1e-2)
    np.testing.assert_allclose(qpv, q * dt**2 / 2, rtol=1e-2)
    np.testing.assert_allclose(qpp, q * dt**3 / 3, rtol=1e-2)
    long = damped_terms(np.array([1e4]), tau, s)[2]
    assert long[2][0] == pytest.approx(s)  # the velocity forgets: stationary variance


@given(st.floats(1e-6, 100.0), st.floats(0.05, 20.0), st.floats(1e-3, 4.0))
def test_damped_noise_is_a_covariance(dt, tau, s):
    fp, fv, (qpp, qpv, qvv) = damped_terms(np.array([dt]), tau, s)
    assert qpp[0] >= 0 and qvv[0] >= 0
    assert qpv[0] ** 2 <= qpp[0] * qvv[0] * (1 + 1e-6) + 1e-30
    # one track's update takes the float branch: the same numbers
    one = damped_terms(dt, tau, s)
    np.testing.assert_allclose([one[0], one[1], *one[2]], [fp[0], fv[0], qpp[0], qpv[0], qvv[0]],
                               rtol=1e-12, atol=1e-300)


def test_process_noise_uses_position_then_velocity_layout():
    q = process_noise(2, 0.5, 2.0)
    ref = Q_discrete_white_noise(dim=2, dt=0.5, var=2.0)
    assert q[0, 0] == pytest.approx(ref[0, 0]) and q[1, 1] == pytest.approx(ref[0, 0])
    assert q[0, 2] == pytest.approx(ref[0, 1]) and q[2, 2] == pytest.approx(ref[1, 1])
    assert q[0, 1] == 0.0


def _walk(core, starts, vel, n, dt=0.05, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    ids = []
    for k in range(n):
        t = k * dt
        z = starts + vel * t + rng.normal(0, noise, starts.shape)
        matches, _dups, unmatched = core.assign(t, z)
        for j in unmatched:
            core.birth(t, z[j])
        ids.append({j: tr.id for j, tr in matches})
    return ids


def test_two_targets_keep_their_tracks_and_get_confirmed():
    core = TrackCore(CoreConfig(dim=2, confirm_hits=3))
    starts = np.array([[0.0, 0.0], [3.0, 0.0]])
    vel = np.array([[1.0, 0.5], [-1.0, 0.5]])
    ids = _walk(core, starts, vel, 40, noise=0.03)
    assert ids[-1][0] != ids[-1][1]
    assert all(d == ids[-1] for d in ids[5:])
    assert all(tr.confirmed for tr in core.active) and len(core.active) == 2


def test_core_is_generic_over_measurement_dimension():
    # image boxes (cx, cy, w, h) in pixels
    core = TrackCore(CoreConfig(dim=4, meas_sd=3.0, accel_sd=50.0, init_speed_sd=100.0, max_gate=80.0,
                                max_coast_speed=500.0, confirm_hits=2))
    starts = np.array([[100.0, 100.0, 40.0, 80.0], [400.0, 120.0, 50.0, 90.0]])
    vel = np.array([[60.0, 0.0, 0.0, 0.0], [-60.0, 10.0, 0.0, 0.0]])
    ids = _walk(core, starts, vel, 30, dt=0.066, noise=2.0)
    assert ids[-1] == ids[3] and len(set(ids[-1].values())) == 2
    assert core.active[0].position.shape == (4,)


def test_gating_rejects_far_measurements():
    core = TrackCore(CoreConfig(dim=2, max_gate=1.0))
    core.birth(0.0, np.array([0.0, 0.0]))
    matches, _d, unmatched = core.assign(0.05, np.array([[5.0, 5.0]]))
    assert matches == [] and unmatched.tolist() == [0]


def test_duplicates_are_split_off_confirmed_tracks():
    core = TrackCore(CoreConfig(dim=2, confirm_hits=1))
    tr = core.birth(0.0, np.array([1.0, 1.0]))
    matches, dups, unmatched = core.assign(0.05, np.array([[1.0, 1.02], [1.1, 1.0], [3.0, 3.0]]),
                                           duplicate_radius=0.3)
    assert [m[1] for m in matches] == [tr] and [d[1] for d in dups] == [tr]
    assert unmatched.tolist() == [2]


def test_expiry_is_in_seconds_and_coasting_grows_uncertainty():
    core = TrackCore(CoreConfig(dim=2, confirm_hits=2, coast_s=1.0, tentative_timeout_s=0.3))
    a = core.birth(0.0, np.array([0.0, 0.0]))
    core.update(a, 0.1, np.array([0.05, 0.0]))
    b = core.birth(0.0, np.array([3.0, 3.0]))  # stays tentative
    _, p1 = core.predicted([a], 0.2)
    _, p2 = core.predicted([a], 0.9)
    assert p2[0, 0, 0] > p1[0, 0, 0]
    assert core.expire(0.35) == ([], [b])
    assert core.expire(1.05) == ([], [])
    assert core.expire(1.2) == ([a], [])
    assert core.active == []


@pytest.mark.parametrize("bad", [{"meas_sd": 0}, {"dim": 0}, {"coast_s": -1}])
def test_core_config_validates(bad):
    with pytest.raises(ValueError):
        CoreConfig(**bad)


SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


@given(st.floats(-3, 3), st.floats(-3, 3))
def test_polygon_distance_is_zero_inside_and_euclidean_outside(x, y):
    p = np.array([x, y])
    inside = 0 < x < 1 and 0 < y < 1
    d = distance_to_polygon(SQUARE, p)
    if inside:
        assert inside_polygon(SQUARE, p) and d == 0.0
    elif not (0 <= x <= 1 and 0 <= y <= 1):
        dx = max(0.0, -x, x - 1)
        dy = max(0.0, -y, y - 1)
        assert d == pytest.approx(np.hypot(dx, dy), abs=1e-9)


def test_history_trim_slice_and_merge():
    h = TrackHistory()
    for k in range(100):
        h.add_position(k * 0.1, np.array([k, -k]))
        h.add_hands(k * 0.1, (Hand(p=np.array([k, 0.0, 1.0]), holding={"x": 0.5}),))
    h.trim(5.0)
    assert len(h) == 50 and h.t[0] == pytest.approx(5.0)
    t, xy, ht, hp, hold = h.slice(6.0, 6.45)
    np.testing.assert_allclose(t, [6.0, 6.1, 6.2, 6.3, 6.4])
    assert xy.shape == (5, 2) and hp.shape == (5, 3) and len(hold) == 5
    later = TrackHistory()
    later.add_position(12.0, np.array([0.0, 0.0]))
    later.add_position(9.95, np.array([1.0, 1.0]))  # out of order: merge sorts
    h.extend(later)
    assert h.t == sorted(h.t) and h.last_t() == 12.0


def test_confirmation_needs_a_hit_ratio_not_just_hits():
    # target A is detected every frame; B (0.2 m away) only in 1 frame out of 4
    core = TrackCore(CoreConfig(dim=2, confirm_hits=3, confirm_ratio=0.5))
    for k in range(40):
        t = k * 0.05
        z = [[1.0, 1.0]] + ([[1.2, 1.0]] if k % 4 == 0 else [])
        matches, _d, unmatched = core.assign(t, np.array(z))
        for j in unmatched:
            core.birth(t, np.array(z[j]))
        core.expire(t)
    confirmed = [tr for tr in core.active if tr.confirmed]
    assert len(confirmed) == 1 and confirmed[0].position[0] == pytest.approx(1.0, abs=0.05)


def test_coasting_track_needs_two_consistent_hits_to_reacquire():
    core = TrackCore(CoreConfig(dim=2, confirm_hits=1, reacquire_gap_s=0.3))
    tr = core.birth(0.0, np.array([0.0, 0.0]))
    matches, _d, _u = core.assign(0.5, np.array([[0.4, 0.0]]))
    assert matches == [] and tr.t_last == 0.0 and tr.held is not None
    matches, _d, _u = core.assign(0.55, np.array([[0.45, 0.0]]))
    assert [m[1] for m in matches] == [tr] and tr.t_last == 0.55 and tr.hits == 3


@pytest.mark.parametrize(("noise", "lo", "hi"), [(0.12, 1.2, 2.8), (0.3, 5.0, 20.0)])
def test_nis_mean_tracks_how_well_the_noise_model_fits(noise, lo, hi):
    # meas_sd 0.12 m: detections with that noise give a mean normalised
    # innovation squared near d = 2; 0.3 m noise gives far more
    core = TrackCore(CoreConfig(dim=2, meas_sd=0.12, accel_sd=2.0, confirm_hits=3, max_gate=3.0,
                                gate_chi2=1e6))
    assert core.nis_mean == 2.0
    _walk(core, np.array([[0.0, 0.0], [4.0, 0.0]]), np.array([[0.8, 0.3], [-0.2, 0.9]]), 400,
          noise=noise, seed=3)
    assert len(core.active) == 2
    assert lo < core.nis_mean < hi


def _settled(config: CoreConfig, n: int = 20):
    """A confirmed track that stood still at the origin for ``n`` updates at 20 Hz."""
    core = TrackCore(config)
    tr = core.birth(0.0, np.zeros(2))
    for k in range(1, n):
        core.update(tr, 0.05 * k, np.zeros(2))
    assert tr.confirmed
    return core, tr


def test_unmatched_cost_leaves_a_far_measurement_unmatched():
    base = CoreConfig(dim=2, confirm_hits=1, max_gate=2.0, gate_chi2=1e6)
    core, tr = _settled(base)
    z = np.array([[0.8, 0.0]])
    cost = float(core.cost_matrix([tr], 1.0, z)[0, 0])
    matches, _dups, unmatched = core.assign(1.0, z)
    assert [m[1] for m in matches] == [tr] and len(unmatched) == 0  # forced: matched
    for u, matched in ((cost + 1.0, True), (cost - 1.0, False)):
        core, tr = _settled(CoreConfig(dim=2, confirm_hits=1, max_gate=2.0, gate_chi2=1e6,
                                       unmatched_cost=u))
        matches, _dups, unmatched = core.assign(1.0, z)
        assert (len(matches) == 1) is matched and (len(unmatched) == 0) is matched


def test_unmatched_cost_does_not_change_a_clear_matching():
    cfg = CoreConfig(dim=2, confirm_hits=3, unmatched_cost=9.0)
    starts = np.array([[0.0, 0.0], [3.0, 0.0]])
    vel = np.array([[1.0, 0.5], [-1.0, 0.5]])
    ids = _walk(TrackCore(cfg), starts, vel, 40, noise=0.03)
    assert ids[-1][0] != ids[-1][1] and all(d == ids[-1] for d in ids[5:])


def _reference_robust_update(ref, z: np.ndarray, k: float = 6.0) -> float:
    """Predict ``ref`` to t = 1 s and update it the robust way by hand with
    filterpy (R scaled by nis / k); returns the plain filter's NIS."""
    dt = 1.0 - ref.t_last
    ref.kf.predict(F=transition(2, dt), Q=process_noise(2, dt, 2.0**2))
    y = z - ref.kf.x[:2]
    nis = float(y @ np.linalg.solve(ref.kf.P[:2, :2] + ref.kf.R, y))
    assert nis > k
    ref.kf.update(z, R=ref.kf.R * nis / k)
    return nis


def test_robust_update_moves_a_track_only_part_way_to_an_outlier():
    plain_core, plain = _settled(CoreConfig(dim=2, confirm_hits=1))
    robust_core, robust = _settled(CoreConfig(dim=2, confirm_hits=1, robust_nis=6.0))
    np.testing.assert_allclose(plain.kf.x, robust.kf.x)  # no outlier yet: same filter
    outlier = np.array([0.5, 0.0])
    plain_core.update(plain, 1.0, outlier)
    robust_core.update(robust, 1.0, outlier)
    assert 0.0 < robust.kf.x[0] < 0.6 * plain.kf.x[0]
    # the innovation statistic is that of the plain filter, not of the inflated one
    assert robust_core.nis_mean == pytest.approx(plain_core.nis_mean)
    # and the down-weighting is exactly a filterpy update with R scaled by nis / robust_nis
    _, ref = _settled(CoreConfig(dim=2, confirm_hits=1))
    _reference_robust_update(ref, outlier)
    np.testing.assert_allclose(robust.kf.x, ref.kf.x, atol=1e-12)


def test_innovation_statistic_and_robust_update_use_the_tracks_own_noise():
    # a caller (e.g. examples/mot_tracker.py) may give a track its own R
    core, tr = _settled(CoreConfig(dim=2, confirm_hits=1, robust_nis=6.0))
    _, ref = _settled(CoreConfig(dim=2, confirm_hits=1))
    for t in (tr, ref):
        t.kf.R = np.diag([0.3**2, 0.05**2])
    z = np.array([0.2, 0.25])
    nis = _reference_robust_update(ref, z)
    before, n = core.nis_mean, core._nis_n + 1
    core.update(tr, 1.0, z)
    np.testing.assert_allclose(tr.kf.x, ref.kf.x, atol=1e-12)
    assert core.nis_mean == pytest.approx(before + max(1.0 / n, _NIS_ALPHA) * (nis - before))
