"""Which SKU, and how many, explain a shelf event.

Hypotheses are (SKU, count) combinations of up to ``max_items`` items of up to
two SKUs, all taken (qty > 0, the plates got lighter), all put back (qty < 0),
or one SKU taken and another put back (a swap, low prior), plus "no item".
Each gets

    likelihood  N(total_g; -sum(n_i * mu_i), sd_event^2 + sum(|n_i| * sd_i^2))
    prior       planogram SKUs of the event's plates >> SKUs the shopper holds
                (put-backs only, at most the count held) >> other catalogue
                SKUs of a fitting weight; fewer items and one SKU preferred;
                the vision ``holding`` cue multiplies in softly.

The enumeration is a precomputed integer table per number of candidate SKUs,
evaluated with one matrix product per event.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from fusion.types import ItemHypothesis, ShelfEvent, Store


@dataclass(frozen=True, slots=True)
class InferenceConfig:
    """Priors of :class:`ItemInference` (weights are relative, not probabilities).

    Attributes:
        max_items: most items in one hypothesis.
        max_candidates: most candidate SKUs per event (plate SKUs always kept).
        off_plate_weight: prior weight of putting back a catalogue SKU not
            stocked on the event's plates (and not held), relative to 1 for a
            stocked SKU.
        off_plate_take_weight: prior weight of *taking* a SKU the event's
            plates do not stock and nobody was seen putting there (a stocking
            error): only a clear weight fit beats the plates' own SKUs.
        stray_take_weight: prior weight of taking a SKU that an earlier
            decided put-back left on these plates (see
            :meth:`ItemInference.note_moved`), per stray unit against one
            unit of the plates' own stock: with the plates' levels known, a
            stray among ``k`` own units weighs ``stray_take_weight * n_stray
            / k`` (at most ``stray_take_weight``) against the own SKUs' 1.
        off_plate_window_sd: such SKUs are candidates only if some count of
            them lies within this many sd of |total_g|.
        misplaced_weight: weight of putting back a held SKU stocked elsewhere.
        over_basket_weight: factor for putting back more than the shopper holds.
        putback_weight: prior of a put-back relative to a take.
        count_decay: prior ratio of n+1 items to n items.
        two_sku_weight: prior factor of a two-SKU hypothesis.
        swap_weight: further factor when one SKU is taken and another put
            back in the same event (e.g. a misplaced return onto a plate a
            product is taken from).
        no_item_weight: prior weight of "no item" (a disturbance).
        disturbance_g: extra sd of a no-item event (press/lean residue), g.
        outlier_p: share of events whose settled grams are off the items'
            weight by more than their sd says (a hand still resting on the
            plate, creep not yet over) ...
        outlier_sd_g: ... and the extra sd of those, g: an item hypothesis's
            likelihood is ``(1 - outlier_p) N(total; mean, var) + outlier_p
            N(total; mean, var + outlier_sd_g^2)``, so that a stocked product
            read 14 g light is not beaten by five units of a product the plate
            does not stock that happen to fit.
        holding_floor: a vision cue multiplies by ``holding_floor + p(sku)``.
        max_hypotheses: longest list returned.
        min_probability: hypotheses below this are dropped (then renormalised).
    """

    max_items: int = 5
    max_candidates: int = 12
    off_plate_weight: float = 0.01
    off_plate_take_weight: float = 0.001
    stray_take_weight: float = 1.0
    off_plate_window_sd: float = 6.0
    misplaced_weight: float = 0.05
    over_basket_weight: float = 1e-3
    putback_weight: float = 0.5
    count_decay: float = 0.35
    two_sku_weight: float = 0.1
    swap_weight: float = 0.1
    no_item_weight: float = 0.05
    disturbance_g: float = 3.0
    outlier_p: float = 0.02
    outlier_sd_g: float = 15.0
    holding_floor: float = 0.2
    max_hypotheses: int = 50
    min_probability: float = 1e-9

    def __post_init__(self) -> None:
        for name in ("max_items", "max_candidates", "max_hypotheses"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"InferenceConfig.{name} must be >= 1")
        for name in ("off_plate_weight", "off_plate_take_weight", "stray_take_weight", "misplaced_weight", "over_basket_weight",
                     "putback_weight", "count_decay", "two_sku_weight", "swap_weight", "no_item_weight",
                     "disturbance_g", "holding_floor", "min_probability", "off_plate_window_sd",
                     "outlier_p", "outlier_sd_g"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"InferenceConfig.{name} must be finite and >= 0, got {v!r}")
        if not self.outlier_p < 1:
            raise ValueError(f"InferenceConfig.outlier_p must be < 1, got {self.outlier_p!r}")


@functools.lru_cache(maxsize=64)
def combination_table(k: int, max_items: int) -> np.ndarray:
    """(m, k) int8 signed counts: every take/put-back of 1..2 of k SKUs, <= max_items items.

    Row order: single-SKU takes and put-backs, two-SKU takes and put-backs,
    then *swaps* (one SKU taken, another put back in the same event).  The
    "no item" row is not included.
    """
    rows = []
    for j in range(k):
        for n in range(1, max_items + 1):
            rows.append({j: n})
    for j, j2 in itertools.combinations(range(k), 2):
        for a in range(1, max_items):
            for b in range(1, max_items - a + 1):
                rows.append({j: a, j2: b})
    swaps = [{j: a, j2: -b} for j, j2 in itertools.permutations(range(k), 2)
             for a in range(1, max_items) for b in range(1, max_items - a + 1)]
    table = np.zeros((2 * len(rows) + len(swaps), k), np.int8)
    for i, r in enumerate(rows):
        for j, n in r.items():
            table[2 * i, j] = n
            table[2 * i + 1, j] = -n
    for i, r in enumerate(swaps):
        for j, n in r.items():
            table[2 * len(rows) + i, j] = n
    table.setflags(write=False)
    return table


class ItemInference:
    """Posterior over (SKU, count) explanations of shelf events.

    Args:
        store: the store (catalogue and planogram).
        config: priors; defaults to :class:`InferenceConfig()`.
        levels_g: returns the plates' current settled levels, (n_cells,) g,
            NaN where unknown (e.g. ``WeightDetector.levels_g``); with it, a
            stray's prior counts the own units lying beside it.
    """

    def __init__(self, store: Store, config: InferenceConfig | None = None,
                 levels_g: Callable[[], np.ndarray] | None = None):
        self.store = store
        self.config = config or InferenceConfig()
        self._levels = levels_g
        self._ids = list(store.skus)
        self._mu = np.array([store.skus[s].weight_g for s in self._ids], float)
        self._sd = np.array([store.skus[s].weight_sd_g for s in self._ids], float)
        self._strays: dict[int, dict[str, int]] = {}  # plate -> SKU not stocked there -> count left

    def note_moved(self, cells: Sequence[int], items: Sequence[tuple[str, int]]) -> None:
        """Remember what a decided event moved: a SKU put back on plates that
        do not stock it stays there as a *stray* (it can be taken again from
        them), until a decided take of it from those plates removes it.

        Args:
            cells: the event's plates (indices into ``Store.cells``).
            items: (SKU, count) with count > 0 taken, < 0 put back.
        """
        stocked = {s for c in cells for s in self.store.cells[c].skus}
        for sku, n in items:
            if sku in stocked or not cells:
                continue
            if n < 0:
                left = self._strays.setdefault(cells[0], {})
                left[sku] = left.get(sku, 0) - n
                continue
            for c in cells:
                left = self._strays.get(c, {})
                k = min(left.get(sku, 0), n)
                if k:
                    left[sku] -= k
                    n -= k

    def _own_units(self, event: ShelfEvent, strays: Mapping[str, int]) -> float | None:
        """Units of the plates' own SKUs on the event's plates before it, from
        their levels (gross = everything on the plate), less the strays; None
        when a level is unknown or the plates stock nothing."""
        if self._levels is None:
            return None
        levels = self._levels()
        own_mu = [self.store.skus[s].weight_g for c in event.cells
                  for s in self.store.cells[c].skus if s in self.store.skus]
        level = float(np.sum(levels[list(event.cells)]))
        if not own_mu or not math.isfinite(level):
            return None
        stray_g = sum(n * self.store.skus[s].weight_g for s, n in strays.items() if s in self.store.skus)
        return max(level - event.total_g - stray_g, 0.0) / float(np.mean(own_mu))

    def strays(self, cells: Sequence[int]) -> dict[str, int]:
        """SKU -> count of strays (see :meth:`note_moved`) on these plates."""
        out: dict[str, int] = {}
        for c in cells:
            for sku, n in self._strays.get(c, {}).items():
                if n > 0:
                    out[sku] = out.get(sku, 0) + n
        return out

    def hypotheses(self, event: ShelfEvent, basket: Mapping[str, int] | None = None,
                   holding: Mapping[str, float] | None = None) -> list[ItemHypothesis]:
        """Explanations of ``event``, most probable first; probabilities sum to 1.

        Args:
            event: the shelf event.
            basket: SKU -> count the shopper currently holds (None = unknown).
            holding: SKU -> probability from vision that the hand holds it.
        """
        table, cand, logp, logp0 = self._joint(event, basket, holding)
        return self._rank(table, cand, logp, logp0)

    def log_evidence(self, event: ShelfEvent, basket: Mapping[str, int] | None = None) -> float:
        """log of the summed prior x likelihood of every explanation of ``event``
        (items or none): how well *some* explanation fits its grams. Priors are
        relative weights, so compare evidences of events over the same plates'
        SKUs, not as absolute probabilities."""
        _, _, logp, logp0 = self._joint(event, basket, None)
        return float(np.logaddexp(logsumexp(logp), logp0))

    def best_line_cell(self, event: ShelfEvent, sku: str | None = None) -> int:
        """The plate to name on a receipt line: the largest |delta| among the
        event's plates (those stocking ``sku`` when given and any do)."""
        cells = list(event.cells)
        if sku is not None:
            stocked = [c for c in cells if sku in self.store.cells[c].skus]
            cells = stocked or cells
        return max(cells, key=lambda c: abs(event.delta_g[event.cells.index(c)]))

    # ------------------------------------------------------------ internals

    def _joint(self, event, basket, holding) -> tuple[np.ndarray, list[str], np.ndarray, float]:
        """(table, candidate SKUs, log prior x likelihood per row, same for "no item")."""
        total, sd_ev = event.total_g, event.total_sd_g
        if not math.isfinite(total):
            raise ValueError(f"ItemInference.hypotheses: event total_g is {total}")
        cand, w_take, w_put = self._candidates(event, basket, total, sd_ev)
        idx = [self._ids.index(s) for s in cand]
        table = combination_table(len(cand), self.config.max_items).astype(float)
        mean = -(table @ self._mu[idx])
        var = sd_ev ** 2 + np.abs(table) @ (self._sd[idx] ** 2)
        cfg = self.config
        loglik = _log_normal(total, mean, var)
        if cfg.outlier_p > 0:
            loglik = np.logaddexp(np.log1p(-cfg.outlier_p) + loglik,
                                  math.log(cfg.outlier_p) + _log_normal(total, mean, var + cfg.outlier_sd_g ** 2))
        logp = loglik + self._log_prior(table, cand, w_take, w_put, basket, holding)
        var0 = sd_ev ** 2 + self.config.disturbance_g ** 2
        logp0 = _log_normal(total, 0.0, var0) + _log(self.config.no_item_weight)
        return table, cand, logp, float(logp0)

    def _candidates(self, event, basket, total, sd_ev):
        """Candidate SKU ids with prior weights for taking / putting back."""
        cfg = self.config
        w: dict[str, list[float]] = {}
        for c in event.cells:
            for s in self.store.cells[c].skus:
                if s in self.store.skus:
                    w[s] = [1.0, 1.0]
        strays = self.strays(event.cells)
        own = self._own_units(event, strays) if strays else None
        for s in strays:
            if s in self.store.skus and s not in w:
                share = 1.0 if own is None else min(1.0, strays[s] / max(own, 1.0))
                w[s] = [cfg.stray_take_weight * share, cfg.off_plate_weight]
        for s, n in (basket or {}).items():
            if n > 0 and s in self.store.skus:
                if s not in w:
                    w[s] = [cfg.off_plate_take_weight, cfg.misplaced_weight]
                elif s in strays:
                    w[s][1] = max(w[s][1], cfg.misplaced_weight)
        n = np.arange(1, cfg.max_items + 1)
        tol = cfg.off_plate_window_sd * np.sqrt(sd_ev ** 2 + n[None, :] * self._sd[:, None] ** 2)
        miss = np.abs(abs(total) - n[None, :] * self._mu[:, None]) - tol
        near = np.argsort(miss.min(axis=1))
        room = max(cfg.max_candidates - len(w), 0)
        for i in near[:room]:
            s = self._ids[i]
            if miss[i].min() <= 0 and s not in w:
                w[s] = [cfg.off_plate_take_weight, cfg.off_plate_weight]
        cand = list(w)
        return cand, np.array([w[s][0] for s in cand]), np.array([w[s][1] for s in cand])

    def _log_prior(self, table, cand, w_take, w_put, basket, holding) -> np.ndarray:
        cfg = self.config
        pos, neg = table > 0, table < 0
        lp = np.where(pos, _log(w_take), 0.0).sum(1) + np.where(neg, _log(w_put), 0.0).sum(1)
        n_items = np.abs(table).sum(1)
        lp += _log(cfg.count_decay) * (n_items - 1)
        lp += np.where((table != 0).sum(1) == 2, _log(cfg.two_sku_weight), 0.0)
        lp += np.where(neg.any(1), _log(cfg.putback_weight), 0.0)
        lp += np.where(neg.any(1) & pos.any(1), _log(cfg.swap_weight), 0.0)
        if basket is not None:
            held = np.array([max(int(basket.get(s, 0)), 0) for s in cand], float)
            over = (-table > held[None, :]).sum(1)
            lp += _log(cfg.over_basket_weight) * over
        if holding:
            cue = np.array([cfg.holding_floor + float(holding.get(s, 0.0)) for s in cand])
            lp += np.where(table != 0, _log(cue), 0.0).sum(1)
        return lp

    def _rank(self, table, cand, logp, logp0) -> list[ItemHypothesis]:
        cfg = self.config
        allp = np.append(logp, logp0)
        p = np.exp(allp - allp.max())
        p /= p.sum()
        order = np.argsort(-p, kind="stable")[:cfg.max_hypotheses]
        order = order[p[order] >= min(cfg.min_probability, p[order[0]])]
        kept = p[order] / p[order].sum()
        out = []
        for i, prob in zip(order, kept, strict=True):
            if i == len(logp):
                items: tuple[tuple[str, int], ...] = ()
            else:
                items = tuple(sorted((cand[j], int(table[i, j]))
                                     for j in np.flatnonzero(table[i])))
            out.append(ItemHypothesis(items=items, probability=float(prob)))
        return out


def _log(x) -> np.ndarray | float:
    """log with log(0) = -inf and no warning."""
    with np.errstate(divide="ignore"):
        return np.log(x)


def _log_normal(x: float, mean, var) -> np.ndarray:
    return -0.5 * (x - mean) ** 2 / var - 0.5 * np.log(2 * np.pi * var)
