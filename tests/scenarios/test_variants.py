"""Replay simulated stores that differ from ours the way another generator's
would: camera count and frame rate, load-cell rate and jitter, a store clock
that does not start near 0, plate layouts, body-only vision, no product cues,
parties on every tap, gates of kind ``both``, long weight gaps, a 5 g scale
division, a constant camera clock offset (issue #3).

Each variant is the ``concession`` store over ``DURATION_S`` with one thing
changed (``VARIANTS``); the bounds below were measured on seeds 0-2 and are
set a little below the worst seed (see docs/simulator.md, "Variants").
``python -m tests.scenarios.test_variants`` prints the measurements.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fusion.engine import Engine
from fusion.recording import Recording
from fusion.scoring import Scorecard, score
from fusion.sim import SCENARIOS, Scenario, simulate

DURATION_S = 100.0
BASE = SCENARIOS["concession"]
_CAT = BASE.layout.catalogue


def _vision(**kw) -> Scenario:
    return replace(BASE, vision=replace(BASE.vision, **kw))


def _cells(**kw) -> Scenario:
    return replace(BASE, loadcell=replace(BASE.loadcell, **kw))


def _layout(**kw) -> Scenario:
    return replace(BASE, layout=replace(BASE.layout, **kw))


#: name -> the concession store with one thing changed
VARIANTS: dict[str, Scenario] = {
    "ours": BASE,
    "one_camera": _vision(cameras=1),
    "vision_5fps": _vision(hz=(5.0, 5.0)),
    "vision_30fps": _vision(hz=(30.0, 30.0)),
    "cells_5hz_jitter": _cells(hz_choices=(5.0,), hz_p=(1.0,), jitter_s=0.03),
    "cells_100hz_jitter": _cells(hz_choices=(100.0,), hz_p=(1.0,), jitter_s=0.004),
    "clock_86400": replace(BASE, clock_start_s=86400.0),
    "one_plate_per_level": _layout(plates_per_level=1, plate_width_m=1.6, two_sku_plate_p=1.0,
                                   stock=(8, 12)),
    "narrow_plates": _layout(plates_per_level=16, plate_width_m=0.1,
                             catalogue=tuple(replace(s, span=2) for s in _CAT)),
    "body_only": _vision(hands=False),
    "no_holding": _vision(holding_p=0.0),
    "parties_every_tap": replace(BASE, crowd=replace(BASE.crowd, party_p=(0.0, 0.6, 0.4))),
    "gates_both": _layout(gate_kinds=("both", "both")),
    "long_weight_gaps": _cells(dropout_rate_hz=1.0 / 60.0, dropout_mean_s=4.0),
    "camera_offset_50ms": _vision(clock_offset_mean_s=0.05),
    "noisy_positions": _vision(pos_noise_m=(0.15, 0.25)),
    "scale_5g": _cells(resolution_g=5.0),
    # everything another generator might do differently, at once
    "all_foreign": replace(
        BASE, clock_start_s=86400.0,
        vision=replace(BASE.vision, cameras=1, hz=(5.0, 5.0), hands=False, holding_p=0.0,
                       clock_offset_mean_s=0.05),
        loadcell=replace(BASE.loadcell, hz_choices=(5.0,), hz_p=(1.0,), jitter_s=0.03,
                         dropout_rate_hz=1.0 / 60.0, dropout_mean_s=4.0),
        layout=replace(BASE.layout, gate_kinds=("both", "both")),
        crowd=replace(BASE.crowd, party_p=(0.0, 0.6, 0.4))),
}


def replay(folder: Path) -> tuple[Recording, Engine, Scorecard]:
    rec = Recording(folder)
    eng = Engine(rec.store)
    for item in rec.stream():
        eng.feed(item)
    eng.finish()
    return rec, eng, score(eng.receipts(), rec.read_truth())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cache = {}

    def make(name: str, seed: int = 0):
        if (name, seed) not in cache:
            out = tmp_path_factory.mktemp(f"{name}-{seed}")
            simulate(VARIANTS[name], seed, out, duration_s=DURATION_S)
            cache[name, seed] = replay(out)
        return cache[name, seed]
    return make


def check(rec: Recording, eng: Engine, card: Scorecard, *, unit_recall: float, wrong: int) -> None:
    """One receipt per tapped account, lines matching truth, wrong charges bounded."""
    taps = rec.read_taps()
    receipts = eng.receipts()
    assert sorted(r.shopper for r in receipts) == sorted({t.shopper for t in taps})
    assert card.missing_receipts == 0
    assert card.unit_recall >= unit_recall, card.lines()
    assert card.wrong <= wrong, card.lines()
    t0 = min(t.t for t in taps)
    assert all(r.decided_t >= t0 for r in receipts)


#: name -> unit recall at least, on seed 0 (worst of seeds 0-2 measured, rounded down)
RECALL = {name: 0.9 for name in VARIANTS} | {"one_plate_per_level": 0.85}
#: wrong charges at most, on seed 0 (measured: 0-1 on every variant and seed 0-2)
WRONG = 1


#: variants the engine does badly on (strict: a pass shows the fix and fails here)
KNOWN_BAD: dict[str, str] = {
    # "one_plate_per_level" was here: a cola take split by a resting hand into -81 g and
    # -366 g was charged as 1 + 4 popcorn; fusion/resting.py re-joins such splits. Its
    # remaining wrong charge (a +352 g misplaced put-back and a -355 g take 1.7 s apart on
    # one plate, summed to nothing by the weight path) is within WRONG.
}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BAD[n])) if n in KNOWN_BAD else n
    for n in sorted(VARIANTS)])
def test_variant_replays(run, name):
    rec, eng, card = run(name)
    check(rec, eng, card, unit_recall=RECALL[name], wrong=WRONG)


def test_a_late_store_clock_gives_the_same_receipts(run):
    _, base, _ = run("ours")
    _, late, _ = run("clock_86400")
    assert [dict(r.items) for r in late.receipts()] == [dict(r.items) for r in base.receipts()]
    assert [r.review for r in late.receipts()] == [r.review for r in base.receipts()]
    assert all(r.decided_t > 86400.0 for r in late.receipts())


def test_noisy_positions_are_tracked_with_the_noise_learned(run):
    """Floor positions scattered 0.15-0.25 m (the presets: 0.05-0.12 m): the
    tracker raises its measurement noise to what it learns from the cameras
    (``TrackerConfig.learn_noise``). Seeds 0-4 measured, attribution with /
    without learning: 0.88 / 0.74, 1.0 / 1.0, 0.91 / 0.74, 1.0 / 0.92, 1.0 / 0.82."""
    _, eng, card = run("noisy_positions")
    assert eng.tracker.meas_sd_m >= 0.15
    assert card.attribution_accuracy >= 0.85, card.lines()


def test_a_5g_scale_division_is_learned_and_floors_the_noise(run):
    """Every plate of the ``scale_5g`` store reads in 5 g steps: the detector
    learns the division and keeps each plate's noise at >= 2.5 g (with the
    learning off, seeds 0-2 gave unit recall 0.86-1.00 and a wrong charge)."""
    _, eng, _ = run("scale_5g")
    q = eng.weights.resolution_g()
    assert (q[np.isfinite(q)] == 5.0).all() and np.isfinite(q).sum() >= len(q) // 2
    assert (eng.weights.noise_g()[np.isfinite(q)] >= 2.5).all()


def test_plates_polled_slower_than_store_toml_says(tmp_path):
    """Every plate read at 2 Hz while ``store.toml`` still states 40 Hz (a
    controller polled slower than its channels' nominal rate): the detector
    learns the real rate from the timestamps (docs/weight-pipeline.md).
    Seeds 0-2 measured before that: 7 / 5 / 5 wrong charges of 9 / 5 / 8
    sales, unit recall 0.21-0.36; after: 0 wrong, unit recall 0.86-1.00."""
    out = tmp_path / "slow"
    simulate(_cells(hz_choices=(2.0,), hz_p=(1.0,), jitter_s=0.03), 0, out, duration_s=DURATION_S)
    toml = out / "store.toml"
    toml.write_text(re.sub(r"sample_hz = [0-9.]+", "sample_hz = 40.0", toml.read_text()))
    rec, eng, card = replay(out)
    assert rec.store.cells[0].sample_hz == 40.0
    check(rec, eng, card, unit_recall=0.9, wrong=WRONG)
    assert np.allclose(eng.weights.sample_interval_s(), 0.5, rtol=0.1)


def test_every_tap_a_party(run):
    rec, _, _ = run("parties_every_tap")
    assert all(t.party >= 2 for t in rec.read_taps())


def _measure(names: list[str], seeds: list[int], workdir: Path) -> None:
    for name in names:
        for seed in seeds:
            out = workdir / f"{name}-{seed}"
            try:
                simulate(VARIANTS[name], seed, out, duration_s=DURATION_S)
                rec, eng, card = replay(out)
            except Exception as exc:  # noqa: BLE001 - report and go on
                print(f"{name} seed {seed}: {type(exc).__name__}: {exc}", flush=True)
                continue
            taps = {t.shopper for t in rec.read_taps()}
            got = {r.shopper for r in eng.receipts()}
            print(f"{name} seed {seed}: taps {len(taps)} receipts ok {got == taps} sales {card.sales} "
                  f"reviews {card.reviews} wrong {card.wrong} unit recall {card.unit_recall:.3f} "
                  f"precision {card.unit_precision:.3f} attribution {card.attribution_accuracy:.3f} "
                  f"identity {card.identity_errors} other {card.attribution_errors}", flush=True)


if __name__ == "__main__":
    import tempfile
    names = sys.argv[1].split(",") if len(sys.argv) > 1 else list(VARIANTS)
    seeds = [int(s) for s in sys.argv[2].split(",")] if len(sys.argv) > 2 else [0, 1, 2]
    with tempfile.TemporaryDirectory() as tmp:
        _measure(names, seeds, Path(tmp))
