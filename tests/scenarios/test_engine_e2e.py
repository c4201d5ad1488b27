"""End-to-end: simulate, replay, score."""

import numpy as np
import pytest

from fusion.engine import Engine
from fusion.recording import Recording
from fusion.scoring import score


def replay(folder, until=None):
    rec = Recording(folder)
    eng = Engine(rec.store)
    online = []
    for item in rec.stream():
        t = float(item["t"][0]) if isinstance(item, np.ndarray) else item.t
        if until is not None and t > until:
            break
        online += eng.feed(item)
    if until is None:
        eng.finish()
    return rec, eng, online


@pytest.mark.parametrize("seed", range(5))
def test_easy_is_perfect(sim_recording, seed):
    rec, eng, _ = replay(sim_recording("easy", seed))
    card = score(eng.receipts(), rec.read_truth())
    assert card.sales > 0
    assert card.wrong == 0, card.lines()
    assert card.reviews == 0, card.lines()


def test_one_receipt_per_tapped_account(sim_recording):
    rec, eng, _ = replay(sim_recording("concession", 0, 150.0))
    taps = rec.read_taps()
    receipts = eng.receipts()
    assert sorted(r.shopper for r in receipts) == sorted({t.shopper for t in taps})
    for r in receipts:
        assert all(n > 0 for n in r.items.values())
        assert r.exit_t is None or r.decided_t >= r.exit_t
        assert r.review == bool(r.reasons)
        assert 0.0 <= r.confidence <= 1.0


def test_engine_is_online(sim_recording):
    """Receipts decided by stream time T are the same when the stream stops at T."""
    folder = sim_recording("concession", 0, 150.0)
    _, full, online_full = replay(folder)
    assert len(online_full) >= 3
    cut = sorted(r.decided_t for r in online_full)[len(online_full) // 2]
    _, _, online_cut = replay(folder, until=cut)
    before = {r.shopper: r for r in online_full if r.decided_t <= cut}
    assert before and {r.shopper: r for r in online_cut} == before
