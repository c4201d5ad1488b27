"""Multi-plate events: which simultaneous plate changes become one ShelfEvent."""

from __future__ import annotations

import numpy as np

from fusion.types import Cell, Sku, Store
from fusion.weight import PlateChange, WeightConfig, WeightDetector, neighbour_matrix
from fusion.weight.merge import explains_whole_items, group_changes

from .test_weight_signals import PlateScript, make_samples, make_store, merge_scripts, run, take

SKUS = {"water": (510.0, 3.0), "cola": (352.0, 2.5), "chips": (55.0, 1.5)}


def _pair(d0: float, d1: float, t1: float = 3.0, skus=(["water"], ["water"]), levels=(0, 0),
          seed: int = 0):
    store = make_store(2, skus=SKUS, cell_skus=list(skus), levels=list(levels))
    scripts = [merge_scripts(take(3.0, d0, hand_g=400.0), noise_g=1.0, rate_hz=20.0),
               merge_scripts(take(t1, d1, hand_g=300.0), noise_g=1.5, rate_hz=50.0,
                             phase_s=0.007)]
    return run(WeightDetector(store), make_samples(scripts, t1 + 6.0, seed))


def test_product_resting_across_two_plates_is_one_event():
    ev = _pair(-300.0, -210.0)
    assert len(ev) == 1
    e = ev[0]
    assert e.cells == (0, 1)
    assert abs(e.delta_g[0] + 300) < 4 and abs(e.delta_g[1] + 210) < 4
    assert abs(e.total_g + 510) < 5
    assert e.t_final >= e.t_end >= e.t_start


def test_two_whole_takes_at_once_stay_apart():
    ev = _pair(-510.0, -1020.0)
    assert sorted((e.cells, round(e.total_g / 510)) for e in ev) == [((0,), -1), ((1,), -2)]


def test_changes_that_do_not_overlap_in_time_stay_apart():
    ev = _pair(-300.0, -210.0, t1=7.0)
    assert sorted(e.cells for e in ev) == [(0,), (1,)]


def test_plates_on_different_levels_or_without_a_common_sku_stay_apart():
    ev = _pair(-300.0, -210.0, levels=(0, 1))
    assert sorted(e.cells for e in ev) == [(0,), (1,)]
    ev = _pair(-300.0, -210.0, skus=(["water"], ["cola"]))
    assert sorted(e.cells for e in ev) == [(0,), (1,)]


def test_a_small_partial_joins_its_neighbour():
    # 12 g of a 510 g bottle rested on the neighbour: too small alone, kept as a part
    ev = _pair(-498.0, -12.0)
    assert len(ev) == 1 and ev[0].cells == (0, 1)
    assert abs(ev[0].total_g + 510) < 5


def test_neighbour_matrix_geometry():
    def cell(i, x0, x1, z=1.0, y=2.0, skus=("cola",)):
        return Cell(f"C{i}", np.array([[x0, y, z], [x1, y, z]]), tuple(skus))

    cells = (cell(0, 0.0, 0.4), cell(1, 0.43, 0.8),           # 3 cm apart: neighbours
             cell(2, 0.9, 1.3),                                # 10 cm gap: not
             cell(3, 0.4, 0.8, z=1.3),                         # above plate 1: not
             cell(4, 0.8, 0.4, y=2.0),                         # reversed direction, touches 1
             cell(5, 0.8, 1.2, y=2.3),                         # behind: not on the line
             cell(6, -0.4, 0.0, skus=("chips",)))              # touches 0, no common SKU
    store = Store("g", {"cola": Sku("cola", "", 352, 2), "chips": Sku("chips", "", 55, 1)},
                  cells, ())
    nb = neighbour_matrix(store, WeightConfig())
    assert (nb == nb.T).all() and not nb.diagonal().any()
    pairs = {(i, j) for i, j in zip(*np.nonzero(nb), strict=True) if i < j}
    assert pairs == {(0, 1), (0, 4), (1, 4)}


def test_merge_rule_is_a_pure_function_of_the_changes():
    store = make_store(2, skus=SKUS, cell_skus=[["cola"], ["cola"]])
    cfg = WeightConfig()
    nb = neighbour_matrix(store, cfg)
    whole_a = PlateChange(0, 1.0, 2.0, 2.4, -352.0, 1.0)
    whole_b = PlateChange(1, 1.2, 2.1, 2.5, -704.5, 1.0)
    part_b = PlateChange(1, 1.2, 2.1, 2.5, -150.0, 1.0)
    late_b = PlateChange(1, 2.5, 3.0, 3.4, -150.0, 1.0)
    assert explains_whole_items(store, whole_b, cfg)
    assert not explains_whole_items(store, part_b, cfg)
    assert group_changes(store, nb, [whole_a, whole_b], cfg) == [[0], [1]]
    assert group_changes(store, nb, [whole_a, part_b], cfg) == [[0, 1]]
    assert group_changes(store, nb, [whole_a, late_b], cfg) == [[0], [1]]


def test_a_take_and_a_put_back_side_by_side_are_two_events():
    """Narrow plates, each popcorn (90 g) resting across two: one hand lifts
    a popcorn off plates 0-1 while another puts one back on plates 2-3. Every
    plate's change is half an item, so pairwise they all join; summed they
    cancel, and the engine used to see nothing (a `narrow_plates` variant of
    `concession`, seed 6: a take and a return missing from two receipts)."""
    store = make_store(4, skus={"popcorn": (90.0, 2.0)}, cell_skus=[["popcorn"]] * 4, width_m=0.1)
    cfg = WeightConfig()
    nb = neighbour_matrix(store, cfg)
    changes = [PlateChange(0, 80.2, 81.3, 81.4, -56.8, 1.0), PlateChange(1, 80.2, 81.3, 81.4, -36.1, 1.0),
               PlateChange(2, 81.3, 81.7, 81.8, 39.7, 1.0), PlateChange(3, 81.3, 81.7, 81.8, 51.4, 1.0)]
    assert sorted(group_changes(store, nb, changes, cfg)) == [[0, 1], [2, 3]]
    # a product slid from one plate onto its neighbour (no whole item either side) stays one event
    slid = [PlateChange(1, 80.2, 81.3, 81.4, -30.0, 1.0), PlateChange(2, 80.2, 81.3, 81.4, 30.0, 1.0)]
    assert group_changes(store, nb, slid, cfg) == [[0, 1]]
    # so does a plate that went both ways inside the group
    both = [PlateChange(0, 80.2, 81.3, 81.4, -45.0, 1.0), PlateChange(1, 80.2, 81.3, 81.4, -45.0, 1.0),
            PlateChange(1, 81.0, 81.7, 81.8, 45.0, 1.0), PlateChange(2, 81.0, 81.7, 81.8, 45.0, 1.0)]
    assert group_changes(store, nb, both, cfg) == [[0, 1, 2, 3]]


def test_an_event_waits_for_a_busy_neighbour():
    store = make_store(2, skus=SKUS, cell_skus=[["water"], ["water"]])
    scripts = [merge_scripts(take(3.0, -300.0, dur_s=0.5), noise_g=1.0, rate_hz=20.0),
               PlateScript(noise_g=1.0, rate_hz=20.0, presses=[(3.2, 5.0, 900.0)],
                           steps=[(4.6, -210.0, 0.2)])]
    det = WeightDetector(store)
    ev = run(det, make_samples(scripts, 9.0), chunk_s=0.1)
    assert len(ev) == 1 and ev[0].cells == (0, 1)
    assert ev[0].t_final > 5.0
