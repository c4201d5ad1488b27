"""Build the simulated store: plates, facings, gates, cameras and load cells.

The store (geometry, catalogue, planogram, cell rates) depends only on the
scenario (``layout.layout_seed``) so every run of a preset shares one
``store.toml``; the physical items (each with its own weight) are drawn from
the run's seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fusion.sim.loadcell import LoadCellModel
from fusion.sim.scenario import LayoutSpec, LoadCellSpec, Scenario, SkuSpec
from fusion.types import Camera, Cell, Gate, Sku, Store, readonly

#: Plate capacity is the smallest that holds a full facing plus this (g).
_LEAN_MARGIN_G = 2000.0
#: ``noise_g_10hz`` is for this capacity; noise grows as sqrt(capacity / this).
_NOISE_REF_CAPACITY_G = 5000.0


@dataclass(slots=True)
class Facing:
    """A column of one SKU resting on one or more neighbouring plates.

    Attributes:
        sku: SKU id.
        cells: (k,) int cell indices the items rest on.
        split: (k,) share of an item's weight on each of those plates (sums to 1).
        point: (3,) where a hand grabs an item: on the front edge (m).
        items_g: weights of the takeable items (g); a take pops the last one.
    """

    sku: str
    cells: np.ndarray
    split: np.ndarray
    point: np.ndarray
    items_g: list[float] = field(default_factory=list)

    @property
    def primary(self) -> int:
        """The plate carrying the largest share (the truth event's cell)."""
        return int(self.cells[int(np.argmax(self.split))])


@dataclass(slots=True)
class Layout:
    """The store plus what the simulator needs to know about it.

    Attributes:
        store: the :class:`fusion.types.Store` written to store.toml.
        facings: all facings (mutable stock).
        models: one load-cell model per cell.
        crosstalk: (n_cells,) fraction of a press leaking to each neighbour.
        neighbours: per cell, the indices of adjacent plates on the same level.
        normal_xy: (n_cells, 2) unit floor vector from the shelf towards the shopper.
        entry_xy: (2,) centre of the entry gate zone; exit_xy likewise.
        aisle_y: y of the walking line in front of the shelves (m).
        camera_rects: (n_cams, 4) floor rectangles x0, y0, x1, y1 each camera sees.
        floor: (4,) x0, y0, x1, y1 of the floor (m).
    """

    store: Store
    facings: list[Facing]
    models: list[LoadCellModel]
    crosstalk: np.ndarray
    neighbours: list[tuple[int, ...]]
    normal_xy: np.ndarray
    entry_xy: np.ndarray
    exit_xy: np.ndarray
    entry_gate: str
    aisle_y: float
    camera_rects: np.ndarray
    floor: np.ndarray


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return readonly([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def _plates(spec: LayoutSpec) -> tuple[list[tuple], float, float]:
    """Plate geometry: (unit, level, slot, x0, y_front, z, normal_y) per plate,
    plus the floor width and the shoppers' walking line y."""
    w = spec.plate_width_m
    run = spec.plates_per_level * w
    plates = []
    if spec.kind == "wall":
        for u in range(spec.units):
            x0 = 1.0 + u * (run + spec.unit_gap_m)
            for lv, z in enumerate(spec.level_z_m):
                for k in range(spec.plates_per_level):
                    plates.append((u, lv, k, x0 + k * w, spec.floor_depth_m, z, -1.0))
        width = 2.0 + spec.units * run + (spec.units - 1) * spec.unit_gap_m
        return plates, width, spec.floor_depth_m - 1.3
    if spec.kind == "aisle":
        for u in range(spec.units):
            y, ny = (0.0, 1.0) if u == 0 else (spec.floor_depth_m, -1.0)
            for lv, z in enumerate(spec.level_z_m):
                for k in range(spec.plates_per_level):
                    plates.append((u, lv, k, 1.5 + k * w, y, z, ny))
        return plates, 3.0 + run, spec.floor_depth_m / 2.0
    raise ValueError(f"LayoutSpec.kind must be 'wall' or 'aisle', got {spec.kind!r}")


def _plan_facings(spec: LayoutSpec, plates: list[tuple], rng: np.random.Generator):
    """Assign SKUs to plates: per plate the list of (facing index) and per
    facing (sku spec, plate indices, item x)."""
    cat = list(spec.catalogue)
    if not cat:
        raise ValueError("LayoutSpec.catalogue is empty")
    order = [s for s in cat for _ in range(s.facings)] if spec.kind == "wall" else cat
    facings: list[tuple[SkuSpec, list[int], float]] = []
    by_row: dict[tuple[int, int], list[int]] = {}
    for i, p in enumerate(plates):
        by_row.setdefault((p[0], p[1]), []).append(i)
    j = 0
    w = spec.plate_width_m
    for row in by_row.values():
        k = 0
        while k < len(row):
            sku = order[j % len(order)]
            j += 1
            span = min(sku.span, len(row) - k)
            cells = row[k:k + span]
            x = plates[cells[0]][3] + 0.5 * span * w
            if span == 1 and rng.random() < spec.two_sku_plate_p:
                singles = [s for s in cat if s.span == 1 and s.id != sku.id]
                other = singles[int(rng.integers(len(singles)))]
                facings.append((sku, cells, x - 0.25 * w))
                facings.append((other, cells, x + 0.25 * w))
            else:
                facings.append((sku, cells, x))
            k += span
    return facings


def _cell_models(spec: LoadCellSpec, n: int, capacity_need_g: np.ndarray,
                 rng: np.random.Generator) -> list[LoadCellModel]:
    hz = rng.choice(np.asarray(spec.hz_choices), size=n, p=np.asarray(spec.hz_p) / sum(spec.hz_p))
    caps = np.asarray(sorted(spec.capacity_g))
    models = []
    for i in range(n):
        cap = caps[np.searchsorted(caps, capacity_need_g[i])] if capacity_need_g[i] < caps[-1] else caps[-1]
        models.append(LoadCellModel(
            sample_hz=float(hz[i]), rate_error=float(rng.normal(0, spec.rate_error_sd)),
            phase_s=float(rng.uniform(0, 1.0 / hz[i])), jitter_s=spec.jitter_s,
            noise_g_10hz=float(rng.uniform(*spec.noise_g_10hz) * np.sqrt(cap / _NOISE_REF_CAPACITY_G)),
            zero_offset_g=float(rng.normal(0, spec.zero_offset_sd_g)),
            gain_error=float(rng.normal(0, spec.gain_error_sd)),
            drift_g=float(rng.uniform(*spec.drift_g)),
            drift_period_s=float(rng.uniform(*spec.drift_period_s)),
            drift_phase=float(rng.uniform(0, 2 * np.pi)),
            creep_fraction=float(rng.uniform(*spec.creep_fraction)),
            creep_tau_s=float(rng.uniform(*spec.creep_tau_s)),
            ring_fraction=float(rng.uniform(*spec.ring_fraction)),
            ring_hz=float(rng.uniform(*spec.ring_hz)),
            ring_tau_s=float(rng.uniform(*spec.ring_tau_s)),
            spike_p=spec.spike_p, dropout_rate_hz=spec.dropout_rate_hz,
            dropout_mean_s=spec.dropout_mean_s, error_p=spec.error_p, capacity_g=float(cap),
            resolution_g=spec.resolution_g))
    return models


def _camera_rects(n: int, floor: np.ndarray) -> np.ndarray:
    """Tile the floor with n overlapping camera footprints (rows x cols = n,
    tiles as square as possible, each widened by 30 % of a tile per side)."""
    x0, y0, x1, y1 = floor
    grids = [(r, n // r) for r in range(1, n + 1) if n % r == 0]
    rows, cols = min(grids, key=lambda g: abs(np.log((x1 - x0) / g[1] / ((y1 - y0) / g[0]))))
    cw, ch = (x1 - x0) / cols, (y1 - y0) / rows
    rects = []
    for i in range(n):
        r, c = divmod(i, cols)
        rects.append([x0 + (c - 0.3) * cw, y0 + (r - 0.3) * ch,
                      x0 + (c + 1.3) * cw, y0 + (r + 1.3) * ch])
    return np.array(rects)


def _gates(spec: LayoutSpec, width: float, aisle_y: float):
    """Floor rectangle, gates, and the entry/exit points shoppers use."""
    floor = np.array([0.0, 0.0, width, spec.floor_depth_m])
    if spec.kind == "wall":
        k1, k2 = spec.gate_kinds or ("entry", "exit")
        gates = (Gate("G1", _rect(0.2, 0.0, 1.2, 0.8), k1),
                 Gate("G2", _rect(width - 1.2, 0.0, width - 0.2, 0.8), k2))
        return floor, gates, np.array([0.7, 0.4]), np.array([width - 0.7, 0.4])
    k1, k2 = spec.gate_kinds or ("entry", "both")
    gates = (Gate("G1", _rect(0.0, 0.2, 0.8, spec.floor_depth_m - 0.2), k1),
             Gate("G2", _rect(width - 0.8, 0.2, width, spec.floor_depth_m - 0.2), k2))
    return floor, gates, np.array([0.4, aisle_y]), np.array([width - 0.4, aisle_y])


def _stock(spec: LayoutSpec, plates: list[tuple], plan, lrng: np.random.Generator,
           rng: np.random.Generator):
    """Facings with their items; per cell the SKU ids and the capacity needed (g)."""
    n = len(plates)
    cell_skus: list[list[str]] = [[] for _ in range(n)]
    need = np.zeros(n)
    facings = []
    for sku, cells, x in plan:
        split = np.full(len(cells), 1.0 / len(cells))
        if len(cells) > 1:
            split = lrng.dirichlet(np.full(len(cells), 6.0))
        for c, s in zip(cells, split, strict=True):
            if sku.id not in cell_skus[c]:
                cell_skus[c].append(sku.id)
            need[c] += spec.stock[1] * sku.weight_g * s
        p = plates[cells[0]]
        n_items = int(rng.integers(spec.stock[0], spec.stock[1] + 1))
        items = list(rng.normal(sku.weight_g, sku.weight_sd_g, n_items))
        facings.append(Facing(sku.id, np.array(cells), split, np.array([x, p[4], p[5]]), items))
    return facings, cell_skus, need


def build_layout(scn: Scenario, rng: np.random.Generator) -> Layout:
    """Build the store of ``scn`` and stock it with items drawn from ``rng``."""
    spec = scn.layout
    if len(spec.level_z_m) != spec.levels:
        raise ValueError(f"LayoutSpec.level_z_m needs {spec.levels} heights, got {len(spec.level_z_m)}")
    lrng = np.random.default_rng(spec.layout_seed)
    plates, width, aisle_y = _plates(spec)
    facings, cell_skus, need = _stock(spec, plates, _plan_facings(spec, plates, lrng), lrng, rng)
    n = len(plates)
    models = _cell_models(scn.loadcell, n, need + _LEAN_MARGIN_G, lrng)
    cells = []
    for i, p in enumerate(plates):
        _, _, _, x0, y, z, _ = p
        cells.append(Cell(id=f"U{p[0] + 1}-{p[1] + 1}-{p[2] + 1:02d}",
                          front=readonly([[x0, y, z], [x0 + spec.plate_width_m, y, z]], shape=(2, 3)),
                          skus=tuple(cell_skus[i]), sample_hz=models[i].sample_hz,
                          noise_g=round(models[i].noise_g, 3)))
    neighbours = [tuple(j for j, q in enumerate(plates) if q[:2] == p[:2] and abs(q[2] - p[2]) == 1)
                  for p in plates]
    floor, gates, entry, exit_ = _gates(spec, width, aisle_y)
    cams = tuple(Camera(f"C{i + 1}") for i in range(scn.vision.cameras))
    used = {s for cs in cell_skus for s in cs}
    skus = {s.id: Sku(s.id, s.name, s.weight_g, s.weight_sd_g, s.price)
            for s in spec.catalogue if s.id in used}
    store = Store(name=scn.store_name, skus=skus, cells=tuple(cells), gates=gates, cameras=cams)
    xt = np.array([lrng.uniform(*scn.loadcell.crosstalk) for _ in range(n)])
    normal = np.array([[0.0, p[6]] for p in plates])
    return Layout(store, facings, models, xt, neighbours, normal, entry, exit_, "G1", aisle_y,
                  _camera_rects(scn.vision.cameras, floor), floor)
