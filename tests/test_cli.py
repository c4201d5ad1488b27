"""The command line: happy paths and one-line errors with exit status 2."""

import json
import subprocess
import sys

import pytest

from shelf_fusion.cli import main
from tests.fusion.recfixtures import make_recording


def test_simulate_replay_score(tmp_path, capsys):
    rec = tmp_path / "rec"
    assert main(["-q", "simulate", "--scenario", "easy", "--seed", "1", "--out", str(rec),
                 "--duration", "90"]) == 0
    assert main(["-q", "replay", str(rec), "--out", str(tmp_path / "r.json")]) == 0
    receipts = json.loads((tmp_path / "r.json").read_text())
    assert receipts["format"] == 1 and receipts["receipts"]
    assert main(["score", str(tmp_path / "r.json"), str(rec / "truth.json"), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["wrong"] == 0 and card["sales"] >= 1


def test_replay_reports_what_it_learned_about_the_cameras(tmp_path, capsys):
    rec = tmp_path / "rec"
    assert main(["-q", "simulate", "--scenario", "easy", "--seed", "1", "--out", str(rec),
                 "--duration", "120"]) == 0
    capsys.readouterr()
    assert main(["replay", str(rec), "--out", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "cameras (learned from the tracks" in out
    assert sum(line.lstrip().startswith("C") and "noise" in line for line in out.splitlines()) == 3


@pytest.mark.parametrize("mutate,expect", [
    (dict(weights__csv="t,cell,grams\n0.1,A-1,12\n0.2,Q-7,1\n"), "weights.csv:3: field 'cell': unknown cell 'Q-7'"),
    (dict(store__toml='format = 1\n[[sku]]\nid = "x"\nweight_g = -1\n'), "sku[0] 'x'.weight_g: must be > 0"),
    (dict(vision__jsonl='{"t": 0.5, "people": [}\n'), "vision.jsonl:1: broken JSON"),
])
def test_bad_recording_is_one_line_error(tmp_path, capsys, mutate, expect):
    make_recording(tmp_path, **mutate)
    assert main(["replay", str(tmp_path), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert expect in err and err.count("\n") == 1 and "Traceback" not in err


def test_console_script_runs_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "shelf_fusion.cli", "replay", str(tmp_path / "none")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "not a folder" in proc.stderr and "Traceback" not in proc.stderr


def test_review_threshold_and_curve(tmp_path, capsys):
    rec = tmp_path / "rec"
    assert main(["-q", "simulate", "--scenario", "concession", "--seed", "2", "--out", str(rec),
                 "--duration", "120"]) == 0
    for conf, out in (("0.85", "default.json"), ("1.0", "all.json"), ("0", "none.json")):
        assert main(["-q", "replay", str(rec), "--out", str(tmp_path / out), "--review-below", conf]) == 0
    loaded = {out: json.loads((tmp_path / out).read_text())["receipts"]
              for out in ("default.json", "all.json", "none.json")}
    assert not any(r["review"] for r in loaded["none.json"])
    assert all(r["review"] == (r["confidence"] < 1.0) for r in loaded["all.json"])
    assert sum(r["review"] for r in loaded["all.json"]) > sum(r["review"] for r in loaded["default.json"])
    capsys.readouterr()
    assert main(["score", str(tmp_path / "default.json"), str(rec / "truth.json"), "--curve", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    at = {thr: (rev, wrong) for thr, rev, wrong in card["review_curve"]}
    assert at[0.85] == (card["reviews_per_1000"], card["wrong_per_1000"])  # the replay's own threshold
    reviews = [rev for _, rev, _ in card["review_curve"]]
    assert reviews == sorted(reviews)  # a higher threshold never reviews fewer
    assert main(["score", str(tmp_path / "default.json"), str(rec / "truth.json"), "--curve"]) == 0
    assert "review below 0.85" in capsys.readouterr().out


def test_review_threshold_outside_0_1_is_rejected(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["replay", str(tmp_path), "--review-below", "1.5"])
    assert e.value.code == 2 and "must be between 0 and 1" in capsys.readouterr().err
