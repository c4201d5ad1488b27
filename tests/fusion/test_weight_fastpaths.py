"""Fast paths of the weight path equal their general forms on random inputs."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.types import SampleFlag
from fusion.weight import WeightDetector
from fusion.weight.layout import ChunkLayout, LayoutCache
from fusion.weight.scan import EvenCoeffCache, riccati_even, riccati_even_coeffs
from fusion.weight.stable import _t_left

from .test_weight_signals import PlateScript, make_samples, make_store, take


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


def _layout_fields(lay: ChunkLayout) -> tuple[np.ndarray, ...]:
    return (lay.cells, lay.counts, lay.T, lay.order, lay.row, lay.rank, lay.ok, lay.n_valid,
            lay.flat)


def _chunk_pattern(rng: np.random.Generator, m: int, t0: float) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved times (s) and cells of ``m`` plates at fixed rates over 0.5 s from ``t0``."""
    t, c = [], []
    for i in range(m):
        rate = [10.0, 20.0, 40.0, 80.0][i % 4]
        ti = t0 + 0.001 * i + np.arange(int(0.5 * rate)) / rate
        t.append(ti)
        c.append(np.full(ti.size, i))
    t, c = np.concatenate(t), np.concatenate(c)
    o = np.argsort(t, kind="stable")
    return t[o], c[o]


@pytest.mark.parametrize("seed", range(6))
def test_layout_cache_equals_fresh_build(seed: int) -> None:
    """Repeated, changed, tied and out-of-order chunks: the cached layout is the fresh one."""
    rng = np.random.default_rng(seed)
    cache = LayoutCache()
    t, c = _chunk_pattern(rng, 5, 0.0)
    hits = 0
    for k in range(40):
        tk, ck = t + 0.5 * k, c.copy()
        what = rng.integers(0, 6)
        if what == 1:  # a plate missing from this chunk: another pattern
            keep = ck != rng.integers(0, 5)
            tk, ck = tk[keep], ck[keep]
        elif what == 2:  # two readings of a plate swapped in time: the sort depends on t
            j = np.flatnonzero(ck == ck[0])
            tk[j[0]], tk[j[1]] = tk[j[1]], tk[j[0]]
        elif what == 3:  # ties in t within a plate
            j = np.flatnonzero(ck == ck[-1])
            tk[j[1]] = tk[j[0]]
        elif what == 4:  # a different order of cells
            ck = np.roll(ck, 1)
        ok = rng.random(tk.size) > 0.1 * rng.integers(0, 2)
        hits += cache.lookup(tk, ck)
        got = ChunkLayout.build(tk, ck, ok, cache)
        want = ChunkLayout.build(tk, ck, ok)
        for a, b in zip(_layout_fields(got), _layout_fields(want), strict=True):
            np.testing.assert_array_equal(a, b)
        z = rng.normal(size=tk.size)
        D = rng.normal(size=want.T.shape)
        for a, b in zip(got.valid_arrays(z, D), want.valid_arrays(z, D), strict=True):
            np.testing.assert_array_equal(a, b)
    assert hits >= 5  # the repeated pattern was reused


def test_even_coeff_cache_reuses_only_within_tolerance() -> None:
    e = np.array([1e-4, 3e-3, 2e-6])
    p0 = np.array([0.1, 1.0, 0.02])
    cache = EvenCoeffCache()
    e1, c1 = cache.get(e, 9)
    np.testing.assert_array_equal(e1, e)
    near = e * (1 + 1e-14)
    e2, c2 = cache.get(near, 9)
    np.testing.assert_array_equal(e2, e)  # reused: the stored step ratio
    assert c2[0] is c1[0]
    np.testing.assert_allclose(riccati_even(e2, p0, 9, c2), riccati_even(near, p0, 9),
                               rtol=1e-12, atol=0.0)
    far = e * (1 + 1e-9)
    e3, c3 = cache.get(far, 9)
    np.testing.assert_array_equal(e3, far)  # recomputed
    np.testing.assert_array_equal(c3[0], riccati_even_coeffs(far, 9)[0])
    e4, _ = cache.get(e[:2], 9)  # another shape: its own entry
    np.testing.assert_array_equal(e4, e[:2])


def _stream(seed: int) -> np.ndarray:
    """Five evenly sampled plates with takes, spikes, NaN gaps, bad flags and a plate
    that goes silent for 2 s (the chunks' cell pattern changes)."""
    rng = np.random.default_rng(seed)
    scripts = [PlateScript(level_g=1500.0 + 300 * i, noise_g=float(rng.uniform(0.3, 3.0)),
                           rate_hz=float(rng.choice([10, 20, 40, 80])), phase_s=0.003 * i,
                           spikes=[(float(rng.uniform(1, 11)), 80.0)],
                           gaps=[(float(g), float(g) + 0.3) for g in rng.uniform(1, 11, 2)],
                           **take(float(rng.uniform(2, 10)), -352.0))
               for i in range(5)]
    s = make_samples(scripts, 12.0, seed=seed)
    silent = (s["cell"] == 2) & (s["t"] > 5.0) & (s["t"] < 7.0)
    s = s[~silent]
    bad = rng.random(s.size) < 0.01
    s["flags"][bad] = int(SampleFlag.ERROR)
    return s


def _run(s: np.ndarray, cuts: np.ndarray) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    det = WeightDetector(make_store(5))
    ev, levels, rates, noise = [], [], [], []
    for part in np.split(s, cuts):
        ev += det.process(part)
        levels.append(det.levels_g())
        rates.append(det._dt.copy())
        noise.append(det.noise_g())
    ev += det.flush()
    return ev, np.array(levels), np.array(rates), np.array(noise)


@pytest.mark.parametrize("seed", range(4))
def test_detector_fast_paths_equal_exact_path(seed: int, monkeypatch) -> None:
    """Layout cache, steady-rate EMA and coefficient cache on vs off: same events,
    levels within 1e-9 g, rate estimates bit for bit."""
    s = _stream(seed)
    rng = np.random.default_rng(seed)
    edges = np.arange(0.5, 12.0, 0.5)
    edges[rng.integers(0, edges.size, 3)] += 0.13  # a few chunks of another length
    cuts = np.searchsorted(s["t"], np.sort(edges))
    fast = _run(s, cuts)
    monkeypatch.setattr(LayoutCache, "lookup", lambda self, t, cell: False)
    monkeypatch.setattr(WeightDetector, "_rate_steady", lambda self, *a: None)
    monkeypatch.setattr(EvenCoeffCache, "get", lambda self, e, L: (e, riccati_even_coeffs(e, L)))
    exact = _run(s, cuts)
    ev_a, ev_b = fast[0], exact[0]
    assert len(ev_a) == len(ev_b) >= 1
    for a, b in zip(ev_a, ev_b, strict=True):
        assert a.cells == b.cells
        assert a.t_start == b.t_start and a.t_end == b.t_end and a.t_final == b.t_final
        np.testing.assert_allclose(a.delta_g, b.delta_g, atol=1e-9, rtol=0)
    np.testing.assert_allclose(fast[1], exact[1], atol=1e-9, rtol=0)
    np.testing.assert_array_equal(fast[2], exact[2])
    np.testing.assert_allclose(fast[3], exact[3], rtol=1e-9, atol=0)
