"""Synthetic load-cell signals for the weight tests (and sanity tests of them).

Other test modules import the helpers from here; nothing reads files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fusion.types import WEIGHT_DTYPE, Cell, ShelfEvent, Sku, Store


@dataclass
class PlateScript:
    """What happens on one plate.  Times in s, weights in g.

    steps: (t, delta_g, ramp_s) level changes (the item leaves/arrives over ramp_s).
    presses: (t0, t1, amp_g) a hand/lean adds about amp_g between t0 and t1.
    ringing: (t, amp_g, freq_hz, tau_s) damped oscillation starting at t.
    spikes: (t, amp_g) single-sample spikes.
    gaps: (t0, t1) no valid reading (NaN).
    creep: (t, amp_g, tau_s) exponential approach adding amp_g after t.
    tremor: relative amplitude of the presses' hand tremor (0 = a dead-still lean).
    """

    level_g: float = 2000.0
    noise_g: float = 1.0
    rate_hz: float = 20.0
    phase_s: float = 0.0
    steps: Sequence[tuple[float, float, float]] = ()
    presses: Sequence[tuple[float, float, float]] = ()
    ringing: Sequence[tuple[float, float, float, float]] = ()
    spikes: Sequence[tuple[float, float]] = ()
    gaps: Sequence[tuple[float, float]] = ()
    creep: Sequence[tuple[float, float, float]] = ()
    jitter_s: float = 0.0
    tremor: float = 0.08
    extra: dict = field(default_factory=dict)


def _ramp(t: np.ndarray, t0: float, width: float) -> np.ndarray:
    if width <= 0:
        return (t >= t0).astype(float)
    return np.clip((t - t0) / width, 0.0, 1.0)


def plate_signal(p: PlateScript, duration_s: float, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(t, grams) arrays of one plate following script ``p``."""
    t = np.arange(p.phase_s, duration_s, 1.0 / p.rate_hz)
    if p.jitter_s:
        t = np.sort(t + rng.uniform(0, p.jitter_s, t.size))
    g = np.full(t.size, p.level_g) + rng.normal(0, p.noise_g, t.size)
    for t0, d, w in p.steps:
        g += d * _ramp(t, t0, w)
    for t0, t1, a in p.presses:  # a hand rarely holds still: ~8 % tremor at 1-2 Hz
        tremor = 1.0 + p.tremor * np.sin(2 * np.pi * 1.4 * (t - t0) + t0)
        g += a * tremor * (_ramp(t, t0, 0.1) - _ramp(t, t1, 0.1))
    for t0, a, f, tau in p.ringing:
        dt = t - t0
        g += np.where(dt >= 0, a * np.exp(-np.maximum(dt, 0) / tau) * np.sin(2 * np.pi * f * dt), 0)
    for t0, a, tau in p.creep:
        dt = t - t0
        g += np.where(dt >= 0, a * (1 - np.exp(-np.maximum(dt, 0) / tau)), 0)
    for t0, a in p.spikes:
        g[np.argmin(np.abs(t - t0))] += a
    for t0, t1 in p.gaps:
        g[(t >= t0) & (t < t1)] = np.nan
    return t, g


def take(t0: float, delta_g: float, hand_g: float = 300.0, dur_s: float = 0.8
         ) -> dict:
    """Script pieces of a realistic take/put-back: hand press, item moves, ringing."""
    return {"presses": [(t0, t0 + dur_s, hand_g)],
            "steps": [(t0 + 0.3, delta_g, 0.2)],
            "ringing": [(t0 + dur_s + 0.1, 0.2 * hand_g, 6.0, 0.12)]}


def merge_scripts(*parts: dict, **kw) -> PlateScript:
    """Build a PlateScript from several :func:`take`-style dicts plus keyword
    fields (list fields are concatenated)."""
    acc: dict = {}
    for part in (*parts, kw):
        for k, v in part.items():
            if isinstance(v, list | tuple):
                acc.setdefault(k, []).extend(v)
            else:
                acc[k] = v
    return PlateScript(**acc)


def make_samples(scripts: Sequence[PlateScript], duration_s: float, seed: int = 0) -> np.ndarray:
    """Interleave the plates' signals into one time-ordered WEIGHT_DTYPE array."""
    rng = np.random.default_rng(seed)
    parts = []
    for i, p in enumerate(scripts):
        t, g = plate_signal(p, duration_s, rng)
        a = np.zeros(t.size, WEIGHT_DTYPE)
        a["t"], a["cell"], a["grams"] = t, i, g
        parts.append(a)
    out = np.concatenate(parts)
    return out[np.argsort(out["t"], kind="stable")]


def make_store(n_cells: int = 3, skus: dict[str, tuple[float, float]] | None = None,
               cell_skus: Sequence[Sequence[str]] | None = None, width_m: float = 0.4,
               gap_m: float = 0.01, noise_g: float | None = None,
               levels: Sequence[int] | None = None) -> Store:
    """A store with plates side by side along x (level k at height 1.0 + 0.3 k)."""
    skus = skus or {"cola": (352.0, 2.5), "chips": (55.0, 1.5), "water": (510.0, 3.0)}
    cell_skus = cell_skus or [["cola"]] * n_cells
    levels = levels or [0] * n_cells
    cells = []
    for i in range(n_cells):
        x0 = i * (width_m + gap_m)
        z = 1.0 + 0.3 * levels[i]
        cells.append(Cell(id=f"P{i}", front=np.array([[x0, 2.0, z], [x0 + width_m, 2.0, z]]),
                          skus=tuple(cell_skus[i]), noise_g=noise_g))
    catalogue = {k: Sku(k, k, w, s) for k, (w, s) in skus.items()}
    return Store(name="test", skus=catalogue, cells=tuple(cells), gates=())


def run(det, samples: np.ndarray, chunk_s: float = 0.5) -> list[ShelfEvent]:
    """Feed ``samples`` in chunks of ``chunk_s`` seconds, then flush; all events."""
    events: list[ShelfEvent] = []
    if samples.size:
        edges = np.arange(samples["t"].min(), samples["t"].max() + chunk_s, chunk_s)
        idx = np.searchsorted(samples["t"], edges[1:], side="left")
        for part in np.split(samples, idx):
            events += det.process(part)
    return events + det.flush()


# ------------------------------------------------------------------ sanity


def test_generator_rates_and_gaps():
    s = make_samples([PlateScript(rate_hz=10, gaps=[(1.0, 2.0)]),
                      PlateScript(rate_hz=80, phase_s=0.003)], 4.0)
    assert np.all(np.diff(s["t"]) >= 0)
    a = s[s["cell"] == 0]
    assert 38 <= a.size <= 41
    assert np.isnan(a["grams"][(a["t"] >= 1.0) & (a["t"] < 2.0)]).all()
    assert (s["cell"] == 1).sum() == 320


def test_generator_take_changes_level():
    s = make_samples([merge_scripts(take(1.0, -352.0), noise_g=0.0)], 4.0)
    g = s["grams"]
    assert abs(g[-1] - g[0] + 352.0) < 1e-3
    assert g.max() > 2000 + 200  # the hand pressed
