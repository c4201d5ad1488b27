"""process() never crashes on arbitrary valid-dtype input (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fusion.types import WEIGHT_DTYPE
from fusion.weight import WeightDetector

from .test_weight_signals import make_store

N_CELLS = 3
STORE = make_store(N_CELLS, cell_skus=[["cola"], ["cola", "chips"], ["chips"]])

_grams = st.one_of(st.floats(width=32, allow_nan=True, allow_infinity=True),
                   st.floats(1900.0, 2100.0, width=32), st.just(float("nan")))
_times = st.one_of(st.floats(0.0, 20.0), st.sampled_from([0.0, 1.0, 1.0, 5.0]),
                   st.floats(allow_nan=True, allow_infinity=True))


@st.composite
def _chunks(draw):
    n = draw(st.integers(0, 120))
    t = draw(hnp.arrays(np.float64, n, elements=_times))
    if draw(st.booleans()):
        t = np.sort(t)
    a = np.zeros(n, WEIGHT_DTYPE)
    a["t"] = t
    a["cell"] = draw(hnp.arrays(np.uint16, n, elements=st.integers(0, N_CELLS - 1)))
    a["grams"] = draw(hnp.arrays(np.float32, n, elements=_grams))
    a["flags"] = draw(hnp.arrays(np.uint8, n, elements=st.integers(0, 255)))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    return np.split(a, cuts)


@pytest.mark.filterwarnings("error::RuntimeWarning")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_chunks())
def test_process_never_crashes(chunks):
    det = WeightDetector(STORE)
    events = []
    for c in chunks:
        events += det.process(c)
        det.busy_since()
        assert det.levels_g().shape == (N_CELLS,)
    events += det.flush()
    for e in events:
        assert e.cells and all(0 <= c < N_CELLS for c in e.cells)
        assert len(e.delta_g) == len(e.sd_g) == len(e.cells)
        assert all(math.isfinite(d) for d in e.delta_g)
        assert all(s >= 0 for s in e.sd_g)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 10.0), st.integers(0, N_CELLS - 1),
                          st.one_of(st.floats(1000.0, 1400.0), st.just(float("nan")))),
                max_size=300))
def test_time_ordered_input_gives_ordered_event_times(rows):
    rows.sort(key=lambda r: r[0])
    a = np.zeros(len(rows), WEIGHT_DTYPE)
    for i, (t, c, g) in enumerate(rows):
        a[i] = (t, c, g, 0)
    det = WeightDetector(STORE)
    events = det.process(a) + det.flush()
    for e in events:
        assert e.t_start <= e.t_end <= e.t_final
        assert abs(e.total_g) >= 8.0
