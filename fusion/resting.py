"""Re-join a take that a resting hand split in two.

A shopper lifts an item while another finger still rests on the plate: the
plate settles with the hand's force still on it (an item's weight minus a few
grams), and the hand's release lands in the *next* change of that plate,
often the same shopper's next take a moment later. Each half alone is a poor
fit to whole items (the first is short by the hand's force, the second long
by it); their sum fits. The weight path cannot know a hand was resting, so
the engine checks consecutive events of the same plates against the items
they would be together.

The same hand may rest on a *neighbouring* plate while it takes: the
detector merges that plate's few grams of press into the take (one event over
both plates, whose sum fits no item), and the plate's next change starts from
the pressed level. :func:`shed_pressed_plates` drops such a plate from the
event when "items on the other plates, a hand's force on this one" explains
the grams better than "one product resting across all of them", and keeps the
dropped grams as a :class:`Residue`; :func:`carry_residue` adds a residue to
that plate's next change when only the sum fits whole items.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from fusion.inference import ItemInference
from fusion.types import ShelfEvent, Store


@dataclass(frozen=True, slots=True)
class RestingConfig:
    """When two events of the same plates are one interaction.

    Attributes:
        gap_s: the second starts at most this long (s) after the first ended.
        split_z: at least one of the two fits its best items this badly
            (|residual| in standard deviations) ...
        joined_z: ... while their sum fits its best items at least this well.
        press_sd_g: spread of the force a resting hand puts on a plate (g).
        carry_s: a residue joins the plate's next change if that starts
            within this long (s).
    """

    gap_s: float = 1.0
    split_z: float = 3.0
    joined_z: float = 2.0
    press_sd_g: float = 40.0
    carry_s: float = 3.0


@dataclass(frozen=True, slots=True)
class Residue:
    """Grams a resting hand left on a plate, not explained by items.

    Attributes:
        cell: plate index.
        grams: the plate's change that was set aside (g).
        sd_g: its standard deviation (g).
        t: end of the event it was dropped from (s).
    """

    cell: int
    grams: float
    sd_g: float
    t: float


def fit_z(event: ShelfEvent, items: Sequence[tuple[str, int]], store: Store) -> float:
    """|residual| of ``event.total_g`` against ``items`` in standard deviations
    (event noise plus unit-to-unit spread); the no-item hypothesis is 0 g."""
    mean = -sum(q * store.skus[s].weight_g for s, q in items)
    var = event.total_sd_g ** 2 + sum(abs(q) * store.skus[s].weight_sd_g ** 2 for s, q in items)
    return abs(event.total_g - mean) / math.sqrt(max(var, 1e-12))


def joined(a: ShelfEvent, b: ShelfEvent) -> ShelfEvent:
    """One event spanning ``a`` and ``b`` (same plates), grams summed."""
    return ShelfEvent(t_start=min(a.t_start, b.t_start), t_end=max(a.t_end, b.t_end),
                      t_final=max(a.t_final, b.t_final), cells=a.cells,
                      delta_g=tuple(x + y for x, y in zip(a.delta_g, b.delta_g, strict=True)),
                      sd_g=tuple(math.hypot(x, y) for x, y in zip(a.sd_g, b.sd_g, strict=True)))


def join_resting_splits(events: Sequence[ShelfEvent], store: Store, inference: ItemInference,
                        config: RestingConfig | None = None) -> list[ShelfEvent]:
    """Events of one decision group with resting-hand splits re-joined.

    Consecutive events of the same plates, the second starting within
    ``gap_s`` of the first's end, are joined when one of them is no good fit
    to whole items (``split_z``) and their sum is (``joined_z``), with items.
    """
    cfg = config or RestingConfig()
    out: list[ShelfEvent] = []
    for ev in sorted(events, key=lambda e: e.t_start):
        prev = next((i for i in range(len(out) - 1, -1, -1) if out[i].cells == ev.cells), None)
        if prev is not None and 0.0 <= ev.t_start - out[prev].t_end <= cfg.gap_s:
            both = joined(out[prev], ev)
            top = inference.hypotheses(both)[0]
            if top.items and fit_z(both, top.items, store) <= cfg.joined_z and max(
                    fit_z(e, inference.hypotheses(e)[0].items, store) for e in (out[prev], ev)) >= cfg.split_z:
                out[prev] = both
                continue
        out.append(ev)
    return out


def without_plate(event: ShelfEvent, i: int) -> ShelfEvent:
    """``event`` without its ``i``-th plate (parts dropped: they were over all plates)."""
    keep = [j for j in range(len(event.cells)) if j != i]
    return dataclasses.replace(event, cells=tuple(event.cells[j] for j in keep),
                               delta_g=tuple(event.delta_g[j] for j in keep),
                               sd_g=tuple(event.sd_g[j] for j in keep), parts=())


def shed_pressed_plates(event: ShelfEvent, inference: ItemInference,
                        config: RestingConfig | None = None) -> tuple[ShelfEvent, list[Residue]]:
    """Drop plates of a multi-plate event that only a hand pressed.

    Compares, one plate at a time, the evidence of "the other plates' grams
    are items, this plate's change is a hand's force N(0, press_sd_g)" with
    "all plates' grams are items, this plate carrying a share of them (uniform
    over the total)". Returns the event left and the grams set aside.
    """
    cfg = config or RestingConfig()
    residues: list[Residue] = []
    while len(event.cells) > 1:
        here = inference.log_evidence(event)
        best, best_gain = None, 0.0
        for i, (d, sd) in enumerate(zip(event.delta_g, event.sd_g, strict=True)):
            rest = without_plate(event, i)
            var = cfg.press_sd_g ** 2 + sd ** 2
            press = -0.5 * d * d / var - 0.5 * math.log(2 * math.pi * var)
            share = -math.log(max(abs(event.total_g), abs(d), cfg.press_sd_g))
            gain = inference.log_evidence(rest) + press - here - share
            if gain > best_gain:
                best, best_gain = i, gain
        if best is None:
            break
        residues.append(Residue(event.cells[best], event.delta_g[best], event.sd_g[best], event.t_end))
        event = without_plate(event, best)
    return event, residues


def carry_residue(event: ShelfEvent, residues: dict[int, Residue], inference: ItemInference,
                  config: RestingConfig | None = None) -> ShelfEvent:
    """``event`` with the residues of its plates added (the hand let go during
    this change) when items explain that better than the change alone. The
    residues of its plates set aside before it started are used up either way
    (removed from ``residues``); a later one waits for the change after it
    (events are not always decided in time order)."""
    cfg = config or RestingConfig()
    mine = {c: residues.pop(c) for c in event.cells if c in residues and residues[c].t <= event.t_start}
    mine = {c: r for c, r in mine.items() if event.t_start - r.t <= cfg.carry_s}
    if not mine:
        return event
    delta = tuple(d + (mine[c].grams if c in mine else 0.0) for c, d in zip(event.cells, event.delta_g, strict=True))
    sd = tuple(math.hypot(s, mine[c].sd_g) if c in mine else s for c, s in zip(event.cells, event.sd_g, strict=True))
    adjusted = dataclasses.replace(event, delta_g=delta, sd_g=sd, parts=())
    return adjusted if inference.log_evidence(adjusted) > inference.log_evidence(event) else event
