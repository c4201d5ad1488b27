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
