"""bench.weight_corpus.hand_cues: the simulated vision cue of the corpus bench."""

from __future__ import annotations

import dataclasses

import numpy as np

from bench.weight_corpus import hand_cues


@dataclasses.dataclass
class _Stub:
    hands: tuple


def test_cues_every_frame_from_the_hand_leaving_until_it_comes_back():
    plates = [_Stub(((1.0, 2.0), (2.5, 3.0), (10.0, 11.0))), _Stub(((4.0, 5.0), (4.5, 6.0)))]
    cues = hand_cues(plates, seed=0, miss_p=0.0)
    assert np.all(np.diff(cues[:, 1]) >= 0)
    p0 = cues[cues[:, 0] == 0, 1]
    first = p0[(p0 > 2.0) & (p0 < 2.5)]
    assert 2.1 <= first[0] <= 2.2 and np.allclose(np.diff(first), 0.1)  # stops when the hand is back at 2.5
    second = p0[(p0 > 3.0) & (p0 < 10.0)]
    assert 3.1 <= second[0] <= 3.2 and second[-1] < 3.0 + 0.2 + 2.0  # at most 2 s
    assert len(p0[p0 > 11.0]) == 20
    p1 = cues[cues[:, 0] == 1, 1]
    assert p1.min() >= 6.1  # 5.0 is inside the other hand's 4.5-6.0: no cue then


def test_missed_frames():
    plates = [_Stub(tuple((10.0 * k, 10.0 * k + 1.0) for k in range(200)))]
    cues = hand_cues(plates, seed=3, miss_p=0.1)
    assert abs(len(cues) / (200 * 20) - 0.9) < 0.02
