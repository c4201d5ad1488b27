"""WeightDetector + ItemInference on the store simulator's load-cell model.

Uses fusion.sim.loadcell when it exists (another module; skipped otherwise).
"""

from __future__ import annotations

import numpy as np
import pytest

from fusion.inference import ItemInference
from fusion.types import WEIGHT_DTYPE
from fusion.weight import WeightDetector

from .test_weight_signals import make_store, run

loadcell = pytest.importorskip("fusion.sim.loadcell")

SKUS = {"cola": (352.0, 2.5), "chips": (55.0, 1.5), "water": (510.0, 3.0)}


def _simulate(models, timelines, duration_s, seed):
    rng = np.random.default_rng(seed)
    parts = []
    for i, (m, tl) in enumerate(zip(models, timelines, strict=True)):
        t = loadcell.sample_times(m, 0.0, duration_s, rng)
        a = np.zeros(t.size, WEIGHT_DTYPE)
        a["t"], a["cell"], a["grams"] = t, i, loadcell.sample_signal(m, tl, t, rng)
        parts.append(a)
    s = np.concatenate(parts)
    return s[np.argsort(s["t"], kind="stable")]


@pytest.mark.parametrize("seed", range(4))
def test_takes_presses_and_returns_on_simulated_plates(seed):
    rng = np.random.default_rng(seed)
    rates = rng.choice([10.0, 20.0, 40.0, 80.0], 3)
    models = [loadcell.LoadCellModel(sample_hz=float(r), noise_g_10hz=float(rng.uniform(0.2, 1.5)),
                                     phase_s=float(rng.uniform(0, 0.1)), spike_p=2e-3)
              for r in rates]
    TL = loadcell.LoadTimeline.build
    timelines = [TL(3000.0, steps=[(5.0, 0.4, -352.0), (20.0, 0.5, -704.0), (35.0, 0.4, 352.0)],
                    presses=[(4.8, 5.9, 400.0), (12.0, 14.0, 900.0), (19.8, 21.0, 300.0),
                             (34.8, 35.9, 350.0)]),
                 TL(1500.0, steps=[(10.0, 0.3, -55.0), (25.0, 0.4, -165.0 - 352.0)],
                    presses=[(9.8, 10.7, 150.0), (24.8, 26.0, 500.0), (30.0, 30.4, 80.0)]),
                 TL(2000.0, presses=[(15.0, 18.0, 1200.0)])]
    store = make_store(3, skus=SKUS, cell_skus=[["cola"], ["chips", "cola"], ["water"]],
                       gap_m=0.2)
    samples = _simulate(models, timelines, 45.0, seed)
    events = run(WeightDetector(store), samples, chunk_s=0.25)
    inf = ItemInference(store)
    got = [(e.cells, inf.hypotheses(e, basket={"cola": 3})[0].items) for e in events]
    assert got == [((0,), (("cola", 1),)), ((1,), (("chips", 1),)), ((0,), (("cola", 2),)),
                   ((1,), (("chips", 3), ("cola", 1))), ((0,), (("cola", -1),))]
