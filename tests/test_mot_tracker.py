"""examples/mot_tracker.py: the update() contract, and accuracy on TUD if motmetrics is installed."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mot_tracker.py"


def _load():
    if "mot_tracker" not in sys.modules:
        spec = importlib.util.spec_from_file_location("mot_tracker", EXAMPLE)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["mot_tracker"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["mot_tracker"]


mot = _load()


def _box(cx, cy, w=60.0, h=150.0, score=0.9):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score]


def _walk(n_frames, rng, drop=0.0, sd_px=3.0):
    """Per frame (N, 5) detections of two people walking towards each other and crossing."""
    out = []
    for k in range(1, n_frames + 1):
        rows = [_box(100 + 4 * k, 200), _box(400 - 4 * k, 215)]
        rows = [r for r in rows if rng.random() >= drop]
        d = np.array(rows, dtype=float).reshape(-1, 5)
        d[:, :4] += rng.normal(0.0, sd_px, (len(d), 4))
        out.append(d)
    return out


def test_empty_frames_return_an_empty_float_array():
    trk = mot.make_tracker()
    for k, dets in enumerate([np.empty((0, 5)), np.empty((0,)), np.zeros((0, 5), np.float32)]):
        out = trk.update(dets, k)
        assert out.shape == (0, 5) and out.dtype == np.float64


def test_output_shape_dtype_and_no_unconfirmed_tracks():
    trk = mot.make_tracker(confirm_hits=3)
    dets = np.array([_box(200, 200), _box(400, 200)])
    outs = [trk.update(dets, k) for k in range(1, 6)]
    assert [len(o) for o in outs] == [0, 0, 2, 2, 2]  # confirmed at the 3rd hit, not before
    for o in outs[2:]:
        assert o.shape == (2, 5) and o.dtype == np.float64
        assert o[:, 4].tolist() == [1.0, 2.0]
        np.testing.assert_allclose(o[:, :4], dets[:, :4], atol=1.0)


def test_ids_stay_stable_on_two_crossing_noisy_boxes_with_misses():
    rng = np.random.default_rng(3)
    trk = mot.make_tracker(frame_rate_hz=25.0)
    seen = {}  # id -> list of centre x
    for k, dets in enumerate(_walk(70, rng, drop=0.1), start=1):
        for x1, _, x2, _, tid in trk.update(dets, k):
            seen.setdefault(int(tid), []).append((x1 + x2) / 2)
    assert sorted(seen) == [1, 2]
    first, second = sorted(seen.values(), key=lambda xs: xs[0])
    assert first[-1] > first[0] + 200 and second[-1] < second[0] - 200  # no swap at the crossing


def test_a_missed_frame_is_bridged_by_the_prediction_then_the_track_stops_being_reported():
    trk = mot.make_tracker(frame_rate_hz=25.0, report_coast_s=0.1, confirm_hits=2)
    for k in range(1, 11):
        trk.update(np.array([_box(100 + 4 * k, 200)]), k)
    out = trk.update(np.empty((0, 5)), 11)  # missed: the predicted box is reported
    assert out.shape == (1, 5)
    assert abs((out[0, 0] + out[0, 2]) / 2 - 144) < 3
    trk.update(np.empty((0, 5)), 12)
    assert len(trk.update(np.empty((0, 5)), 13)) == 0  # missed 0.12 s > report_coast_s
    out = trk.update(np.array([_box(156, 200)]), 14)  # picked up again with the same id
    assert out[:, 4].tolist() == [1.0]


def test_low_score_boxes_keep_a_track_but_never_start_one():
    trk = mot.make_tracker(high_score=0.5, confirm_hits=2)
    for k in range(1, 20):
        assert len(trk.update(np.array([_box(300, 200, score=0.3)]), k)) == 0
    for k in range(20, 25):
        trk.update(np.array([_box(100 + 4 * k, 200)]), k)
    for k in range(25, 60):
        out = trk.update(np.array([_box(100 + 4 * k, 200, score=0.3)]), k)
        assert out[:, 4].tolist() == [1.0]


def test_scattered_false_boxes_are_never_reported():
    rng = np.random.default_rng(1)
    trk = mot.make_tracker()
    for k in range(1, 200):
        xy = rng.uniform(0, 600, (2, 2))
        dets = np.column_stack([xy, xy + 50.0, rng.uniform(0.5, 1.0, 2)])
        assert len(trk.update(dets, k)) == 0


@pytest.mark.parametrize("dets, frame, match", [
    (np.zeros((2, 4)), 1, "shape"),
    (np.array([[0.0, 0.0, np.nan, 10.0, 0.9]]), 1, "NaN"),
    (np.array([[10.0, 0.0, 5.0, 10.0, 0.9]]), 1, "x2 <= x1"),
])
def test_bad_detections_raise_value_error(dets, frame, match):
    with pytest.raises(ValueError, match=match):
        mot.make_tracker().update(dets, frame)


def test_frames_out_of_order_raise_and_reset_restarts_ids():
    trk = mot.make_tracker(confirm_hits=1)
    assert trk.update(np.array([_box(100, 100)]), 5)[:, 4].tolist() == [1.0]
    with pytest.raises(ValueError, match="lower than the previous"):
        trk.update(np.empty((0, 5)), 4)
    trk.reset()
    assert trk.update(np.array([_box(300, 100)]), 1)[:, 4].tolist() == [1.0]


def test_bad_config_raises_value_error():
    with pytest.raises(ValueError, match="min_iou"):
        mot.make_tracker(min_iou=1.5)
    with pytest.raises(ValueError, match="report_coast_s"):
        mot.make_tracker(report_coast_s=5.0, coast_s=1.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.tuples(st.floats(0, 600), st.floats(0, 400), st.floats(2, 120),
                                   st.floats(2, 240), st.floats(0, 1)), max_size=6),
                min_size=1, max_size=15))
def test_any_detections_give_unique_positive_ids_and_valid_boxes(frames):
    trk = mot.make_tracker(confirm_hits=2)
    for k, rows in enumerate(frames):
        dets = np.array([[x, y, x + w, y + h, s] for x, y, w, h, s in rows]).reshape(-1, 5)
        out = trk.update(dets, k)
        assert out.ndim == 2 and out.shape[1] == 5 and out.dtype == np.float64
        ids = out[:, 4]
        assert (ids >= 1).all() and len(set(ids.tolist())) == len(ids)
        assert (ids == np.round(ids)).all()
        assert (out[:, 2] > out[:, 0]).all() and (out[:, 3] > out[:, 1]).all()


def test_tud_protocol_meets_the_issue_targets():
    pytest.importorskip("motmetrics")
    from bench import mot_tud

    res = mot_tud.evaluate(mot_tud.SETTINGS[0], [0, 1],
                           {"ours": mot_tud.ours_factory(), "oracle": mot_tud.oracle_factory})
    mota, idf1 = res["ours"][:, :2].mean(axis=0)
    assert mota >= 87.5 and idf1 >= 90.0
    assert res["oracle"][:, 2].sum() == 0  # the oracle keeps true ids


def test_the_example_runs_as_a_script():
    import subprocess

    proc = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("50 [[") and last.count("[") == 3  # two tracks at frame 50
