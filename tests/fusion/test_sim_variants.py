"""Simulator knobs for recordings unlike ours (tests/scenarios/test_variants.py
replays them) and the truth's floor positions."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from fusion.recording import open_recording
from fusion.sim import SCENARIOS, simulate
from fusion.sim.simulate import prepare
from fusion.sim.vision import VisionBlocks

CONCESSION = SCENARIOS["concession"]


def test_truth_events_carry_where_the_person_stood():
    _, layout, plan = prepare("concession", 4, duration_s=120.0)
    assert plan.truth.events
    fronts = {c.id: c.front for c in layout.store.cells}
    for e in plan.truth.events:
        assert e.xy is not None
        here = []
        for p in plan.people:
            if p.account == e.shopper and p.t_start <= e.t <= p.t_end:
                here.append(np.hypot(np.interp(e.t, p.path[:, 0], p.path[:, 1]) - e.xy[0],
                                     np.interp(e.t, p.path[:, 0], p.path[:, 2]) - e.xy[1]))
        assert min(here) < 0.002, e  # one of the account's people stood exactly there
        # ... in front of the shelf, within arm's reach of the plate
        a, b = fronts[e.cell][0, :2], fronts[e.cell][1, :2]
        gap = np.linalg.norm(np.clip(e.xy, np.minimum(a, b), np.maximum(a, b)) - np.asarray(e.xy))
        assert 0.3 < gap < 1.2, e


def test_clock_start_shifts_every_file(tmp_path):
    shifted = replace(SCENARIOS["easy"], clock_start_s=86400.0)
    simulate("easy", 1, tmp_path / "a", duration_s=60.0)
    simulate(shifted, 1, tmp_path / "b", duration_s=60.0)
    a, b = open_recording(tmp_path / "a"), open_recording(tmp_path / "b")
    wa, wb = (np.concatenate(list(r.iter_weights())) for r in (a, b))
    assert len(wa) == len(wb) and wb["t"].min() >= 86400.0
    np.testing.assert_allclose(wb["t"] - wa["t"], 86400.0, atol=2e-3)
    np.testing.assert_array_equal(wa["grams"], wb["grams"])
    assert [t.t + 86400.0 for t in a.read_taps()] == pytest.approx([t.t for t in b.read_taps()])
    ta, tb = a.read_truth(), b.read_truth()
    assert [e.t + 86400.0 for e in ta.events] == pytest.approx([e.t for e in tb.events])
    assert [s.exit_t + 86400.0 for s in ta.shoppers.values()] == \
        pytest.approx([s.exit_t for s in tb.shoppers.values()])
    fa = [json.loads(x)["t"] for x in (tmp_path / "a" / "vision.jsonl").read_text().splitlines()]
    fb = [json.loads(x)["t"] for x in (tmp_path / "b" / "vision.jsonl").read_text().splitlines()]
    assert np.allclose(np.array(fb) - np.array(fa), 86400.0, atol=2e-3)


def test_body_only_vision_has_no_hands(tmp_path):
    scn = replace(CONCESSION, vision=replace(CONCESSION.vision, hands=False))
    simulate(scn, 0, tmp_path, duration_s=60.0)
    frames = [json.loads(x) for x in (tmp_path / "vision.jsonl").read_text().splitlines()]
    people = [p for f in frames for p in f["people"]]
    assert people and not any("hands" in p for p in people)


def test_constant_camera_offset_is_added_to_every_camera():
    base = prepare("concession", 0, duration_s=60.0)
    late = replace(CONCESSION, vision=replace(CONCESSION.vision, clock_offset_mean_s=0.05))
    _, layout, plan = prepare(late, 0, duration_s=60.0)
    a = VisionBlocks(base[0].vision, base[1], base[2].people, 0).cameras
    b = VisionBlocks(late.vision, layout, plan.people, 0).cameras
    assert [c.offset_s + 0.05 for c in a] == pytest.approx([c.offset_s for c in b])


def test_gate_kinds_and_their_validation(tmp_path):
    both = replace(CONCESSION, layout=replace(CONCESSION.layout, gate_kinds=("both", "both")))
    simulate(both, 0, tmp_path, duration_s=60.0)
    assert [g.kind for g in open_recording(tmp_path).store.gates] == ["both", "both"]
    with pytest.raises(ValueError, match="gate_kinds"):
        replace(CONCESSION, layout=replace(CONCESSION.layout, gate_kinds=("exit", "entry")))
    with pytest.raises(ValueError, match="clock_start_s"):
        replace(CONCESSION, clock_start_s=-1.0)


def test_rush_is_denser_but_bodies_keep_apart():
    """``rush``: the concession store with more people on the floor than
    concession ever allows (10), still never closer than 0.4 m once inside."""
    rush, conc = SCENARIOS["rush"], SCENARIOS["concession"]
    assert rush.layout == conc.layout and rush.loadcell == conc.loadcell
    assert rush.vision.miss_p > conc.vision.miss_p and rush.vision.false_per_s > conc.vision.false_per_s
    _, _, plan = prepare("rush", 1, duration_s=150.0)
    t = np.arange(0.0, plan.end_s, 0.05)
    xy = np.full((len(plan.people), len(t), 2), np.nan)
    for i, p in enumerate(plan.people):
        m = (t >= p.gate_t) & (t <= p.t_end)
        xy[i, m, 0] = np.interp(t[m], p.path[:, 0], p.path[:, 1])
        xy[i, m, 1] = np.interp(t[m], p.path[:, 0], p.path[:, 2])
    assert np.sum(~np.isnan(xy[:, :, 0]), axis=0).max() > conc.crowd.max_people
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    pairs = d[np.triu_indices(len(plan.people), 1)]
    closest = np.array([np.nanmin(x) for x in pairs if not np.all(np.isnan(x))])
    assert closest.min() >= 0.4 and np.sum(closest < 0.6) >= 20
