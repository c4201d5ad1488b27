"""The engine tells the weight path when nobody can reach a plate (vision's
hands-away cue): a light put-back that looks like a lean is decided at once
when the floor in front of the plate is empty, and waits while somebody stands
there."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fusion.engine import Engine, EngineConfig
from fusion.types import PersonDetection, VisionFrame

from .test_weight_signals import make_samples, make_store, merge_scripts, take

HAND_LEAVES_S = 3.0 + 0.8  # take() below: the hand is on the plate 3.0-3.8 s


def _replay(config: EngineConfig, person_xy: tuple[float, float] | None,
            frames_from_s: float = 0.0, person_until_s: float = 1e9):
    """One 40 g plate (front edge y = 2 m, x 0-0.4 m), a 40 g put-back at 3 s
    with a light hand on 3 g noise; camera frames every 0.1 s from
    ``frames_from_s``, with one person at ``person_xy`` or nobody. Returns the
    engine's decisions. The person is in the frames until ``person_until_s``."""
    store = make_store(1, skus={"item": (40.0, 1.0)}, cell_skus=[["item"]])
    s = make_samples([merge_scripts(take(3.0, 40.0, hand_g=5.0), noise_g=3.0, rate_hz=20.0)], 12.0, 5)
    eng = Engine(store, config)
    people = () if person_xy is None else (PersonDetection(np.array(person_xy), 0.9),)
    for k in range(120):
        t = 0.1 * k
        chunk = s[(s["t"] >= t) & (s["t"] < t + 0.1)]
        eng.feed(chunk)
        if t >= frames_from_s:
            eng.feed(VisionFrame(t + 0.05, "C1", people if t < person_until_s else ()))
    eng.finish()
    return [d for d in eng.decisions if d.items]


def test_put_back_is_decided_at_once_when_nobody_stands_at_the_plate():
    fast = _replay(EngineConfig(), None)
    assert [d.items for d in fast] == [(("item", -1),)]
    assert fast[0].event.t_final <= HAND_LEAVES_S + 1.0
    off = _replay(dataclasses.replace(EngineConfig(), hands_clear_m=None), None)
    assert [d.items for d in off] == [(("item", -1),)]
    assert off[0].event.t_final > HAND_LEAVES_S + 3.0


@pytest.mark.parametrize("xy", [(0.2, 2.5), (0.9, 3.0)])
def test_somebody_within_reach_keeps_the_hold(xy):
    held = _replay(EngineConfig(), xy)
    assert [d.items for d in held] == [(("item", -1),)]
    assert held[0].event.t_final > HAND_LEAVES_S + 3.0


def test_somebody_out_of_reach_does_not():
    d = _replay(EngineConfig(), (0.2, 4.0))
    assert d[0].event.t_final <= HAND_LEAVES_S + 1.0


def test_no_camera_frames_no_cue():
    # vision silent after 2 s: nothing says the hands are gone
    d = _replay(EngineConfig(), None, frames_from_s=1e9)
    assert d[0].event.t_final > HAND_LEAVES_S + 3.0


def test_somebody_who_vanishes_at_the_plate_still_counts_for_a_while():
    # seen at the plate until 3.5 s, then in no frame (occluded): the lost
    # track holds the cue back for hands_lost_s (2 s) after it was last seen
    d = _replay(EngineConfig(), (0.2, 2.5), person_until_s=3.5)
    assert HAND_LEAVES_S + 1.0 < d[0].event.t_final <= 3.5 + 2.0 + 1.0
