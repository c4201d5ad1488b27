"""fusion.resting: a take split in two by a hand resting on the plate is re-joined."""

from __future__ import annotations

from fusion.inference import InferenceConfig, ItemInference
from fusion.resting import Residue, carry_residue, fit_z, join_resting_splits, shed_pressed_plates
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


# ------------------------------------------------------- a hand resting on a neighbour
DRINKS = make_store(3, skus={"icetea": (545.0, 4.5), "water": (521.0, 4.0)},
                    cell_skus=[["icetea"], ["icetea"], ["water"]])
DRINK_INF = ItemInference(DRINKS)


def two(d0, d1, t0=91.13, t1=91.86, sd=0.76) -> ShelfEvent:
    return ShelfEvent(t0, t1, t1 + 0.4, (0, 1), (float(d0), float(d1)), (sd, sd))


def test_pressed_neighbour_is_shed_and_its_grams_kept():
    # an ice tea taken from plate 0 while a hand leans 34 g on plate 1: the sum
    # (-510 g) is nearer a water from another shelf than an ice tea
    merged = two(-544.7, 34.4)
    fit_only = ItemInference(DRINKS, InferenceConfig(outlier_p=0.0))
    assert fit_only.hypotheses(merged)[0].items == (("water", 1),)
    left, residues = shed_pressed_plates(merged, DRINK_INF)
    assert left.cells == (0,) and left.delta_g == (-544.7,)
    assert DRINK_INF.hypotheses(left)[0].items == (("icetea", 1),)
    assert residues == [Residue(1, 34.4, 0.76, 91.86)]


def test_product_across_plates_and_a_move_are_not_shed():
    across = two(-430.0, -115.0)  # one bottle resting on both plates
    assert shed_pressed_plates(across, DRINK_INF) == (across, [])
    small_share = two(-515.0, -30.0)  # 30 g on the neighbour, like a press, but the sum fits
    assert shed_pressed_plates(small_share, DRINK_INF) == (small_share, [])
    move = two(-545.0, 545.5)  # moved from one plate to the other in one reach
    assert shed_pressed_plates(move, DRINK_INF) == (move, [])


def test_residue_joins_the_plates_next_change_only_when_it_fits_better():
    pressed = {1: Residue(1, 34.4, 0.76, 91.86)}
    take = ShelfEvent(92.78, 93.09, 97.5, (1,), (-588.8,), (0.8,))  # release + ice tea
    out = carry_residue(take, dict(pressed), DRINK_INF)
    assert out.delta_g == (-588.8 + 34.4,)
    assert DRINK_INF.hypotheses(out)[0].items == (("icetea", 1),)
    clean = ShelfEvent(92.78, 93.09, 97.5, (1,), (-545.5,), (0.8,))  # the hand let go on its own
    assert carry_residue(clean, dict(pressed), DRINK_INF) == clean
    late = ShelfEvent(96.0, 96.5, 97.0, (1,), (-588.8,), (0.8,))  # more than carry_s later
    assert carry_residue(late, dict(pressed), DRINK_INF) == late
    left = dict(pressed)
    carry_residue(ShelfEvent(92.78, 93.09, 97.5, (0,), (-545.0,), (0.8,)), left, DRINK_INF)
    assert left == pressed  # another plate's change leaves the residue alone
    earlier = ShelfEvent(89.0, 89.6, 98.0, (1,), (-545.0,), (0.8,))  # decided late, began before
    assert carry_residue(earlier, left, DRINK_INF) == earlier and left == pressed
    carry_residue(clean, left, DRINK_INF)
    assert left == {}  # used up by the plate's next change
