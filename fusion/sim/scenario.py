"""Scenario parameters of the store simulator, and the named presets.

A :class:`Scenario` holds every tunable, grouped by concern; derive variants
with :func:`dataclasses.replace`, e.g.::

    rush = replace(SCENARIOS["concession"], name="rush",
                   crowd=replace(SCENARIOS["concession"].crowd, max_people=16))

Units are in the field names (``_s`` seconds, ``_m`` metres, ``_g`` grams,
``_hz`` hertz); ``_p`` is a probability. A ``(lo, hi)`` pair is a uniform range.
Where each physical value comes from is documented in ``docs/simulator.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Range = tuple[float, float]


@dataclass(frozen=True, slots=True)
class SkuSpec:
    """A catalogue product and how it is stocked.

    Attributes:
        id: SKU id (``[A-Za-z0-9._-]+``).
        name: display name.
        weight_g: mean unit weight (g).
        weight_sd_g: unit-to-unit standard deviation (g).
        price: unit price.
        facings: how many plates (or plate spans) stock it.
        span: how many neighbouring plates one item rests across (1-3).
    """

    id: str
    name: str
    weight_g: float
    weight_sd_g: float
    price: float = 1.0
    facings: int = 1
    span: int = 1


@dataclass(frozen=True, slots=True)
class LayoutSpec:
    """Floor and shelving.

    Attributes:
        kind: ``"wall"`` (shelf units side by side along the back wall, open
            floor in front) or ``"aisle"`` (two shelf runs facing each other).
        units: shelf units (wall) or shelf runs (aisle, 1 or 2).
        levels: shelf levels per unit.
        plates_per_level: weighed plates per level of one unit.
        plate_width_m: plate width along the shelf front (m).
        level_z_m: height of each level's front edge above the floor (m),
            bottom first; must have ``levels`` entries.
        unit_gap_m: gap between neighbouring wall units (m).
        floor_depth_m: distance from the gate line to the shelf fronts (m).
        stock: (lo, hi) items per facing at the start (inclusive).
        two_sku_plate_p: fraction of single-plate facings that share their
            plate with a second SKU (mixed bin).
        catalogue: the products.
        layout_seed: seed of the layout draw (SKU placement, cell rates);
            fixed per scenario so all runs of a preset share one store.
        gate_kinds: kinds of the entry gate G1 and the exit gate G2
            (``"entry"``, ``"exit"`` or ``"both"``); None keeps the layout's
            own (wall: entry/exit, aisle: entry/both). Shoppers still enter
            through G1 and leave through G2.
    """

    kind: str = "wall"
    units: int = 2
    levels: int = 3
    plates_per_level: int = 4
    plate_width_m: float = 0.40
    level_z_m: tuple[float, ...] = (0.55, 1.05, 1.55)
    unit_gap_m: float = 0.6
    floor_depth_m: float = 4.0
    stock: tuple[int, int] = (7, 11)
    two_sku_plate_p: float = 0.0
    catalogue: tuple[SkuSpec, ...] = ()
    layout_seed: int = 7
    gate_kinds: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class LoadCellSpec:
    """How each plate's :class:`fusion.sim.loadcell.LoadCellModel` is drawn.

    Attributes:
        hz_choices: nominal sample rates to pick from (Hz).
        hz_p: probability of each rate.
        noise_g_10hz: (lo, hi) white-noise sd at 10 SPS of a 5 kg plate (g);
            scaled by sqrt(capacity / 5 kg).
        rate_error_sd: sd of the relative ADC clock error.
        jitter_s: timestamp jitter sd (s).
        zero_offset_sd_g: sd of the calibration zero residual (g).
        gain_error_sd: sd of the relative span error.
        drift_g: (lo, hi) thermal drift amplitude (g).
        drift_period_s: (lo, hi) drift period (s).
        creep_fraction: (lo, hi) creep as a fraction of a change.
        creep_tau_s: (lo, hi) creep time constant (s).
        ring_fraction: (lo, hi) ringing amplitude / change.
        ring_hz: (lo, hi) ringing frequency (Hz).
        ring_tau_s: (lo, hi) ringing decay (s).
        crosstalk: (lo, hi) fraction of a press felt by each neighbour plate
            on the same level.
        spike_p: probability of a single-sample spike per sample.
        dropout_rate_hz: dropouts per second per cell.
        dropout_mean_s: mean dropout length (s).
        error_p: probability of an invalid (empty) reading per sample.
        capacity_g: plate capacities to choose from (g); the smallest that
            holds a full facing plus 2 kg is used.
        resolution_g: reported resolution (display division) of every
            plate's readings (g): 0.1 for a shelf controller, 5 for a cheap
            scale.
    """

    hz_choices: tuple[float, ...] = (10.0, 40.0, 80.0)
    hz_p: tuple[float, ...] = (0.3, 0.3, 0.4)
    noise_g_10hz: Range = (0.3, 0.8)
    rate_error_sd: float = 0.005
    jitter_s: float = 0.002
    zero_offset_sd_g: float = 1.5
    gain_error_sd: float = 5e-4
    drift_g: Range = (0.2, 1.0)
    drift_period_s: Range = (900.0, 3600.0)
    creep_fraction: Range = (2e-4, 5e-4)
    creep_tau_s: Range = (60.0, 300.0)
    ring_fraction: Range = (0.03, 0.12)
    ring_hz: Range = (5.0, 15.0)
    ring_tau_s: Range = (0.08, 0.25)
    crosstalk: Range = (0.01, 0.04)
    spike_p: float = 1e-4
    dropout_rate_hz: float = 1.0 / 240.0
    dropout_mean_s: float = 0.3
    error_p: float = 2e-5
    capacity_g: tuple[float, ...] = (3000.0, 5000.0, 10000.0, 20000.0)
    resolution_g: float = 0.1


@dataclass(frozen=True, slots=True)
class CrowdSpec:
    """Who comes in, when, and how they move.

    Attributes:
        arrival_per_min: mean rate of tapping parties (Poisson, per minute).
        party_p: probability of a party of 1, 2, 3 people.
        max_people: people allowed on the floor; arrivals wait outside.
        arrival_tail_s: no party arrives later than duration - this (s).
        walk_speed_m_s: (lo, hi) walking speed per person (m/s).
        stand_dist_m: (lo, hi) distance from the shelf front while reaching (m).
        min_gap_m: planned bodies keep at least this apart, centre to centre,
            walking or standing (m); planners wait or detour to keep it.
        stand_check_s: a stand spot is chosen free of everybody for this long
            after the expected arrival (s).
        gate_headway_s: (lo, hi) time between a party's tap and the previous
            person through the entry gate (s); 1.5-3 s = 20-40 people/min.
        member_headway_s: (lo, hi) time between party members through the
            gate (s).
        file_gap_m: (lo, hi) distance kept behind the person ahead while
            walking up to and queueing at the gate (m).
        tap_dwell_s: (lo, hi) the tapper waits this long at the gate for the
            paddles to open (s).
        stops: (lo, hi) shelf stops per person (inclusive).
        actions: (lo, hi) actions per stop (inclusive).
        pause_s: (lo, hi) pause between actions (s).
        arm_reach_m: farthest lateral offset of a reachable plate (m).
    """

    arrival_per_min: float = 11.0
    party_p: tuple[float, float, float] = (0.55, 0.3, 0.15)
    max_people: int = 10
    arrival_tail_s: float = 45.0
    walk_speed_m_s: Range = (0.7, 1.4)
    stand_dist_m: Range = (0.4, 0.7)
    min_gap_m: float = 0.45
    stand_check_s: float = 12.0
    gate_headway_s: Range = (1.2, 2.5)
    member_headway_s: Range = (1.0, 1.6)
    file_gap_m: Range = (0.6, 0.9)
    tap_dwell_s: Range = (0.3, 0.8)
    stops: tuple[int, int] = (1, 2)
    actions: tuple[int, int] = (1, 3)
    pause_s: Range = (0.4, 2.5)
    arm_reach_m: float = 0.65


@dataclass(frozen=True, slots=True)
class BehaviourSpec:
    """What shoppers do with their hands. Action probabilities are relative
    weights (normalised when drawing).

    Attributes:
        take_w: take items from one plate.
        both_hands_w: take from two plates at once, one per hand (the two
            SKUs may differ).
        pick_putback_w: take, look at it, put it back within seconds.
        return_w: put back an item taken earlier (if holding any).
        lean_w: a hand leans/presses on a plate without taking.
        double_take_p: a take lifts 2 items at once.
        wrong_plate_p: a put-back lands on another reachable plate.
        lean_during_take_p: the free hand leans on a neighbour plate during
            a take.
        reach_s: (lo, hi) hand travel time to/from the shelf (s).
        contact_s: (lo, hi) hand-on-plate time of a take/put-back (s).
        ramp_s: (lo, hi) lift/place ramp duration (s).
        grip_press_g: (lo, hi) force while gripping an item (g).
        lean_g: (lo, hi) force of a leaning hand (g).
        lean_s: (lo, hi) duration of a lean (s).
        hold_s: (lo, hi) time an item is held before a pick-and-put-back (s).
    """

    take_w: float = 0.62
    both_hands_w: float = 0.08
    pick_putback_w: float = 0.08
    return_w: float = 0.10
    lean_w: float = 0.12
    double_take_p: float = 0.12
    wrong_plate_p: float = 0.3
    lean_during_take_p: float = 0.1
    reach_s: Range = (0.3, 0.6)
    contact_s: Range = (0.5, 1.4)
    ramp_s: Range = (0.2, 0.6)
    grip_press_g: Range = (0.0, 80.0)
    lean_g: Range = (100.0, 700.0)
    lean_s: Range = (1.0, 4.0)
    hold_s: Range = (1.0, 5.0)


@dataclass(frozen=True, slots=True)
class VisionSpec:
    """Overhead cameras and their detector.

    Attributes:
        cameras: number of overlapping cameras (they tile the floor with
            overlap; each sees a rectangle).
        hz: (lo, hi) frame rate per camera (Hz).
        clock_offset_s: sd of each camera's clock offset (s).
        bias_m: sd of each camera's constant floor-position bias (m).
        pos_noise_m: (lo, hi) per-camera person position noise sd (m).
        miss_p: probability of missing an unoccluded person.
        occlusion_radius_m: people closer than this occlude each other.
        occlusion_miss_p: extra miss probability per occluding neighbour.
        false_per_s: false person detections per camera per second.
        duplicate_p: probability a detection is reported twice.
        hand_noise_m: (lo, hi) hand point noise sd (m).
        hand_miss_p: probability a reaching hand is not reported (plus
            ``occlusion_miss_p`` per occluding neighbour).
        rest_hand_p: probability an idle hand (at the hip) is reported.
        holding_p: probability a hand carrying an item gets a product guess.
        holding_wrong_p: probability that guess names a wrong SKU.
        track_hints: give detections a per-camera ``track`` id, as an external
            tracker would (off in the presets: the engine must not need it).
        track_break_per_s: rate at which a camera's track of a person breaks
            and continues under a new id (per second).
        track_switch_p: probability that a camera's tracker exchanges the
            ids of two people each time they come within ``track_switch_m``
            of each other (an id switch; each camera independently).
        track_switch_m: how close two people pass for a possible switch (m).
        hands: report hand points at all (False: a body-only pipeline,
            no ``hands`` in vision.jsonl).
        clock_offset_mean_s: a constant clock offset shared by every camera,
            added to each camera's own (s); e.g. a pipeline that stamps frames
            when it has processed them.
    """

    cameras: int = 4
    hz: Range = (10.0, 15.0)
    clock_offset_s: float = 0.03
    bias_m: float = 0.04
    pos_noise_m: Range = (0.05, 0.12)
    miss_p: float = 0.05
    occlusion_radius_m: float = 0.6
    occlusion_miss_p: float = 0.12
    false_per_s: float = 0.05
    duplicate_p: float = 0.02
    hand_noise_m: Range = (0.03, 0.08)
    hand_miss_p: float = 0.2
    rest_hand_p: float = 0.3
    holding_p: float = 0.3
    holding_wrong_p: float = 0.2
    track_hints: bool = False
    track_break_per_s: float = 0.03
    track_switch_p: float = 0.0
    track_switch_m: float = 0.6
    hands: bool = True
    clock_offset_mean_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything the simulator needs besides the seed.

    Attributes:
        name: preset name.
        description: one line for humans.
        duration_s: nominal recording length (s); arrivals stop
            ``crowd.arrival_tail_s`` before it and the recording runs until
            the last shopper has left (at least ``duration_s``).
        store_name: name written to store.toml.
        gzip: write weights.csv.gz and vision.jsonl.gz.
        block_s: length of one generation block (s); bounds memory.
        clock_start_s: the store clock reads this at the start of the run
            (s); every time in the written files (and the truth) is shifted
            by it, e.g. 86400 for a recording that does not start near 0.
    """

    name: str
    description: str
    duration_s: float
    store_name: str
    layout: LayoutSpec
    loadcell: LoadCellSpec = field(default_factory=LoadCellSpec)
    crowd: CrowdSpec = field(default_factory=CrowdSpec)
    behaviour: BehaviourSpec = field(default_factory=BehaviourSpec)
    vision: VisionSpec = field(default_factory=VisionSpec)
    gzip: bool = False
    block_s: float = 8.0
    clock_start_s: float = 0.0

    def __post_init__(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise ValueError(f"Scenario {self.name!r}: {what}")

        lay, crowd = self.layout, self.crowd
        need(self.duration_s > 0 and self.block_s > 0, "duration_s and block_s must be > 0")
        need(lay.kind in ("wall", "aisle"), f"layout.kind must be 'wall' or 'aisle', got {lay.kind!r}")
        need(len(lay.level_z_m) == lay.levels, f"layout.level_z_m needs {lay.levels} heights")
        need(bool(lay.catalogue), "layout.catalogue is empty")
        need(0 < lay.stock[0] <= lay.stock[1], "layout.stock must be (lo, hi) with 0 < lo <= hi")
        need(len(self.loadcell.hz_choices) == len(self.loadcell.hz_p),
             "loadcell.hz_choices and hz_p differ in length")
        need(len(crowd.party_p) == 3 and sum(crowd.party_p) > 0, "crowd.party_p needs 3 weights")
        need(crowd.max_people >= 1 and crowd.arrival_per_min > 0,
             "crowd.max_people >= 1 and arrival_per_min > 0 required")
        need(crowd.walk_speed_m_s[0] > 0, "crowd.walk_speed_m_s must be > 0")
        need(self.vision.cameras >= 1, "vision.cameras must be >= 1")
        need(self.clock_start_s >= 0, "clock_start_s must be >= 0 (the spec's clock starts at or after 0)")
        kinds = lay.gate_kinds
        need(kinds is None or (len(kinds) == 2 and set(kinds) <= {"entry", "exit", "both"}
                               and kinds[0] != "exit" and kinds[1] != "entry"),
             "layout.gate_kinds must be None or (entry kind, exit kind): G1 'entry'/'both', G2 'exit'/'both'")
