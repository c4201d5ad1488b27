"""Re-join a take that a resting hand split in two.

A shopper lifts an item while another finger still rests on the plate: the
plate settles with the hand's force still on it (an item's weight minus a few
grams), and the hand's release lands in the *next* change of that plate,
often the same shopper's next take a moment later. Each half alone is a poor
fit to whole items (the first is short by the hand's force, the second long
by it); their sum fits. The weight path cannot know a hand was resting, so
the engine checks consecutive events of the same plates against the items
they would be together.
"""

from __future__ import annotations

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
    """

    gap_s: float = 1.0
    split_z: float = 3.0
    joined_z: float = 2.0


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
