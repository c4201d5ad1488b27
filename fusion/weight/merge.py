"""Which plate changes are one multi-plate event, and which are separate takes.

Rule (documented in docs/weight-pipeline.md, section "Merge rule"): two settled
plate changes A and B are *joined* when all of these hold

1. the plates are neighbours of one shelf level (:func:`neighbour_matrix`):
   front segments parallel and collinear at the same height, nearest
   endpoints within ``merge_gap_m``;
2. the planogram lists a common SKU on both plates;
3. their unstable windows ``[t_start, t_end]`` overlap (within ``merge_slack_s``);
4. they are *not* clearly two takes: it is not the case that each change on
   its own explains a whole number (1..max_items) of items of a SKU of its own
   plate (:func:`explains_whole_items`).

Events are the connected components of this relation, except that a component
whose plates went opposite ways (some lighter, others heavier, no plate both)
is split in two when the lighter plates together and the heavier plates
together each come to a whole number of items of their plates' SKUs: one
product lifts or loads all the plates it rests on alike, so that is a take and
a put-back side by side, which may be two people's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fusion.types import Store

from .config import WeightConfig


@dataclass(frozen=True, slots=True)
class PlateChange:
    """One plate's settled change, waiting to be grouped into a ShelfEvent.

    Attributes:
        cell: plate index into ``Store.cells``.
        t_start: when it left the stable state, s.
        t_end: start of the quiet segment that settled it, s.
        t_settled: time of the sample that settled it, s.
        delta_g: settled level after minus before, g.
        sd_g: standard deviation of ``delta_g``, g.
        base_var_g2: variance of the level before the change, g^2.
        peak_g: highest reading of the episode above the settled level, taken
            over pairs of consecutive readings (a lone spike does not count), g.
        parts: the changes it was summed from (see ``WeightDetector``), or ().
    """

    cell: int
    t_start: float
    t_end: float
    t_settled: float
    delta_g: float
    sd_g: float
    base_var_g2: float = 0.0
    peak_g: float = 0.0
    parts: tuple[PlateChange, ...] = ()


def neighbour_matrix(store: Store, config: WeightConfig) -> np.ndarray:
    """(n_cells, n_cells) bool: plates that may share one resting product.

    Neighbours are on one shelf level: parallel fronts (within
    ``merge_angle_deg``), on one line and at one height (within
    ``merge_height_m``), with nearest endpoints at most ``merge_gap_m`` apart,
    and the planogram stocks a common SKU on both.
    """
    n = len(store.cells)
    if n == 0:
        return np.zeros((0, 0), bool)
    fr = np.stack([np.asarray(c.front, float).reshape(2, 3) for c in store.cells])  # (n,2,3)
    d = fr[:, 1] - fr[:, 0]
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    parallel = np.abs(d @ d.T) >= np.cos(np.radians(config.merge_angle_deg))
    z = fr[:, :, 2]
    same_h = np.abs(z[:, None, :, None] - z[None, :, None, :]).max(axis=(2, 3)) <= config.merge_height_m
    # perpendicular distance of j's endpoints from i's line
    rel = fr[None, :, :, :] - fr[:, None, 0:1, :]  # (i, j, 2, 3)
    along = np.einsum("ijkc,ic->ijk", rel, d)
    perp = np.linalg.norm(rel - along[..., None] * d[:, None, None, :], axis=3).max(axis=2)
    on_line = perp <= max(config.merge_height_m, config.merge_gap_m / 2)
    ends = np.linalg.norm(fr[:, None, :, None, :] - fr[None, :, None, :, :], axis=4)
    close = ends.min(axis=(2, 3)) <= config.merge_gap_m
    skus = [set(c.skus) for c in store.cells]
    share = np.array([[bool(a & b) for b in skus] for a in skus], bool)
    m = parallel & same_h & on_line & close & share
    np.fill_diagonal(m, False)
    return m


def explains_whole_items(store: Store, change: PlateChange, config: WeightConfig,
                         k: float | None = None, rel: float = 0.01) -> bool:
    """True when |delta| is 1..max_items units of one SKU of the change's plate.

    Tolerance: ``k * sqrt(sd^2 + n * unit_sd^2)`` plus ``rel`` of n units
    (``k`` defaults to ``config.whole_item_k``).
    """
    return explains_whole_items_together(store, [change], config, k, rel)


def explains_whole_items_together(store: Store, changes: Sequence[PlateChange], config: WeightConfig,
                                  k: float | None = None, rel: float = 0.01) -> bool:
    """True when the summed |delta| of ``changes`` (sd from theirs, added in
    quadrature) is 1..max_items units of one SKU of any of their plates
    (tolerance as :func:`explains_whole_items`)."""
    k = config.whole_item_k if k is None else k
    a = abs(sum(c.delta_g for c in changes))
    sd_g = float(np.sqrt(sum(c.sd_g ** 2 for c in changes)))
    n = np.arange(1, config.max_items + 1)
    for sku_id in sorted({s for c in changes for s in store.cells[c.cell].skus}):
        sku = store.skus.get(sku_id)
        if sku is None:
            continue
        tol = k * np.sqrt(sd_g ** 2 + n * sku.weight_sd_g ** 2) + rel * n * sku.weight_g
        if np.any(np.abs(a - n * sku.weight_g) <= tol):
            return True
    return False


def _side_by_side(store: Store, changes: Sequence[PlateChange], group: list[int],
                  config: WeightConfig) -> list[list[int]]:
    """``group`` as [lighter plates, heavier plates] when it is a take and a
    put-back side by side (see the module docstring), else ``[group]``."""
    neg = [i for i in group if changes[i].delta_g < 0]
    pos = [i for i in group if changes[i].delta_g > 0]
    if not neg or not pos or {changes[i].cell for i in neg} & {changes[i].cell for i in pos}:
        return [group]
    if all(explains_whole_items_together(store, [changes[i] for i in side], config) for side in (neg, pos)):
        return [neg, pos]
    return [group]


def joined(store: Store, nb: np.ndarray, a: PlateChange, b: PlateChange,
           config: WeightConfig) -> bool:
    """The merge rule for one pair (see module docstring)."""
    if not nb[a.cell, b.cell]:
        return False
    s = config.merge_slack_s
    if a.t_start > b.t_end + s or b.t_start > a.t_end + s:
        return False
    return not (explains_whole_items(store, a, config) and explains_whole_items(store, b, config))


def group_changes(store: Store, nb: np.ndarray, changes: Sequence[PlateChange],
                  config: WeightConfig) -> list[list[int]]:
    """Connected components (lists of indices into ``changes``) of :func:`joined`,
    a take and a put-back side by side split apart."""
    parent = list(range(len(changes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(changes)):
        for j in range(i + 1, len(changes)):
            if joined(store, nb, changes[i], changes[j], config):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(changes)):
        groups.setdefault(root(i), []).append(i)
    return [side for g in groups.values() for side in _side_by_side(store, changes, g, config)]
