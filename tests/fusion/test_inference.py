"""ItemInference: (SKU, count) posteriors of shelf events."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion.inference import InferenceConfig, ItemInference, combination_table
from fusion.types import ShelfEvent

from .test_weight_signals import make_store

SKUS = {"cola": (352.0, 2.5), "cola-b": (350.0, 2.5), "chips": (55.0, 1.5),
        "water": (510.0, 3.0), "tea-a": (250.0, 2.0), "tea-b": (250.0, 2.0)}
STORE = make_store(5, skus=SKUS, cell_skus=[["cola"], ["cola-b"], ["cola", "chips"], ["water"],
                                            ["tea-a", "tea-b"]])
INF = ItemInference(STORE)


def ev(cells, deltas, sds=None) -> ShelfEvent:
    sds = sds or [1.0] * len(cells)
    return ShelfEvent(0.0, 1.0, 1.5, tuple(cells), tuple(float(d) for d in deltas),
                      tuple(float(s) for s in sds))


def best(event, **kw):
    h = INF.hypotheses(event, **kw)
    assert math.isclose(sum(x.probability for x in h), 1.0, rel_tol=1e-9)
    assert all(a.probability >= b.probability for a, b in zip(h, h[1:], strict=False))
    return h[0].items, h[0].probability


def test_single_and_multi_item_takes():
    assert best(ev([0], [-351.0]))[0] == (("cola", 1),)
    assert best(ev([0], [-1057.5], [2.0]))[0] == (("cola", 3),)
    items, p = best(ev([0], [-1760.0], [2.0]))
    assert items == (("cola", 5),) and p > 0.9


def test_two_sku_take():
    assert best(ev([2], [-352.0 - 110.0]))[0] == (("chips", 2), ("cola", 1))
    assert best(ev([2], [-704.0 - 55.0]))[0] == (("chips", 1), ("cola", 2))


def test_put_back_and_misplaced_return():
    assert best(ev([0], [352.5]), basket={"cola": 1})[0] == (("cola", -1),)
    # a cola put back on the water plate: only the basket makes it a candidate
    assert best(ev([3], [351.0]), basket={"cola": 2})[0] == (("cola", -1),)
    assert best(ev([3], [165.0]), basket={"chips": 3, "cola": 1})[0] == (("chips", -3),)


def test_put_back_is_limited_to_what_the_shopper_holds():
    assert best(ev([2], [704.0]), basket={"cola": 2})[0] == (("cola", -2),)
    # tea-a and tea-b weigh the same: the one held is the one put back
    assert best(ev([4], [250.0]), basket={"tea-a": 0, "tea-b": 1})[0] == (("tea-b", -1),)
    assert best(ev([4], [500.0]), basket={"tea-a": 1, "tea-b": 1})[0] == (
        ("tea-a", -1), ("tea-b", -1))


def test_near_identical_skus_are_separated_by_the_plate():
    assert best(ev([0], [-351.0]))[0] == (("cola", 1),)
    assert best(ev([1], [-351.0]))[0] == (("cola-b", 1),)


def test_holding_cue_breaks_a_tie():
    h = INF.hypotheses(ev([4], [-250.0]))
    assert abs(h[0].probability - h[1].probability) < 1e-6
    assert best(ev([4], [-250.0]), holding={"tea-b": 0.9})[0] == (("tea-b", 1),)


def test_no_item_for_small_changes():
    assert best(ev([0], [-9.0], [2.0]))[0] == ()
    assert best(ev([0], [4.0], [2.0]))[0] == ()


def test_off_planogram_take_when_nothing_else_fits():
    assert best(ev([0], [-55.0]))[0] == (("chips", 1),)


def test_multi_plate_event_uses_all_its_plates():
    e = ev([0, 2], [-200.0, -152.0])
    assert best(e)[0] == (("cola", 1),)
    assert INF.best_line_cell(e) == 0
    assert INF.best_line_cell(ev([0, 2], [-20.0, -100.0]), sku="cola") == 2
    assert INF.best_line_cell(ev([0, 3], [-300.0, -400.0]), sku="cola") == 0


def test_combination_table_shape():
    t = combination_table(3, 5)
    singles, pairs, swaps = 3 * 5, 3 * 10, 6 * 10
    assert t.shape == (2 * (singles + pairs) + swaps, 3)
    assert ((t != 0).sum(1) <= 2).all() and (np.abs(t).sum(1) <= 5).all()
    mixed = (t > 0).any(1) & (t < 0).any(1)
    assert mixed.sum() == swaps
    assert len({tuple(r) for r in t}) == t.shape[0]


def test_swap_take_one_sku_return_another():
    # a water returned onto the cola/chips plate while a cola is taken: +510 - 352
    items, _ = best(ev([2], [158.0]), basket={"water": 1})
    assert items == (("cola", 1), ("water", -1))


def test_bad_config_and_event():
    with pytest.raises(ValueError):
        InferenceConfig(max_items=0)
    with pytest.raises(ValueError):
        INF.hypotheses(ev([0], [float("nan")]))


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.integers(0, 4), min_size=1, max_size=3, unique=True),
       total=st.floats(-3000, 3000), sd=st.floats(0.05, 20.0),
       basket=st.dictionaries(st.sampled_from(sorted(SKUS)), st.integers(0, 6), max_size=3),
       holding=st.dictionaries(st.sampled_from(sorted(SKUS)), st.floats(0, 1), max_size=2))
def test_probabilities_sum_to_one(cells, total, sd, basket, holding):
    deltas = [total / len(cells)] * len(cells)
    h = INF.hypotheses(ev(cells, deltas, [sd] * len(cells)), basket=basket, holding=holding)
    assert h and math.isclose(sum(x.probability for x in h), 1.0, rel_tol=1e-9)
    assert all(0 <= x.probability <= 1 for x in h)
    for x in h:
        assert len(x.items) <= 2 and all(q != 0 for _, q in x.items)
        assert sum(abs(q) for _, q in x.items) <= 5


def test_a_stray_put_back_stays_on_its_plate_until_taken():
    inf = ItemInference(STORE)
    take = ev([3], [-352.0])
    # a clear fit is still taken from a plate that does not stock it (a stocking error)
    assert inf.hypotheses(take)[0].items == (("cola", 1),)
    assert inf.strays([3]) == {}
    # a cola put back onto the water plate stays there ...
    inf.note_moved((3,), (("cola", -1),))
    assert inf.strays([3]) == {"cola": 1} and inf.strays([2]) == {}
    # ... until it is taken again; stocked SKUs never become strays
    inf.note_moved((3,), (("cola", 1), ("water", -1)))
    assert inf.strays([3]) == {}


def test_an_off_plate_take_needs_a_much_better_fit_than_the_plate_sku():
    # 531 g from a 545 +- 4.5 g plate is a 3-sigma reading, not a 530 g product that is
    # stocked on another plate and was never put here
    skus = {"tea": (545.0, 4.5), "beer": (530.0, 4.0)}
    store = make_store(2, skus=skus, cell_skus=[["tea"], ["beer"]])
    inf = ItemInference(store)
    assert inf.hypotheses(ev([0], [-531.0]))[0].items == (("tea", 1),)
    inf.note_moved((0,), (("beer", -1),))
    assert inf.hypotheses(ev([0], [-531.0]))[0].items == (("beer", 1),)


def test_a_stray_among_many_own_units_is_rarely_the_one_taken():
    # one nuts (50 g) put back among the candy (50 g): without the plate's level
    # the next 50 g take is a coin toss; with 20 candies beside it, the stray
    # is one unit in 21
    skus = {"candy": (50.0, 1.5), "nuts": (50.0, 1.5)}
    store = make_store(2, skus=skus, cell_skus=[["candy"], ["nuts"]])
    levels = np.array([1000.0 + 50.0, 800.0])  # 20 candies + the stray, after the take
    blind, counted = ItemInference(store), ItemInference(store, levels_g=lambda: levels)
    for inf in (blind, counted):
        inf.note_moved((0,), (("nuts", -1),))

    def p_stray(inf):
        h = inf.hypotheses(ev([0], [-50.0]))
        return sum(x.probability for x in h if x.items == (("nuts", 1),))

    assert 0.3 < p_stray(blind) < 0.7
    assert 0.02 < p_stray(counted) < 0.08
    levels[0] = 50.0  # only the stray is left: it is what a take takes
    assert p_stray(counted) > 0.3
    levels[0] = np.nan  # level unknown: as without levels
    assert p_stray(counted) == pytest.approx(p_stray(blind))


def test_a_stocked_product_read_off_its_weight_beats_many_units_that_fit():
    # a cola-zero (350 +- 2.5 g) read at 335.6 g (a hand still resting on the
    # plate) is not five 66 g pretzels stocked elsewhere that happen to fit
    skus = {"cola-zero": (350.0, 2.5), "pretzel": (66.0, 2.0)}
    store = make_store(2, skus=skus, cell_skus=[["cola-zero"], ["pretzel"]])
    e = ev([0], [-335.6], [0.4])
    assert ItemInference(store).hypotheses(e)[0].items == (("cola-zero", 1),)
    plain = ItemInference(store, InferenceConfig(outlier_p=0.0))
    assert plain.hypotheses(e)[0].items == (("pretzel", 5),)
    # a clean reading is as sure as before, and the outlier share is validated
    assert ItemInference(store).hypotheses(ev([0], [-350.5], [0.4]))[0].probability > 0.99
    with pytest.raises(ValueError, match="outlier_p"):
        InferenceConfig(outlier_p=-0.1)
    with pytest.raises(ValueError, match="outlier_p"):
        InferenceConfig(outlier_p=1.0)
