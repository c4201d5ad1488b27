"""Split a shelf event made of several steps between the hands that made them.

The weight detector cannot tell a hand pressing on a plate (the reading goes
up, then back down) from a put-back followed, before the plate was quiet for
long, by somebody else's take of the same item: both are a rise and a fall
that cancel. With ``WeightConfig.keep_cancelled`` it reports such a pair (and
any other event it summed from several steps) with its ``parts``; here the
engine asks who made each part. When every part is a clear whole-item step,
each was made by a named account with little doubt, and not all by the same
account, the parts become events of their own (a put-back charged back to
one shopper, a take to the other). Otherwise the summed event stands, and a
cancelled one (net change near 0) is dropped as the press it most likely was.

When one hand made every part, or a part is no clear item, and the summed
event fits no clear item either (a misplaced return, a lean and a take in
one reach), :func:`item_groups` regroups the settled parts by their grams
alone into consecutive runs that are each a whole-item step.

A put-back and a take less than a settle time apart are one unstable episode
to the detector, reported (with ``keep_cancelled``) as a cancelled event with
no parts. :func:`plateau_parts` looks inside it, on the plate's raw samples,
for a quiet stretch whose level is a whole number of units away from the level
before: a put-back's item lying on the plate between the two hands.

The same search runs on a one-plate event that two accounts may have made:
two takes less than a settle time apart leave the first hand's result as a
plateau.

When the two hands overlap so much that no plateau is left (the second hand
lifts the item a fraction of a second after the first put it down), the weight
alone cannot tell the pair from a press. :func:`transfer_parts` then asks
vision's product guesses: one account seen carrying one of the plate's SKUs
before the episode and not after it, another seen carrying it after and not
before, both with hands at the plate, and the reading swung by about a unit
of it inside the episode.

Times in seconds, grams.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fusion.attribution import segment_distance
from fusion.resting import joined
from fusion.types import EventPart, ItemHypothesis, ShelfEvent


@dataclass(frozen=True, slots=True)
class PartSplitConfig:
    """Tunables of :func:`split_by_hands`.

    Attributes:
        min_account_p: each part's most likely account must have at least
            this attribution probability.
        min_items_p: each part's most likely item hypothesis must have at
            least this probability, and name items.
        time_sd_s: a hand point counts for a part with weight
            ``exp(-0.5 (dt / time_sd_s)^2)``, ``dt`` its time outside the
            part's step (s): the hand that made a step is at the plate while
            the weight moves, and one that arrives just after it scores little.
        prior_points: that weighted mean of closeness starts from this many
            points of "not at the plate", so that a track seen only far from
            the step in time does not score on one lucky point.
        unseen: presence score of "a hand we do not see" (a hand right at
            the edge for the whole step scores 1).
        cancelled_g: an event whose net change is below this (g) is a
            cancelled pair: dropped when it is not split.
        ambiguous_p: an event whose second most likely account has at least
            this probability is searched for an item-like plateau too (two
            takes by two hands, less than a settle time apart).
        plateau_s: shortest quiet stretch inside a cancelled episode that
            can be an item lying on the plate (s) ...
        plateau_min_samples: ... and at least this many samples.
        quiet_sd: a stretch is quiet when its samples' standard deviation is
            at most this many times the plate's noise ...
        quiet_min_g: ... or this many grams.
        whole_k: its level must be within this many standard deviations of a
            whole number of units of a SKU of the plate.
        pressed_rel: when no quiet plateau is found, one with hands still
            pressing on the items is accepted: spread (and extra tolerance)
            up to this fraction of the plate's lightest unit, when that is
            more than the quiet limit ...
        pressed_min_unit_g: ... and the lightest unit weighs at least this (g):
            a hand's tremor is small against a bottle, not against a bag of
            chips.
        transfer_cue_p: :func:`transfer_parts`: a product guess at least this
            probable says a hand carried that SKU ...
        transfer_absent_p: ... and none above this says it did not.
        transfer_min_account_p: giver and taker must each have at least this
            attribution probability for the whole episode.
        transfer_swing: the reading must swing by at least this fraction of
            the SKU's unit weight inside the episode.
        transfer_before_s: carrying cues are looked for this long before the
            episode (and after the swing) for the giver (s) ...
        transfer_after_s: ... and from the swing to this long after the
            episode for the taker (s).
        transfer_p_max: the most a transfer's attribution can be trusted.
        crossed_min_p: :func:`crossed_pair`: a cancelled episode that no rule
            explained, where two open accounts each have at least this
            attribution probability ...
        crossed_swing: ... and the reading swung (up or down from its level
            before) by at least this fraction of the plate's lightest unit,
            may have been one shopper's put-back and another's take of the
            same item: both receipts get a doubt.
        group_fit_z: :func:`item_groups`: a run of parts is a whole-item step
            when its grams are within this many standard deviations (event
            noise plus unit spread) of its most likely items.
    """

    min_account_p: float = 0.8
    min_items_p: float = 0.9
    time_sd_s: float = 0.1
    prior_points: float = 1.0
    unseen: float = 0.02
    cancelled_g: float = 8.0
    ambiguous_p: float = 0.05
    plateau_s: float = 0.2
    plateau_min_samples: int = 4
    quiet_sd: float = 2.0
    quiet_min_g: float = 1.5
    whole_k: float = 3.0
    pressed_rel: float = 0.1
    pressed_min_unit_g: float = 200.0
    transfer_cue_p: float = 0.5
    transfer_absent_p: float = 0.3
    transfer_min_account_p: float = 0.2
    transfer_swing: float = 0.6
    transfer_before_s: float = 2.0
    transfer_after_s: float = 1.5
    transfer_p_max: float = 0.98
    crossed_min_p: float = 0.25
    crossed_swing: float = 0.6
    group_fit_z: float = 3.0


def part_events(ev: ShelfEvent) -> list[ShelfEvent]:
    """The parts of a one-plate event, as events of their own (``t_final`` of
    the whole); ``[]`` when there is nothing to split."""
    parts = ev.parts
    if len(parts) < 2 or len(ev.cells) != 1 or any(p.cell != ev.cells[0] for p in parts):
        return []
    return [ShelfEvent(t_start=p.t_start, t_end=p.t_end, t_final=ev.t_final, cells=(p.cell,),
                       delta_g=(p.delta_g,), sd_g=(p.sd_g,)) for p in parts]


def clear_step(run: ShelfEvent, top: ItemHypothesis,
               fit_z: Callable[[ShelfEvent, Sequence[tuple[str, int]]], float],
               config: PartSplitConfig | None = None) -> bool:
    """``top`` (``run``'s most likely hypothesis) names items, is probable
    (``min_items_p``) and fits ``run``'s grams within ``group_fit_z``."""
    cfg = config or PartSplitConfig()
    return bool(top.items) and top.probability >= cfg.min_items_p and fit_z(run, top.items) <= cfg.group_fit_z


def item_groups(ev: ShelfEvent, what: Callable[[ShelfEvent], ItemHypothesis],
                fit_z: Callable[[ShelfEvent, Sequence[tuple[str, int]]], float],
                config: PartSplitConfig | None = None) -> list[ShelfEvent] | None:
    """``ev``'s settled parts regrouped by weight alone: consecutive runs of
    parts that are each a clear whole-item step, or ``None``.

    One hand can put an item back and take another in one reach (a can
    returned to the wrong plate, a different one taken from it), pressing on
    the plate in between: the detector reports one event whose net grams
    (here +66 g, +37 g of press, -383 g of take and release) may fit no
    product of the plate, or a wrong one. Its steps settled one by one, so
    their grams were measured apart: a run of them that sums to whole items
    (the press and its release fall into one run) is a step of its own.

    Args:
        ev: a one-plate event with ``parts``.
        what: run event -> its most likely item hypothesis.
        fit_z: (run event, items) -> |residual| in standard deviations
            (:func:`fusion.resting.fit_z`).
        config: tunables (``min_items_p``, ``group_fit_z``, ``cancelled_g``).

    Returns:
        The runs that moved items, in time order, when there are at least
        two and every run is either a clear item step (most likely
        hypothesis names items, probability >= ``min_items_p``, fit within
        ``group_fit_z``) or nets below ``cancelled_g`` (a press and its
        release, dropped); of several such groupings the one whose runs'
        hypotheses are jointly most probable. ``None`` otherwise.
    """
    cfg = config or PartSplitConfig()
    subs = part_events(ev)
    n = len(subs)
    if n < 2:
        return None
    # best[j]: (log-probability, runs) of the best grouping of subs[:j]
    best: list[tuple[float, list[ShelfEvent]] | None] = [(0.0, [])] + [None] * n
    for j in range(1, n + 1):
        for i in range(j):
            if best[i] is None:
                continue
            run = functools.reduce(joined, subs[i:j])
            if abs(run.total_g) < cfg.cancelled_g:
                score, keep = 0.0, []
            else:
                top = what(run)
                if not clear_step(run, top, fit_z, cfg):
                    continue
                score, keep = math.log(top.probability), [run]
            cand = (best[i][0] + score, best[i][1] + keep)
            if best[j] is None or cand[0] > best[j][0]:
                best[j] = cand
    final = best[n]
    if final is None or len(final[1]) < 2:
        return None
    return final[1]


def split_by_hands(ev: ShelfEvent, who: Callable[[ShelfEvent], tuple[str | None, float]],
                   what: Callable[[ShelfEvent], ItemHypothesis],
                   config: PartSplitConfig | None = None) -> list[ShelfEvent]:
    """The events to decide in place of ``ev``.

    Args:
        ev: a shelf event, possibly with ``parts``.
        who: part event -> (most likely account or ``None`` when nobody can
            be named, its probability).
        what: part event -> its most likely item hypothesis.
        config: tunables.

    Returns:
        ``ev``'s parts when different accounts clearly made them; else
        ``[ev]``, or ``[]`` when ``ev`` is a cancelled pair (net change below
        ``cancelled_g``).
    """
    cfg = config or PartSplitConfig()
    whole = [] if abs(ev.total_g) < cfg.cancelled_g else [ev]
    steps = clear_steps(ev, who, what, cfg)
    if steps is None or len({account for _, _, account, _ in steps}) < 2:
        return whole
    return [sub for sub, _, _, _ in steps]


def clear_steps(ev: ShelfEvent, who: Callable[[ShelfEvent], tuple[str | None, float]],
                what: Callable[[ShelfEvent], ItemHypothesis], config: PartSplitConfig | None = None,
                ) -> list[tuple[ShelfEvent, ItemHypothesis, str, float]] | None:
    """``ev``'s parts as (part event, its item hypothesis, account, who-probability)
    when every part is a clear whole-item step (``min_items_p``) by a named
    account (``min_account_p``); ``None`` when one is not, or there are no parts.
    ``who`` and ``what`` as for :func:`split_by_hands`."""
    cfg = config or PartSplitConfig()
    subs = part_events(ev)
    if not subs:
        return None
    out = []
    for sub in subs:
        top = what(sub)
        if not top.items or top.probability < cfg.min_items_p:
            return None
        account, p = who(sub)
        if account is None or p < cfg.min_account_p:
            return None
        out.append((sub, top, account, p))
    return out


def own_pair(ev: ShelfEvent, who: Callable[[ShelfEvent], tuple[str | None, float]],
             what: Callable[[ShelfEvent], ItemHypothesis],
             config: PartSplitConfig | None = None,
             ) -> tuple[str, list[tuple[ShelfEvent, ItemHypothesis, float]]] | None:
    """A cancelled pair that one account clearly made: a pick and put-back
    (or a return and a re-take) of the same SKU.

    Args:
        ev: a cancelled event with ``parts``.
        who, what: as for :func:`split_by_hands`.
        config: tunables.

    Returns:
        (account, [(part event, its item hypothesis, who-probability), ...])
        when every part is a clear whole-item step (``min_items_p``) by the
        same named account (``min_account_p``) and the parts' items cancel;
        else ``None``. Its net change to the receipt is nothing, but the
        receipt's evidence lines record both steps.
    """
    cfg = config or PartSplitConfig()
    if abs(ev.total_g) >= cfg.cancelled_g:
        return None
    steps = clear_steps(ev, who, what, cfg)
    if steps is None or len({account for _, _, account, _ in steps}) != 1:
        return None
    net: dict[str, int] = {}
    for _, top, _, _ in steps:
        for sku, q in top.items:
            net[sku] = net.get(sku, 0) + q
    if any(net.values()):
        return None
    return steps[0][2], [(sub, top, p) for sub, top, _, p in steps]


def crossed_pair(t: np.ndarray, g: np.ndarray, t_start: float, present: dict[str, float],
                 units: Sequence[tuple[float, float]], config: PartSplitConfig | None = None,
                 ) -> tuple[str, str, float] | None:
    """May a cancelled one-plate episode be two shoppers' put-back and take
    (or take and put-back) of one item, that cancel on the plate?

    Nothing on the plate changed, so nobody is charged for it either way; but
    if it was two shoppers, one receipt still holds an item that was put back
    and the other lacks one that was taken, both confidently. With no plateau
    and no product cue to split it, the episode says only this much: two
    shoppers were at the plate and the reading moved by about an item.

    Args:
        t: (n,) times of the plate's raw samples around the episode (s).
        g: (n,) readings (g).
        t_start: when the episode began (s); samples before it give the level.
        present: open account -> attribution probability for the whole episode.
        units: (unit mean g, unit sd g) of the SKUs stocked on the plate.
        config: thresholds (``crossed_min_p``, ``crossed_swing``).

    Returns:
        (more likely account, other account, probability of the other's
        presence) or ``None``.
    """
    cfg = config or PartSplitConfig()
    two = sorted(((p, a) for a, p in present.items() if p >= cfg.crossed_min_p), reverse=True)[:2]
    if len(two) < 2 or not len(units) or not len(g):
        return None
    before = g[t < t_start]
    level = float(np.median(before)) if len(before) else float(g[0])
    swing = max(float(g.max()) - level, level - float(g.min()))
    if swing < cfg.crossed_swing * min(u[0] for u in units):
        return None
    return two[0][1], two[1][1], two[1][0]


def plateau_parts(t: np.ndarray, g: np.ndarray, ev: ShelfEvent, units: Sequence[tuple[float, float]],
                  noise_g: float, config: PartSplitConfig | None = None, max_items: int = 5,
                  ) -> tuple[EventPart, ...]:
    """Parts of a one-plate event split at item-like plateaus.

    Args:
        t: (N,) sample times of the event's plate around the event (s),
            increasing, including some samples before ``ev.t_start`` and after
            ``ev.t_end``.
        g: (N,) its readings (g), gaps removed.
        ev: the event (one plate): cancelled, or one two accounts may have made.
        units: (mean g, sd g) of each SKU stocked on the plate.
        noise_g: the plate's noise standard deviation (g).
        config: tunables.
        max_items: most units one hand moves.

    Returns:
        (level before -> plateau, plateau -> ..., plateau -> level after) when
        quiet stretches lie a whole number of units from the level before them
        and from the level after (the first such stretch wins, then the rest of
        the episode is searched from it), else ``()``.
    """
    cfg = config or PartSplitConfig()
    before, after = g[t < ev.t_start], g[t > ev.t_end]
    inside = (t >= ev.t_start) & (t <= ev.t_end)
    ti, gi = t[inside], g[inside]
    if len(before) < 3 or len(after) < 2 or len(ti) < 2 or ti[-1] <= ti[0]:
        return ()
    base, final = float(np.median(before[-10:])), float(np.median(after[:10]))
    w = max(cfg.plateau_min_samples, math.ceil(cfg.plateau_s * (len(ti) - 1) / (ti[-1] - ti[0])))
    if len(gi) < w + 2:
        return ()
    quiet_g = max(cfg.quiet_sd * noise_g, cfg.quiet_min_g)
    lightest = min((mu for mu, _ in units), default=0.0)
    heavy = lightest * cfg.pressed_rel if lightest >= cfg.pressed_min_unit_g else 0.0
    parts: list[EventPart] = []
    t_from, sd_base = ev.t_start, noise_g ** 2 / min(len(before), 10)
    while len(parts) < max_items:
        found = _item_plateau(ti, gi, base, final, units, noise_g, w, quiet_g, 0.0, max_items, cfg)
        if found is None and heavy > quiet_g:
            # hands still pressing on the items that lie there: a noisier plateau,
            # acceptable only when the plate's units are heavy against that noise
            found = _item_plateau(ti, gi, base, final, units, noise_g, w, heavy, heavy, max_items, cfg)
        if found is None:
            break
        t_up, t_down, level, extra = found
        if parts and not (np.sign(level - base) == np.sign(final - level) == np.sign(parts[-1].delta_g)):
            break  # more than two parts only as a staircase (hands taking in turn), never a press
        sd_level = noise_g ** 2 / w + extra ** 2
        parts.append(EventPart(ev.cells[0], t_from, t_up, level - base, float(np.sqrt(sd_base + sd_level))))
        # the next hand's steps: search the rest of the episode from this plateau
        t_from, base, sd_base = t_down, level, sd_level
        rest = ti > t_down
        ti, gi = ti[rest], gi[rest]
        if len(gi) < w + 2:
            break
    if not parts:
        return ()
    parts.append(EventPart(ev.cells[0], t_from, ev.t_end, final - base,
                           float(np.sqrt(sd_base + noise_g ** 2 / min(len(after), 10)))))
    return tuple(parts)


@dataclass(frozen=True, slots=True)
class Transfer:
    """A put-back and another account's take of one unit inside one episode.

    Attributes:
        giver: account that put the unit back.
        taker: account that took it.
        sku: the SKU moved.
        parts: the two steps (put-back, take) in time order.
        probability: how surely the accounts are right, 0..1.
    """

    giver: str
    taker: str
    sku: str
    parts: tuple[EventPart, EventPart]
    probability: float


def transfer_parts(t: np.ndarray, g: np.ndarray, ev: ShelfEvent,
                   units: dict[str, tuple[float, float]],
                   cues: Callable[[str, float, float], dict[str, float]],
                   accounts: dict[str, float], noise_g: float,
                   config: PartSplitConfig | None = None) -> Transfer | None:
    """A put-back and a take of the same SKU by two accounts, hidden in a
    cancelled one-plate episode, when vision's product guesses say so.

    Args:
        t: (N,) sample times of the plate around the episode (s), increasing,
            with some samples before ``ev.t_start``.
        g: (N,) its readings (g), gaps removed.
        ev: the cancelled episode (one plate, net change near 0).
        units: SKU stocked on the plate -> (mean g, sd g) of one unit.
        cues: (account, t0, t1) -> SKU -> best ``holding`` probability on
            that account's hands in [t0, t1] (s).
        accounts: named accounts with hands at the plate -> attribution
            probability for the whole episode.
        noise_g: the plate's noise standard deviation (g).
        config: tunables.

    Returns:
        The transfer, or ``None`` unless exactly one account carried a SKU of
        the plate before the swing and not after the episode, exactly one
        other carried it after the swing and not before the episode, both
        have at least ``transfer_min_account_p``, and the reading swung by at
        least ``transfer_swing`` units inside the episode. The swing's sign
        orders the steps (up first: the put-back came first), its extreme
        splits them in time.
    """
    cfg = config or PartSplitConfig()
    named = [a for a, p in accounts.items() if p >= cfg.transfer_min_account_p]
    before = g[t < ev.t_start]
    inside = (t >= ev.t_start) & (t <= ev.t_end)
    if len(named) < 2 or len(before) < 3 or not inside.any() or len(ev.cells) != 1:
        return None
    base = float(np.median(before[-10:]))
    ti, dev = t[inside], g[inside] - base
    hi, lo = int(np.argmax(dev)), int(np.argmin(dev))
    up_first = dev[hi] >= -dev[lo]
    k = hi if up_first else lo
    swing, t_mid = abs(float(dev[k])), float(ti[k])
    t0, t1 = ev.t_start - cfg.transfer_before_s, ev.t_end + cfg.transfer_after_s
    found = None
    for sku, (mu, sd) in units.items():
        if swing < cfg.transfer_swing * mu:
            continue
        givers, takers = [], []
        for a in named:
            early = cues(a, t0, t_mid).get(sku, 0.0)
            late = cues(a, t_mid, t1).get(sku, 0.0)
            if early >= cfg.transfer_cue_p and cues(a, ev.t_end, t1).get(sku, 0.0) < cfg.transfer_absent_p:
                givers.append((a, early))
            if late >= cfg.transfer_cue_p and cues(a, t0, ev.t_start).get(sku, 0.0) < cfg.transfer_absent_p:
                takers.append((a, late))
        if len(givers) != 1 or len(takers) != 1 or givers[0][0] == takers[0][0]:
            continue
        if found is not None:
            return None  # two SKUs could have moved: not sure which
        (giver, pg), (taker, pt) = givers[0], takers[0]
        step_sd = float(math.sqrt(sd ** 2 + 2.0 * noise_g ** 2))
        back = EventPart(ev.cells[0], ev.t_start if up_first else t_mid,
                         t_mid if up_first else ev.t_end, mu, step_sd)
        take = EventPart(ev.cells[0], t_mid if up_first else ev.t_start,
                         ev.t_end if up_first else t_mid, ev.total_g - mu, step_sd)
        parts = (back, take) if up_first else (take, back)
        p = min(cfg.transfer_p_max, 1.0 - (1.0 - pg) * (1.0 - pt))
        found = Transfer(giver, taker, sku, parts, p)
    return found


def _item_plateau(ti, gi, base, final, units, noise_g, w, quiet_g, extra_g, max_items, cfg,
                  ) -> tuple[float, float, float, float] | None:
    """(first time, last time, level, spread g) of the first stretch of ``w``
    samples quieter than ``quiet_g`` whose level lies a whole number of units
    from ``base`` and from ``final`` (``extra_g`` widens that test), or None."""
    win = np.lib.stride_tricks.sliding_window_view(gi, w)
    level, spread = win.mean(axis=1), win.std(axis=1)
    quiet = spread <= quiet_g
    quiet[0] = quiet[-1] = False  # a plateau lies between the two hands
    if not quiet.any():
        return None
    # both steps (base -> plateau -> final) must be whole numbers of units;
    # the first such plateau wins: the first hand's result, before a second
    # hand pressing on the items can make another item-like level
    counts = range(1, max_items + 1)
    z = np.maximum(_whole_z(np.abs(level - base), units, noise_g, w, counts, extra_g),
                   _whole_z(np.abs(final - level), units, noise_g, w, counts, extra_g))
    ok = np.flatnonzero(quiet & (z < cfg.whole_k))
    if ok.size == 0:
        return None
    first = int(ok[0])  # best fit within the first run of such windows
    run_end = first
    while run_end + 1 < len(z) and quiet[run_end + 1] and z[run_end + 1] < cfg.whole_k:
        run_end += 1
    best = first + int(np.argmin(z[first:run_end + 1]))
    # the plateau: the run of quiet windows around the best at its level
    same = quiet & (np.abs(level - level[best]) <= quiet_g)
    lo, hi = best, best
    while lo > 0 and same[lo - 1]:
        lo -= 1
    while hi + 1 < len(same) and same[hi + 1]:
        hi += 1
    return float(ti[lo]), float(ti[hi + w - 1]), float(level[best]), float(spread[lo:hi + 1].max()) if extra_g else 0.0


def step_presence(windows, front: np.ndarray, t_start: float, t_end: float, hand_sd_m: float,
                  config: PartSplitConfig | None = None) -> dict[str | None, float]:
    """How surely each account's hands were at a plate while it stepped.

    Args:
        windows: ``TrackWindow`` objects around the step.
        front: (2, 3) the plate's front edge (m).
        t_start, t_end: the step (s).
        hand_sd_m: spread of a reaching hand's distance to the edge (m).
        config: tunables.

    Returns:
        account (``None`` for unbound tracks) -> presence score 0..1, the
        best of its tracks: the time-weighted mean of ``exp(-0.5 (d /
        hand_sd_m)^2)`` over its hand points (``d`` the distance to the edge).
    """
    cfg = config or PartSplitConfig()
    out: dict[str | None, float] = {}
    for w in windows:
        if len(w.hands_t) == 0:
            continue
        dt = np.maximum(0.0, np.maximum(t_start - w.hands_t, w.hands_t - t_end))
        weight = np.exp(-0.5 * (dt / cfg.time_sd_s) ** 2)
        d = segment_distance(w.hands_p, front[0], front[1])
        close = np.exp(-0.5 * (d / hand_sd_m) ** 2)
        score = float((weight * close).sum() / (weight.sum() + cfg.prior_points))
        out[w.account] = max(out.get(w.account, 0.0), score)
    return out


def most_present(scores: dict[str | None, float], config: PartSplitConfig | None = None,
                 ) -> tuple[str | None, float]:
    """(account, probability) of the named account most surely at the plate,
    against every other score (unbound tracks included) and "a hand we do not
    see"; ``(None, 1.0)`` when no named account scored."""
    cfg = config or PartSplitConfig()
    total = cfg.unseen + sum(scores.values())
    named = {k: v for k, v in scores.items() if k is not None}
    if not named:
        return None, 1.0
    best = max(named, key=named.__getitem__)
    return best, named[best] / total


def _whole_z(step: np.ndarray, units: Sequence[tuple[float, float]], noise_g: float, w: int,
             counts: Sequence[int], extra_g: float = 0.0) -> np.ndarray:
    """(N,) distance in sd of each |step| (g) from the nearest ``n`` units
    (``n`` in ``counts``) of any of ``units`` ((mean g, sd g)); inf when
    there is no unit."""
    z = np.full(step.shape, np.inf)
    for mu, sd in units:
        for n in counts:
            tol = math.sqrt(2.0 * noise_g ** 2 / w + n * sd ** 2 + (0.01 * n * mu) ** 2 + extra_g ** 2)
            z = np.minimum(z, np.abs(step - n * mu) / tol)
    return z
