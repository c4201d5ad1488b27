"""Per-camera bias and noise learned by the tracker (fusion.tracking.cameras)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter

from fusion.recording import Recording
from fusion.sim import simulate
from fusion.sim.presets import EASY
from fusion.sim.simulate import prepare
from fusion.sim.vision import VisionBlocks
from fusion.tracking import CoreConfig, ShopperTracker, TrackCore, TrackerConfig
from fusion.tracking.cameras import CameraCalibration
from fusion.tracking.kalman_core import motion_matrices


def _feed(cal: CameraCalibration, biases: dict[str, tuple[float, float]],
          sds: dict[str, float], n: int, seed: int = 0, pred_var: float = 0.002) -> None:
    """Innovations of a track fused from all cameras: each camera's bias minus
    their mean, its noise, and the track's own prediction error."""
    rng = np.random.default_rng(seed)
    mean = np.mean(list(biases.values()), axis=0)
    for _ in range(n):
        for cam, b in biases.items():
            z, _ = cal.correct(cam, np.asarray(b, float) - mean
                               + rng.normal(0, sds[cam], 2) + rng.normal(0, np.sqrt(pred_var), 2))
            cal.observe(cam, z[None, :], np.array([pred_var]))


def test_nothing_is_corrected_before_enough_samples():
    cal = CameraCalibration(0.12**2, min_samples=50)
    _feed(cal, {"C1": (0.2, 0.0), "C2": (-0.2, 0.0)}, {"C1": 0.05, "C2": 0.05}, 49)
    z = np.array([[1.0, 2.0]])
    out, var = cal.correct("C1", z)
    assert np.array_equal(out, z) and var == pytest.approx(0.12**2)
    assert not any(e.applied for e in cal.estimates())


def test_biases_are_learned_relative_to_the_cameras_mean():
    biases = {"C1": (0.15, -0.05), "C2": (-0.05, 0.10), "C3": (0.0, 0.0)}
    cal = CameraCalibration(0.12**2, min_samples=100)
    _feed(cal, biases, {c: 0.08 for c in biases}, 3000)
    mean = np.mean(list(biases.values()), axis=0)
    for e in cal.estimates():
        assert e.applied
        assert np.allclose(e.bias_xy, np.asarray(biases[e.camera]) - mean, atol=0.01), e
    # a detection exactly at the camera's bias lands on the cameras' average frame
    out, _ = cal.correct("C1", np.array([[1.0 + 0.15 - mean[0], 2.0 - 0.05 - mean[1]]]))
    assert np.allclose(out, [[1.0, 2.0]], atol=0.01)


def test_a_noisier_camera_is_weighted_less_and_the_mean_variance_is_kept():
    sds = {"C1": 0.05, "C2": 0.15}
    cal = CameraCalibration(0.12**2, min_samples=100)
    _feed(cal, {"C1": (0.0, 0.0), "C2": (0.0, 0.0)}, sds, 4000, seed=3)
    est = {e.camera: e for e in cal.estimates()}
    assert est["C1"].noise_sd_m == pytest.approx(0.05, rel=0.15)
    assert est["C2"].noise_sd_m == pytest.approx(0.15, rel=0.15)
    v1 = cal.correct("C1", np.zeros((1, 2)))[1]
    v2 = cal.correct("C2", np.zeros((1, 2)))[1]
    assert v2 / v1 == pytest.approx((0.15 / 0.05) ** 2, rel=0.35)
    assert (v1 + v2) / 2 == pytest.approx(0.12**2, rel=0.05)  # equal sample counts


def test_variance_ratio_is_clamped():
    cal = CameraCalibration(0.01, min_samples=10, var_ratio=(0.5, 2.0))
    _feed(cal, {"C1": (0.0, 0.0), "C2": (0.0, 0.0)}, {"C1": 0.01, "C2": 0.5}, 500)
    assert cal.correct("C1", np.zeros((1, 2)))[1] == pytest.approx(0.005)
    assert cal.correct("C2", np.zeros((1, 2)))[1] <= 0.02 + 1e-12


@pytest.mark.parametrize("kw", [dict(meas_var=0.0), dict(min_samples=0), dict(halflife=0.0),
                                dict(var_ratio=(1.5, 2.0)), dict(max_bias_m=-1.0)])
def test_calibration_arguments_are_checked(kw):
    args = dict(meas_var=0.01) | kw
    with pytest.raises(ValueError, match="CameraCalibration"):
        CameraCalibration(**args)


def test_tracker_config_checks_the_switch():
    with pytest.raises(ValueError, match="camera_calibration"):
        TrackerConfig(camera_calibration=1)  # type: ignore[arg-type]


def test_core_update_uses_the_frames_noise_like_filterpy():
    """``meas_var`` replaces R for that update only; the innovation is recorded."""
    core = TrackCore(CoreConfig(dim=2, meas_sd=0.1, confirm_hits=1, velocity_tau_s=None))
    tr = core.birth(0.0, np.array([1.0, 2.0]))
    ref = KalmanFilter(dim_x=4, dim_z=2)
    ref.x, ref.P, ref.H = tr.kf.x.copy(), tr.kf.P.copy(), tr.kf.H.copy()
    z = np.array([1.1, 1.95])
    core.update(tr, 0.1, z, meas_var=0.3**2)
    f, q = motion_matrices(2, 0.1, core.config.accel_sd**2)
    ref.predict(F=f, Q=q)
    y = z - ref.x[:2]
    pv = np.trace(ref.P[:2, :2]) / 2
    ref.update(z, R=np.eye(2) * 0.3**2)
    assert np.allclose(tr.kf.x, ref.x) and np.allclose(tr.kf.P, ref.P)
    assert np.allclose(tr.innovation[0], y) and tr.innovation[1] == pytest.approx(pv)
    assert np.allclose(tr.kf.R, np.eye(2) * 0.1**2)  # the track's own R is unchanged


def test_cost_matrix_with_a_noisier_frame_is_wider():
    core = TrackCore(CoreConfig(dim=2, meas_sd=0.1, confirm_hits=1))
    core.birth(0.0, np.array([0.0, 0.0]))
    z = np.array([[0.3, 0.0]])
    tight = core.cost_matrix(core.active, 0.0, z)[0, 0]
    wide = core.cost_matrix(core.active, 0.0, z, meas_var=0.3**2)[0, 0]
    assert wide < tight


def test_tracker_learns_simulated_camera_biases(tmp_path):
    """A store whose cameras are off by ~15 cm each: the tracker's estimates
    of the differences between cameras are within 5 cm of the simulator's
    (clock offsets and cameras seen mostly at their edges leave a few cm)."""
    scn = dataclasses.replace(EASY, duration_s=300.0,
                              vision=dataclasses.replace(EASY.vision, bias_m=0.15))
    simulate(scn, 4, tmp_path)
    rec = Recording(tmp_path)
    trk = ShopperTracker(rec.store)
    taps, k = rec.read_taps(), 0
    for fr in rec.iter_vision():
        while k < len(taps) and taps[k].t <= fr.t:
            trk.tap(taps[k])
            k += 1
        trk.update(fr)
    _, layout, plan = prepare(scn, 4)
    cams = VisionBlocks(scn.vision, layout, plan.people, 4).cameras
    est = {e.camera: e for e in trk.camera_estimates()}
    assert set(est) == {c.id for c in cams} and all(e.applied for e in est.values())
    # centred on the detection-weighted mean; compare differences between cameras
    true = {c.id: c.bias_xy for c in cams}
    ids = sorted(true)
    for a, b in zip(ids, ids[1:], strict=False):
        want = true[a] - true[b]
        got = est[a].bias_xy - est[b].bias_xy
        assert np.allclose(got, want, atol=0.05), (a, b, got, want)
    assert max(np.linalg.norm(true[a] - true[b]) for a in ids for b in ids) > 0.1  # a real test
    off = ShopperTracker(rec.store, TrackerConfig(camera_calibration=False))
    assert off.camera_estimates() == []


def test_noise_weighting_can_be_turned_off():
    """``var_ratio=(1, 1)`` (``TrackerConfig.calib_weight_noise=False``): biases
    are still corrected, every camera keeps the common variance."""
    cal = CameraCalibration(0.12**2, min_samples=100, var_ratio=(1.0, 1.0))
    _feed(cal, {"C1": (0.1, 0.0), "C2": (-0.1, 0.0)}, {"C1": 0.05, "C2": 0.15}, 1000, seed=5)
    for cam in ("C1", "C2"):
        assert cal.correct(cam, np.zeros((1, 2)))[1] == pytest.approx(0.12**2)
    est = {e.camera: e for e in cal.estimates()}
    assert est["C1"].bias_xy[0] - est["C2"].bias_xy[0] == pytest.approx(0.2, abs=0.02)
    TrackerConfig(calib_weight_noise=False)  # accepted
    with pytest.raises(ValueError, match="calib_weight_noise"):
        TrackerConfig(calib_weight_noise="no")  # type: ignore[arg-type]


def test_noise_var_is_the_detection_weighted_mean_and_one_camera_is_enough():
    cal = CameraCalibration(0.12**2, min_samples=100)
    assert cal.noise_var() is None
    _feed(cal, {"C1": (0.0, 0.0)}, {"C1": 0.2}, 2000, seed=6)
    assert np.sqrt(cal.noise_var()) == pytest.approx(0.2, rel=0.15)
    assert cal.correct("C1", np.zeros((1, 2)))[1] == pytest.approx(0.12**2)  # one camera: no bias applied
    two = CameraCalibration(0.12**2, min_samples=100)
    _feed(two, {"C1": (0.0, 0.0), "C2": (0.0, 0.0)}, {"C1": 0.1, "C2": 0.2}, 2000, seed=7)
    assert np.sqrt(two.noise_var()) == pytest.approx(np.sqrt((0.1**2 + 0.2**2) / 2), rel=0.15)
    two.set_meas_var(0.2**2)
    r1, r2 = (two.correct(c, np.zeros((1, 2)))[1] for c in ("C1", "C2"))
    assert (r1 + r2) / 2 == pytest.approx(0.2**2, rel=0.1) and r1 < r2  # relative weights kept
    with pytest.raises(ValueError, match="set_meas_var"):
        two.set_meas_var(0.0)


@pytest.mark.parametrize("noise_m, learn, lo, hi", [(0.25, True, 0.2, 0.3), (0.25, False, 0.12, 0.12),
                                                    (0.05, True, 0.12, 0.12)])
def test_tracker_raises_its_measurement_noise_to_the_cameras(noise_m, learn, lo, hi):
    """Detections scattered 0.25 m: the tracker fuses them with the noise it
    learned (rounded up to the cm), not the configured 0.12 m; cleaner
    cameras never lower it."""
    from tests.fusion.test_tracking_scenes import Scene, make_store, run, walker
    people = [walker(f"p{i}", (2.0 * i, 0.5 + i, 1.0), (2.0 * i + 8.0, 4.5, 5.0 - i), (2.0 * i + 16.0, 0.5, 2.0))
              for i in range(3)]
    trk = ShopperTracker(make_store(), TrackerConfig(learn_noise=learn))
    run(trk, Scene(people, noise_m=noise_m, seed=2))
    assert lo <= trk.meas_sd_m <= hi
    assert trk._core.config.meas_sd == trk.meas_sd_m
    if learn and noise_m > 0.12:
        assert trk._cameras.meas_var == pytest.approx(trk.meas_sd_m ** 2)
    with pytest.raises(ValueError, match="learn_noise"):
        TrackerConfig(learn_noise=1)  # type: ignore[arg-type]


def test_core_reconfigure_keeps_tracks_and_checks_the_dimension():
    core = TrackCore(CoreConfig(dim=2, meas_sd=0.12))
    tr = core.birth(0.0, np.array([1.0, 2.0]))
    core.reconfigure(CoreConfig(dim=2, meas_sd=0.25))
    assert core.active == [tr] and core._r[0, 0] == pytest.approx(0.25**2)
    with pytest.raises(ValueError, match="dim"):
        core.reconfigure(CoreConfig(dim=4))
