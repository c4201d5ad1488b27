"""Slow plates (a controller polled at 2 Hz) and a stated rate the data does not keep.

At 2 Hz a take is one or two readings and a plate that rests between two
shoppers' takes shows its level on three readings or so; the detector must
settle on those, and must learn the rate from the timestamps when the store
states a much faster one (``sample_hz`` is nominal, the controller may be
polled slower).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fusion.weight import WeightDetector

from .test_weight_signals import make_samples, make_store, merge_scripts, run, take

ITEM_G = 218.0


def _store(sample_hz: float | None):
    st = make_store(1, skus={"sandwich": (ITEM_G, 3.0)}, cell_skus=[["sandwich"]])
    return replace(st, cells=tuple(replace(c, sample_hz=sample_hz) for c in st.cells))


def _two_takes(gap_s: float, rate_hz: float = 2.0):
    # two shoppers take a sandwich each, ``gap_s`` apart; each hand presses ~0.8 s
    script = merge_scripts(take(20.0, -ITEM_G, hand_g=30.0), take(20.0 + gap_s, -ITEM_G, hand_g=30.0),
                           noise_g=0.8, rate_hz=rate_hz, jitter_s=0.03, phase_s=0.13)
    return make_samples([script], 40.0, seed=3)


@pytest.mark.parametrize("stated_hz", [None, 2.0, 80.0])
def test_two_takes_three_seconds_apart_at_2hz_are_two_events(stated_hz):
    det = WeightDetector(_store(stated_hz))
    events = run(det, _two_takes(3.0), 0.5)
    assert [round(e.delta_g[0] / ITEM_G) for e in events] == [-1, -1], events
    # settled on three readings (~1 s), not four: final within 1.5 s of the hand
    # leaving (20.8 s), before the second take is over
    assert events[0].t_final <= 20.8 + 1.5
    assert det.sample_interval_s()[0] == pytest.approx(0.5, rel=0.1)


def test_a_stated_rate_the_plate_does_not_keep_is_replaced_by_the_measured_one():
    det = WeightDetector(_store(80.0))
    samples = _two_takes(3.0)
    run(det, samples[samples["t"] < 6.0], 0.5)
    # six long intervals in a row are the rate, not gaps
    assert det.sample_interval_s()[0] == pytest.approx(0.5, rel=0.1)


def test_a_gap_in_a_fast_plate_is_not_taken_for_a_slow_rate():
    det = WeightDetector(_store(40.0))
    script = merge_scripts(take(10.0, -ITEM_G), noise_g=0.8, rate_hz=40.0)
    samples = make_samples([script], 30.0, seed=1)
    samples = samples[(samples["t"] < 14.0) | (samples["t"] > 19.0)]  # 5 s without readings
    events = run(det, samples, 0.5)
    assert [round(e.delta_g[0] / ITEM_G) for e in events] == [-1]
    assert det.sample_interval_s()[0] == pytest.approx(0.025, rel=0.1)


def test_the_rate_is_learned_from_a_plate_with_no_stated_rate():
    det = WeightDetector(_store(None))
    assert np.isnan(det.sample_interval_s()[0])
    run(det, _two_takes(3.0, rate_hz=10.0), 0.5)
    assert det.sample_interval_s()[0] == pytest.approx(0.1, rel=0.1)
