"""The online detector-confidence model (fusion.tracking.scores) and its use by the tracker."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fusion.tracking import ShopperTracker, TrackerConfig
from fusion.tracking.scores import DetectorScores
from fusion.types import PersonDetection, VisionFrame
from tests.fusion.test_tracking_scenes import make_store


def test_no_penalty_until_both_classes_have_enough_labels():
    s = DetectorScores(min_n=50)
    s.add(np.full(1000, 0.95), real=True)
    s.add(np.full(49, 0.4), real=False)
    assert np.all(s.llr([0.4, 0.95]) == 0.0)
    s.add(0.4, real=False)
    assert s.llr(0.4)[0] < -5.0 and s.llr(0.95)[0] == 0.0


def test_a_detector_whose_scores_do_not_separate_the_classes_gives_no_penalty():
    rng = np.random.default_rng(0)
    s = DetectorScores()
    s.add(np.ones(3000), real=True)  # a pipeline that reports 1.0 for everything
    s.add(np.ones(400), real=False)
    assert s.llr([1.0])[0] == 0.0
    s2 = DetectorScores()
    s2.add(rng.uniform(0.5, 0.9, 3000), real=True)  # same distribution for both
    s2.add(rng.uniform(0.5, 0.9, 3000), real=False)
    assert np.all(s2.llr(np.linspace(0.5, 0.89, 20)) > -1.0)


def test_penalty_follows_the_learned_scale_not_a_fixed_threshold():
    # detector A: real 0.9-1.0, clutter 0.3-0.6; detector B: real 0.4-0.6, clutter 0.1-0.3
    rng = np.random.default_rng(1)
    a, b = DetectorScores(), DetectorScores()
    a.add(rng.uniform(0.9, 1.0, 2000), True)
    a.add(rng.uniform(0.3, 0.6, 300), False)
    b.add(rng.uniform(0.4, 0.6, 2000), True)
    b.add(rng.uniform(0.1, 0.3, 300), False)
    assert a.llr(0.5)[0] < -5.0 and a.llr(0.95)[0] == 0.0
    assert b.llr(0.5)[0] == 0.0 and b.llr(0.2)[0] < -5.0


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30),
       st.lists(st.floats(0, 1), max_size=200), st.lists(st.floats(0, 1), max_size=200),
       st.floats(-30.0, 0.0))
def test_llr_is_finite_and_within_floor_and_zero(conf, real, clutter, floor):
    s = DetectorScores(min_n=0, floor=floor)
    s.add(real, True)
    s.add(clutter, False)
    out = s.llr(conf)
    assert out.shape == (len(conf),)
    assert np.all(np.isfinite(out)) and np.all(out <= 0.0) and np.all(out >= floor)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        DetectorScores(floor=1.0)
    with pytest.raises(ValueError):
        DetectorScores(bins=0)
    with pytest.raises(ValueError):
        TrackerConfig(score_floor=0.5)


def _scene(rng: np.random.Generator, seconds: float, missed: tuple[float, float],
           beside: tuple[float, float], beside_xy: tuple[float, float]) -> list[VisionFrame]:
    """One person standing at (3, 3) seen at 10 Hz with score 0.9-1.0 (missed
    during ``missed`` (s)), false boxes (score 0.3-0.5) anywhere in half the
    frames, and during ``beside`` (s) a score-0.4 box at ``beside_xy`` (m)."""
    frames = []
    for k in range(int(seconds * 10)):
        t = k / 10.0
        people = []
        if not missed[0] <= t <= missed[1]:
            people.append(PersonDetection(xy=np.array([3.0, 3.0]) + rng.normal(0, 0.05, 2),
                                          conf=float(rng.uniform(0.9, 1.0))))
        if beside[0] <= t <= beside[1]:
            people.append(PersonDetection(xy=np.array(beside_xy) + rng.normal(0, 0.03, 2),
                                          conf=0.4))
        elif rng.random() < 0.5:
            people.append(PersonDetection(xy=rng.uniform(0.5, 5.5, 2), conf=float(rng.uniform(0.3, 0.5))))
        frames.append(VisionFrame(t=t, camera="C1", people=tuple(people)))
    return frames


@pytest.mark.parametrize("floor", [TrackerConfig().score_floor, 0.0])
def test_learned_scores_keep_low_score_false_boxes_off_a_missed_person(floor):
    trk = ShopperTracker(make_store(), TrackerConfig(score_floor=floor))
    # missed 60.0-60.3 s; two false boxes 0.5 m beside them meanwhile
    for f in _scene(np.random.default_rng(3), 62.0, (60.0, 60.3), (60.1, 60.2), (3.5, 3.0)):
        trk.update(f)
    (w,) = [w for w in trk.window(59.0, 60.5) if len(w.t) > 5]
    pulled = np.hypot(w.xy[:, 0] - 3.0, w.xy[:, 1] - 3.0).max()
    if floor < 0:  # learned: false boxes score 0.3-0.5 here, so these two cannot update the track
        assert pulled < 0.12
    else:  # without the model they do (the test's control)
        assert pulled > 0.15


@pytest.mark.parametrize("absorb_m", [TrackerConfig().absorb_m, 0.0])
def test_a_low_score_second_detection_beside_a_matched_person_starts_no_track(absorb_m):
    trk = ShopperTracker(make_store(), TrackerConfig(absorb_m=absorb_m))
    # never missed; 60-63 s the detector also reports them 0.45 m to the side
    for f in _scene(np.random.default_rng(5), 65.0, (-1.0, -1.0), (60.0, 63.0), (3.45, 3.0)):
        trk.update(f)
    beside = [w for w in trk.window(60.0, 63.5)
              if len(w.t) and np.hypot(w.xy[:, 0] - 3.45, w.xy[:, 1] - 3.0).min() < 0.15]
    if absorb_m > 0:
        assert beside == []
    else:  # control: the duplicates confirm a second track next to the person
        assert beside
