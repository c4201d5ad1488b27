"""bench.identity's oracle tracker stands in for ShopperTracker inside the
engine: every tracker query the engine makes must work on it (make bench
failed twice on a new query)."""

import dataclasses

from bench import identity
from fusion.recording import Recording
from fusion.scoring import score


def test_oracle_replay_runs_and_knows_every_identity(tmp_path, monkeypatch):
    easy = identity.SCENARIOS["easy"]
    monkeypatch.setitem(identity.SCENARIOS, "easy-short", dataclasses.replace(easy, duration_s=90.0))
    accounts = identity.hinted_recording("easy-short", 1, tmp_path)
    truth = Recording(tmp_path).read_truth()
    eng = identity.replay(tmp_path, identity.OracleTracker(accounts, truth))
    card = score(eng.receipts(), truth)
    assert card.sales > 0 and card.identity_errors == 0
    assert eng.tracker.frame_scale == 1.0  # the preset's 10-15 fps cameras
