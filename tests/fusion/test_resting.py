"""fusion.resting: a take split in two by a hand resting on the plate is re-joined."""

from __future__ import annotations

from fusion.inference import ItemInference
from fusion.resting import fit_z, join_resting_splits
from fusion.types import ShelfEvent

from .test_weight_signals import make_store

STORE = make_store(2, skus={"cola": (352.0, 2.5), "popcorn": (95.0, 3.0)},
                   cell_skus=[["cola", "popcorn"], ["cola"]])
INF = ItemInference(STORE)


def ev(t0, t1, grams, cell=0, sd=0.5) -> ShelfEvent:
    return ShelfEvent(t0, t1, t1 + 0.4, (cell,), (float(grams),), (sd,))


def test_resting_hand_split_is_rejoined():
    # popcorn lifted with a finger still resting (14 g), released with the next take of a cola
    first, second = ev(12.8, 13.6, -81.0), ev(14.0, 14.7, -366.0)
    assert fit_z(first, (("popcorn", 1),), STORE) > 3
    (one,) = join_resting_splits([first, second], STORE, INF)
    assert one.total_g == -447.0 and (one.t_start, one.t_end) == (12.8, 14.7)
    assert INF.hypotheses(one)[0].items == (("cola", 1), ("popcorn", 1))


def test_good_fits_far_apart_or_other_plates_stay_apart():
    a, b = ev(10.0, 10.8, -95.5), ev(11.2, 12.0, -352.5)
    assert join_resting_splits([a, b], STORE, INF) == [a, b]  # both fit whole items
    a, b = ev(10.0, 10.8, -81.0), ev(13.0, 13.7, -366.0)
    assert join_resting_splits([a, b], STORE, INF) == [a, b]  # 2.2 s apart
    a, b = ev(10.0, 10.8, -81.0), ev(11.0, 11.7, -366.0, cell=1)
    assert join_resting_splits([a, b], STORE, INF) == [a, b]  # another plate
