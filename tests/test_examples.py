"""The examples in examples/ run as a user would run them."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("script,expect", [("replay_from_code.py", "{"), ("bringup_shelf.py", "receipt:")])
def test_example_runs(tmp_path, script, expect):
    args = [sys.executable, str(EXAMPLES / script)]
    if script == "replay_from_code.py":
        args.append(str(tmp_path / "rec"))
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert expect in proc.stdout
