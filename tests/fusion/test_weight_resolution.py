"""Reading resolution: controllers that report whole multiples of a division.

A 5 g scale reads a level sitting inside a division as a constant and one on
a division boundary as 5 g flicker; the noise learned during the constant
stretch must not make the flicker look like motion (the plate would never
settle again and its takes would merge).
"""

from __future__ import annotations

import numpy as np
import pytest

from fusion.weight import WeightConfig, WeightDetector

from .test_weight_signals import make_samples, make_store, merge_scripts, run, take


def _quantised(samples: np.ndarray, division_g: float) -> np.ndarray:
    out = samples.copy()
    out["grams"] = np.rint(out["grams"] / division_g) * division_g
    return out


ITEM_G = 48.5


def _store():
    return make_store(1, skus={"candy": (ITEM_G, 1.0)}, cell_skus=[["candy"]])


def _takes():
    # 1001 g: mid-division of a 5 g scale, read as a constant 1000 g; the
    # first take leaves the level on a boundary (952.5 g: 950/955 flicker)
    script = merge_scripts(take(6.0, -ITEM_G, hand_g=150.0), take(16.0, -ITEM_G, hand_g=150.0),
                           noise_g=0.5, rate_hz=40.0)
    script.level_g = 1001.0
    return make_samples([script], 26.0, seed=4)


@pytest.mark.parametrize("division_g", [5.0, 10.0])
def test_takes_on_a_coarse_scale_are_found_apart(division_g):
    samples = _quantised(_takes(), division_g)
    det = WeightDetector(_store())
    events = run(det, samples, 0.5)
    assert det.resolution_g()[0] == division_g
    assert len(events) == 2, events
    for ev, t in zip(events, (6.0, 16.0), strict=True):
        assert abs(ev.delta_g[0] + ITEM_G) <= division_g
        assert t - 0.5 <= ev.t_start <= t + 1.5
    assert det.noise_g()[0] >= division_g / 2


def test_without_learning_the_coarse_scale_merges_or_loses_takes():
    # the failure the resolution floor fixes (resolution_steps=0 turns it off)
    samples = _quantised(_takes(), 5.0)
    det = WeightDetector(_store(), WeightConfig(resolution_steps=0))
    events = run(det, samples, 0.5)
    assert [round(e.delta_g[0] / ITEM_G) for e in events] != [-1, -1]
    assert np.isnan(det.resolution_g()).all()


def test_resolution_of_fine_constant_and_float_readings():
    samples = _takes()
    det = WeightDetector(_store())
    run(det, _decimals(samples, 1), 0.5)
    assert det.resolution_g()[0] == pytest.approx(0.1)
    assert det.noise_g()[0] < 1.0  # a 0.1 g division sets no floor above the noise
    det = WeightDetector(_store())
    run(det, samples, 0.5)  # full float precision: no division
    assert np.isnan(det.resolution_g()[0])
    flat = samples.copy()
    flat["grams"] = 1000.0
    det = WeightDetector(_store())
    run(det, flat, 0.5)
    assert np.isnan(det.resolution_g()[0])  # no change yet: unknown, not 1000 g


def _decimals(samples: np.ndarray, n: int) -> np.ndarray:
    out = samples.copy()
    out["grams"] = [float(f"{g:.{n}f}") for g in out["grams"]]  # as parsed from text
    return out
