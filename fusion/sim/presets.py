"""Named scenarios: ``easy``, ``concession`` (the default), ``rush`` and ``aisle``."""

from __future__ import annotations

import numpy as np

from fusion.sim.scenario import (
    BehaviourSpec,
    CrowdSpec,
    LayoutSpec,
    LoadCellSpec,
    Scenario,
    SkuSpec,
    VisionSpec,
)

_EASY_CATALOGUE = (
    SkuSpec("mints-40", "Mints tin 40 g", 62.0, 1.0, 2.00),
    SkuSpec("soup-400", "Soup can 400 g", 455.0, 3.0, 2.20),
    SkuSpec("juice-1l", "Orange juice 1 l", 1085.0, 6.0, 3.10),
    SkuSpec("crackers-200", "Crackers 200 g", 232.0, 2.5, 1.80),
    SkuSpec("honey-700", "Honey jar 700 g", 780.0, 5.0, 6.50),
    SkuSpec("tea-100", "Tea box 100 g", 146.0, 1.5, 3.40),
)

_CONCESSION_CATALOGUE = (
    SkuSpec("cola-330", "Cola 330 ml can", 352.0, 2.5, 3.50, facings=2),
    SkuSpec("cola-zero-330", "Cola Zero 330 ml can", 350.0, 2.5, 3.50, facings=2),
    SkuSpec("orange-330", "Orange soda 330 ml can", 355.0, 2.5, 3.50, facings=2),
    SkuSpec("water-500", "Still water 500 ml", 521.0, 4.0, 3.00, facings=2),
    SkuSpec("beer-500", "Lager 500 ml can", 530.0, 4.0, 7.00, facings=2),
    SkuSpec("icetea-500", "Iced tea 500 ml", 545.0, 4.5, 4.00, facings=2),
    SkuSpec("chips-40", "Chips 40 g bag", 48.0, 1.5, 2.50, facings=2),
    SkuSpec("pretzel-60", "Pretzels 60 g", 66.0, 2.0, 2.50, facings=2),
    SkuSpec("candy-50", "Chocolate bar 50 g", 57.0, 1.2, 2.00, facings=2),
    SkuSpec("nuts-50", "Salted nuts 50 g", 56.0, 1.5, 3.00, facings=2),
    SkuSpec("popcorn-90", "Popcorn 90 g", 95.0, 3.0, 4.50, facings=2),
    SkuSpec("sandwich", "Ham sandwich", 210.0, 8.0, 6.50, facings=2),
)


def _aisle_catalogue() -> tuple[SkuSpec, ...]:
    """~60 grocery products; wide ones rest across 2-3 narrow plates."""
    rng = np.random.default_rng(2024)
    kinds = (  # (prefix, name, mean range g, relative sd, span)
        ("cereal", "Cereal box", (380, 760), 0.012, 3),
        ("pasta", "Pasta pack", (500, 1010), 0.008, 2),
        ("rice", "Rice bag", (1000, 2020), 0.006, 3),
        ("soup", "Soup can", (400, 460), 0.008, 1),
        ("beans", "Beans can", (410, 440), 0.008, 1),
        ("sauce", "Sauce jar", (520, 760), 0.01, 1),
        ("spice", "Spice jar", (40, 70), 0.03, 1),
        ("oil", "Cooking oil bottle", (900, 1850), 0.006, 2),
        ("cookies", "Cookies pack", (180, 320), 0.015, 2),
        ("tuna", "Tuna can", (160, 200), 0.015, 1),
    )
    out = []
    for prefix, name, (lo, hi), rel, span in kinds:
        for k in range(6):
            w = float(np.round(rng.uniform(lo, hi), 0))
            out.append(SkuSpec(f"{prefix}-{k + 1}", f"{name} #{k + 1}", w,
                               round(max(0.8, rel * w), 1), round(float(rng.uniform(1, 9)), 2),
                               span=span))
    order = rng.permutation(len(out))
    return tuple(out[i] for i in order)


EASY = Scenario(
    name="easy",
    description="one shelf unit, one shopper at a time, clearly different weights, low noise",
    duration_s=300.0,
    store_name="Easy corner shelf",
    layout=LayoutSpec(kind="wall", units=1, levels=2, plates_per_level=3, plate_width_m=0.45,
                      level_z_m=(0.8, 1.3), floor_depth_m=3.0, stock=(6, 9),
                      catalogue=_EASY_CATALOGUE, layout_seed=11),
    loadcell=LoadCellSpec(hz_choices=(10.0, 40.0), hz_p=(0.5, 0.5), noise_g_10hz=(0.2, 0.4),
                          drift_g=(0.1, 0.3), ring_fraction=(0.02, 0.06), crosstalk=(0.005, 0.015),
                          spike_p=0.0, dropout_rate_hz=1.0 / 900.0, dropout_mean_s=0.15,
                          error_p=0.0),
    crowd=CrowdSpec(arrival_per_min=3.0, party_p=(1.0, 0.0, 0.0), max_people=1,
                    arrival_tail_s=30.0, stops=(1, 1), actions=(1, 2), pause_s=(1.5, 3.0)),
    behaviour=BehaviourSpec(take_w=0.85, both_hands_w=0.0, pick_putback_w=0.0, return_w=0.15,
                            lean_w=0.0, double_take_p=0.1, wrong_plate_p=0.0,
                            lean_during_take_p=0.0, grip_press_g=(0.0, 30.0)),
    vision=VisionSpec(cameras=3, miss_p=0.02, false_per_s=0.0, duplicate_p=0.0,
                      pos_noise_m=(0.04, 0.06), hand_noise_m=(0.02, 0.04), hand_miss_p=0.05,
                      holding_wrong_p=0.0),
)

CONCESSION = Scenario(
    name="concession",
    description="arena grab-and-go stand in a half-time rush: 2 units x 3 levels x 4 plates, "
                "12 SKUs incl. near-identical cans and light snacks, up to 10 people",
    duration_s=480.0,
    store_name="Arena concession K3",
    layout=LayoutSpec(catalogue=_CONCESSION_CATALOGUE, stock=(18, 28)),
    crowd=CrowdSpec(actions=(1, 2)),
)

RUSH = Scenario(
    name="rush",
    description="the concession stand at the peak of the rush: about twice the people on the same "
                "floor (up to 20), bigger parties, a busier gate, worse vision from the crowding",
    duration_s=480.0,
    store_name="Arena concession K3",
    layout=LayoutSpec(catalogue=_CONCESSION_CATALOGUE, stock=(18, 28)),
    crowd=CrowdSpec(arrival_per_min=16.0, party_p=(0.35, 0.35, 0.30), max_people=20,
                    gate_headway_s=(1.0, 2.0), actions=(1, 2)),
    vision=VisionSpec(pos_noise_m=(0.08, 0.15), miss_p=0.10, occlusion_miss_p=0.18,
                      false_per_s=0.15, duplicate_p=0.04, hand_miss_p=0.3, holding_wrong_p=0.3),
)

AISLE = Scenario(
    name="aisle",
    description="grocery aisle: ~300 narrow plates at 60 Hz, wide products across 2-3 plates, "
                "some plates with two SKUs, gzipped files",
    duration_s=240.0,
    store_name="Grocery aisle 7",
    layout=LayoutSpec(kind="aisle", units=2, levels=5, plates_per_level=30, plate_width_m=0.10,
                      level_z_m=(0.25, 0.6, 0.95, 1.3, 1.65), floor_depth_m=1.9, stock=(4, 8),
                      two_sku_plate_p=0.25, catalogue=_aisle_catalogue(), layout_seed=5),
    loadcell=LoadCellSpec(hz_choices=(60.0,), hz_p=(1.0,), noise_g_10hz=(0.4, 0.9)),
    crowd=CrowdSpec(arrival_per_min=4.0, party_p=(0.8, 0.2, 0.0), max_people=5,
                    arrival_tail_s=60.0, stops=(2, 4), actions=(1, 3), arm_reach_m=0.5),
    vision=VisionSpec(cameras=3),
    gzip=True,
    block_s=5.0,
)

#: The named presets; ``concession`` is the default.
SCENARIOS: dict[str, Scenario] = {s.name: s for s in (EASY, CONCESSION, RUSH, AISLE)}

DEFAULT_SCENARIO = "concession"
