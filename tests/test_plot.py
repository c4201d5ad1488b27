"""``shelf-fusion plot``: PNGs of plate weights and of floor tracks, and its errors."""

import sys

import numpy as np
import pytest

from fusion.recording import Recording
from shelf_fusion import plot
from shelf_fusion.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    from fusion.sim import simulate
    folder = tmp_path_factory.mktemp("easy")
    simulate("easy", 0, folder, duration_s=60)
    return folder


def assert_real_png(path):
    import matplotlib.image
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    img = matplotlib.image.imread(str(path))
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 300
    rgb = img[..., :3]
    assert rgb.var() > 1e-3, "image is blank"
    # more than white, black and grey: the coloured curves/tracks are drawn
    assert np.abs(rgb[..., 0] - rgb[..., 2]).max() > 0.3


def test_weights_plot_named_cells(rec, tmp_path, capsys):
    out = tmp_path / "w.png"
    assert main(["plot", "weights", str(rec), "--cells", "U1-1-01,U1-2-01",
                 "--t0", "0", "--t1", "40", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert_real_png(out)


def test_weights_plot_default_cells_and_path(rec, capsys):
    assert main(["plot", "weights", str(rec)]) == 0
    out = rec / "plot-weights.png"
    assert capsys.readouterr().out.strip() == str(out)
    assert_real_png(out)


def test_floor_plot(rec, capsys):
    assert main(["plot", "floor", str(rec), "--t0", "0", "--t1", "60"]) == 0
    out = rec / "plot-floor.png"
    assert capsys.readouterr().out.strip() == str(out)
    assert_real_png(out)


@pytest.mark.parametrize("argv,expect", [
    (["weights", "--cells", "U1-1-01,NOPE-9"], "unknown cell id(s) NOPE-9"),
    (["weights", "--t0", "30", "--t1", "10"], "empty time window"),
    (["floor", "--cells", "U1-1-01"], "--cells applies to 'plot weights' only"),
])
def test_bad_request_is_one_line_error(rec, tmp_path, capsys, argv, expect):
    kind, *rest = argv
    assert main(["plot", kind, str(rec), *rest, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert expect in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_missing_matplotlib_says_what_to_install(rec, tmp_path, capsys, monkeypatch):
    # matplotlib is installed here; hide it the way a missing package looks to import.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["plot", "floor", str(rec), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert 'pip install "shelf-fusion[plot]"' in err and err.count("\n") == 1


def test_gaps_are_breaks_not_zero():
    t = np.array([0.0, 0.05, 0.10, 0.15, 2.0, 2.05, 2.10])
    g = np.array([100, 100, np.nan, 100, 90, 90, 90], dtype=np.float32)
    tg = plot._with_breaks(t, g)
    assert np.isnan(tg[2, 1])  # the controller's gap stays a gap
    assert len(tg) == len(t) + 1 and 0.15 < tg[4, 0] < 2.0 and np.isnan(tg[4, 1])
    assert not np.any(tg[:, 1] == 0)


def test_read_weights_window_and_cells(rec):
    r = Recording(rec)
    idx = r.store.cell_index()
    series = plot.read_weights(r, [idx["U1-2-01"]], 10.0, 20.0)
    tg = series[idx["U1-2-01"]]
    assert list(series) == [idx["U1-2-01"]]
    assert len(tg) > 50 and tg[0, 0] >= 10.0 and tg[-1, 0] <= 20.0
    assert np.all(np.diff(tg[:, 0]) >= 0)


def test_replay_stops_after_window(rec):
    eng = plot.replay_until(Recording(rec), 12.0)
    assert eng.now <= 12.0 + plot.REPLAY_TAIL_S + 1.0
    # the first true take (t ~ 8.5 s at U1-1-01) is decided within the window
    assert any(d.event.t_start < 12.0 and d.account for d in eng.decisions)


def test_hand_written_recording_with_gaps_and_no_truth(tmp_path, capsys):
    from tests.fusion.recfixtures import make_recording
    rows = ["t,cell,grams"]
    for i in range(200):  # A-1 at 20 Hz for 10 s: invalid values at 3..3.5 s, silent 6..7 s
        t = i * 0.05
        if 6.0 <= t < 7.0:
            continue
        rows.append(f"{t:.3f},A-1,{'' if 3.0 <= t < 3.5 else 1000.0 + (i % 3)}")
    folder = make_recording(tmp_path / "rec", weights__csv="\n".join(rows) + "\n", truth__json=None)
    r = Recording(folder)
    tg = plot.read_weights(r, [0], 0.0, 10.0)[0]
    gap = np.isnan(tg[:, 1])
    assert np.all((tg[gap, 0] >= 3.0) & (tg[gap, 0] < 7.0))
    assert np.any(gap & (tg[:, 0] > 6.0)) and gap.sum() == 10 + 1
    out = tmp_path / "w.png"
    assert main(["plot", "weights", str(folder), "--cells", "A-1", "--t1", "10", "--out", str(out)]) == 0
    assert_real_png(out)
