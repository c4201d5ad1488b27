"""WeightDetector.hands_away: the vision cue that ends lean/press holds."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.weight import WeightDetector

from .test_weight_signals import PlateScript, make_samples, make_store, merge_scripts, take


def _run_with_cues(script: PlateScript, cues_s: list[float], duration_s: float = 10.0,
                   seed: int = 5, item_g: float = 40.0, chunk_s: float = 0.5,
                   cues_first: bool = False):
    """One plate; after each chunk (before it with ``cues_first``: vision runs
    ahead of the weights, as in a live engine), a hands_away cue for every cue
    time inside it."""
    det = WeightDetector(make_store(1, skus={"item": (item_g, 1.0)}, cell_skus=[["item"]]))
    s = make_samples([script], duration_s, seed)
    events = []
    edges = np.arange(0.0, duration_s + chunk_s, chunk_s)
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if not cues_first:
            events += det.process(s[(s["t"] >= a) & (s["t"] < b)])
        for t in cues_s:
            if a <= t < b:
                det.hands_away(np.array([0]), t)
        if cues_first:
            events += det.process(s[(s["t"] >= a) & (s["t"] < b)])
    return events + det.flush()


def _light_put_back(rate: float) -> PlateScript:
    # 40 g on a 3 g plate put back with a light hand: nothing shows the hand left,
    # so on the weight alone it is held lean_hold_s (a lean looks the same)
    return merge_scripts(take(3.0, 40.0, hand_g=5.0), noise_g=3.0, rate_hz=rate)


@pytest.mark.parametrize("rate", [10.0, 20.0, 80.0])
def test_put_back_is_held_without_the_cue_and_released_by_it(rate):
    hand_leaves = 3.0 + 0.8
    slow = _run_with_cues(_light_put_back(rate), [])
    assert len(slow) == 1 and slow[0].t_final > hand_leaves + 3.0
    fast = _run_with_cues(_light_put_back(rate), [hand_leaves + 0.15])
    assert len(fast) == 1 and abs(fast[0].total_g - 40.0) < 6.0
    assert fast[0].t_final <= hand_leaves + 1.0
    assert fast[0].t_start == slow[0].t_start


@pytest.mark.parametrize("rate", [10.0, 20.0, 80.0])
def test_cue_after_a_lean_lifts_never_releases_it(rate):
    # the lean (dead still, an item's weight) lasts until 4.5 s; vision sees the
    # hand gone 0.15 s later, when the plate is already falling back
    script = PlateScript(noise_g=3.0, rate_hz=rate, tremor=0.0, presses=[(2.0, 4.5, 40.0)])
    assert _run_with_cues(script, [4.65], seed=7) == []
    assert _run_with_cues(script, [4.55, 4.6, 4.7, 4.8, 5.0], seed=7) == []


def test_cue_before_the_change_began_is_ignored():
    ev = _run_with_cues(_light_put_back(20.0), [1.0, 2.5])
    assert len(ev) == 1 and ev[0].t_final > 3.8 + 3.0


def test_hands_away_is_a_no_op_on_quiet_plates_and_checks_arguments():
    det = WeightDetector(make_store(2))
    det.hands_away(np.array([0, 1]), 1.0)
    det.hands_away(np.array([], dtype=np.int64), 1.0)
    assert det.busy_since() is None
    with pytest.raises(ValueError, match="out of range"):
        det.hands_away(np.array([2]), 1.0)
    with pytest.raises(ValueError, match="finite"):
        det.hands_away(np.array([0]), float("nan"))


@pytest.mark.parametrize("rate", [20.0, 80.0])
def test_a_lean_after_the_cue_is_not_released_with_the_held_put_back(rate):
    # 20 g put-back at 3 s (held as a possible lean), no hand within reach at
    # 3.9 s, then a new dead-still 20 g lean from 4.3 to 7.0 s: it joins the
    # held put-back (40 g, two items, still in the lean class) but began after
    # the cue, so the cue must not release the sum; the lift cancels the lean
    script = merge_scripts(take(3.0, 20.0, hand_g=5.0), noise_g=3.0, rate_hz=rate, tremor=0.0,
                           presses=[(4.3, 7.0, 20.0)])
    ev = _run_with_cues(script, [3.9], duration_s=14.0, item_g=20.0)
    assert [round(e.total_g / 20.0) for e in ev] == [1], ev


def test_an_odd_change_is_not_released_by_the_cue():
    # -52 g from a plate of 40 g items is no whole number of them: it waits
    # odd_hold_s for a change that completes it, cue or not (it may be
    # crosstalk from a neighbour a hand is on, and vision would not see that)
    script = merge_scripts(take(3.0, -52.0, hand_g=80.0), noise_g=1.0, rate_hz=20.0)
    ev = _run_with_cues(script, list(np.arange(4.0, 10.0, 0.1)), cues_first=True)
    assert len(ev) == 1 and ev[0].t_final > 3.8 + 3.0


@pytest.mark.parametrize("rate", [10.0, 20.0, 80.0])
def test_a_cue_every_frame_releases_as_one_cue_does(rate):
    # a caller that sends the cue with every camera frame (10 per s) while
    # nobody is near, its frames ahead of the weight readings: the run's first
    # cue is the proof, later ones do not keep moving the readings it waits for
    hand_leaves = 3.0 + 0.8
    cues = list(np.arange(hand_leaves + 0.15, 10.0, 0.1))
    fast = _run_with_cues(_light_put_back(rate), cues, cues_first=True)
    assert len(fast) == 1 and abs(fast[0].total_g - 40.0) < 6.0
    assert fast[0].t_final <= hand_leaves + 1.0


def test_a_broken_run_of_cues_starts_again():
    # cues stop while somebody comes near (no cue for 1 s from 4.0 s), then resume:
    # the put-back at 3 s is released by the new run's first cue, not the old one
    script = _light_put_back(20.0)
    ev = _run_with_cues(script, [1.0, 1.1, 1.2, 4.5, 4.6, 4.7])
    assert len(ev) == 1 and 4.5 < ev[0].t_final <= 5.5
