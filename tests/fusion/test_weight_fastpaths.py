"""Fast paths of the stable pass equal their general forms on random inputs."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.weight.layout import ChunkLayout
from fusion.weight.stable import _t_left


@pytest.mark.parametrize("seed", range(5))
def test_t_left_one_column_equals_general(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, L = 7, 13
    T = np.cumsum(rng.uniform(0.01, 0.05, (m, L)), axis=1)
    gap = rng.random((m, L)) < 0.2  # long gaps between readings
    T += np.cumsum(np.where(gap, rng.uniform(0.5, 2.0, (m, L)), 0.0), axis=1)
    D = np.where(rng.random((m, L)) < 0.1, np.nan, rng.uniform(0.0, 0.06, (m, L)))
    t_valid = T[:, 0] - rng.uniform(0.0, 1.0, m)
    c0, c1 = rng.integers(0, L, m), rng.integers(0, L, m)
    one = _t_left(T, D, t_valid, c0)
    two = _t_left(T, D, t_valid, c0, c1)
    assert len(one) == 1
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(_t_left(T, D, t_valid, c1)[0], two[1])


def test_layout_present_marks_real_samples() -> None:
    t = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    cell = np.array([2, 0, 2, 2, 0])
    lay = ChunkLayout.build(t, cell, np.ones(5, bool))
    np.testing.assert_array_equal(lay.present, [[True, True, False], [True, True, True]])
    np.testing.assert_array_equal(np.isnan(lay.T), ~lay.present)
