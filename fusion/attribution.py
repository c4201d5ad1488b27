"""Who made a shelf event: hand (else body) proximity to the plate, as a probability.

For every track seen during the event window we measure how close its hands
came to the front edges of the event's plates (3-D point-to-segment distance),
or, when a track has no hand points in the window, how close its body came on
the floor. Each track gets a likelihood; tracks of one account are summed, and
a constant "somebody we do not see" term keeps the probabilities honest when
nobody was near.

All distances in metres, times in seconds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fusion.types import ShelfEvent, Store

UNKNOWN = "?"  #: account key for "a person we cannot name" (unbound track or unseen)


@dataclass(frozen=True, slots=True)
class AttributionConfig:
    """Tunables of :func:`attribute` (defaults justified in docs/architecture.md).

    Attributes:
        pre_s: look this long before the event's start for hands (s).
        post_s: and this long after its end (s).
        hand_sd_m: spread of a reaching hand's distance to the edge (m):
            hand-point noise (3-8 cm) plus where on the edge the hand goes in.
        hand_points: how many of the closest hand points are averaged.
        body_reach_m: how far a body stands from the edge it reaches (m):
            nearer costs nothing.
        body_sd_m: spread of the distance beyond that (m).
        body_side_sd_m: spread of how far to the side of the plates a body
            stands that reaches them (m), measured along the shelf front
            beyond the plates' ends.
        body_speed_mps: both spreads grow by this times the time between
            the body sample used and the moment of the change (m/s).
        body_weight: likelihood factor of body-only evidence vs. hand evidence.
        body_when_hands: further factor on body evidence for a track whose
            hands were seen elsewhere during the window.
        touch_background: likelihood that someone who did *not* touch the
            plates still shows evidence as strong as a hand on the edge (for
            splitting a multi-unit event among several hands).
        max_split_accounts: at most this many accounts share one event.
        same_person_factor: relative likelihood that one person makes two
            events at once (two hands, two plates) vs. two people making them.
        simultaneous_s: one person's closest touches of two events less
            than this apart (s) count as "at once"; farther apart they are
            two reaches one after the other, which one person makes freely.
        reach_near_m: a hand this close to the plates (m) is reaching in.
        reach_gap_s: hand points near the plates further apart in time
            than this (s) belong to separate reaches.
        extra_unit_factor: when units of one event are split among accounts,
            weight of each unit beyond one per reach an account was seen making.
        idle_reach_factor: and of each reach that took nothing.
        joint_max_options: candidates per event considered in joint attribution.
        joint_max_combinations: at most this many joint assignments are
            weighed; a larger group drops its least likely options first.
        unseen_likelihood: likelihood of "someone we do not see" (relative to
            a hand right on the edge, which is 1).
        holding_after_s: product guesses on a track's hands up to this long
            after an event count as "carrying what was taken" (s).
        holding_before_s: and this long before it as "carrying what is put
            back" (s).
        product_gain: a hand seen holding the event's product with
            probability p multiplies that account's likelihood by
            ``1 + product_gain * p`` (see :func:`weigh_by_product`).
        change_sd_s: when the moment the plate's weight changed is known
            (``t_change`` of :func:`attribute`), a hand point ``dt`` seconds
            from it (beyond ``change_slack_s``) counts as if it were
            ``hand_sd_m * dt / change_sd_s`` further from the edge: the hand
            that took the item was at the plate when the weight moved
            (0 disables).
        change_slack_s: time either side of that moment that costs nothing (s).
        change_step_tol: that moment is where the readings first cross
            halfway, unless they step by more than this fraction of the
            event's change away from it there (a lean let go, not the item)
            and another moment's step matches the change within it
            (:func:`fusion.change_time.change_time`; 0: always the crossing).
        change_step_gap_s, change_step_span_s: a step is the median of the
            readings from ``gap`` to ``gap + span`` seconds after a moment
            minus that as far before it (s).
        linger_s: a hand that takes or places an item leaves the plate soon
            after the weight moved; a track whose hands are still within
            ``reach_near_m`` of the plates more than this long after that
            moment (s) ...
        linger_factor: ... has its likelihood multiplied by this (a hand
            resting or leaning on the shelf while another hand moved the
            item; 1 disables).
    """

    pre_s: float = 1.0
    post_s: float = 0.6
    hand_sd_m: float = 0.08
    hand_points: int = 3
    body_reach_m: float = 0.6
    body_sd_m: float = 0.25
    body_side_sd_m: float = 0.3
    body_speed_mps: float = 1.0
    body_weight: float = 0.15
    body_when_hands: float = 0.02
    unseen_likelihood: float = 1e-4
    touch_background: float = 0.2
    max_split_accounts: int = 3
    same_person_factor: float = 0.2
    joint_max_options: int = 4
    joint_max_combinations: int = 4096
    holding_after_s: float = 1.5
    holding_before_s: float = 2.0
    product_gain: float = 4.0
    simultaneous_s: float = 0.6
    reach_near_m: float = 0.12
    reach_gap_s: float = 0.4
    extra_unit_factor: float = 0.5
    idle_reach_factor: float = 0.5
    change_sd_s: float = 0.7
    change_slack_s: float = 0.2
    change_step_tol: float = 0.3
    change_step_gap_s: float = 0.25
    change_step_span_s: float = 0.35
    linger_s: float = 1.0
    linger_factor: float = 0.3


@dataclass(frozen=True, slots=True)
class Candidate:
    """One account's share of an event.

    Attributes:
        account: account id, or :data:`UNKNOWN`.
        probability: posterior probability, 0..1.
        identity_conf: confidence that the track really carries this account.
        distance_m: closest evidence distance (hand or body) to the plates (m).
        holding: SKU -> best 'holding' probability seen on its hands after the
            event (up to ``holding_after_s``).
        held_before: the same before the event (up to ``holding_before_s``).
        t_touch: when its closest evidence (hand, else body) was nearest the
            plates (s), NaN when unknown.
        reaches: separate reaches of its hands into the plates during the
            event (0 when none was seen).
        track_ids: the tracks that contributed.
        likelihood: unnormalised evidence that this account touched the
            plates (1 = a hand right on the edge).
        hand_score_m: mean distance of its closest hand points to the plates
            (m); infinite when none of its hands was seen.
        xy: floor position (m) of its most likely track at the middle of the
            event, or ``None``.
        track_id: its most likely track (the person whose evidence was
            strongest), or ``None``.
        product: (SKU, factor) of the vision product cue multiplied into
            ``likelihood`` by :func:`weigh_by_product`, or ``None``.
    """

    account: str
    probability: float
    identity_conf: float
    distance_m: float
    holding: dict[str, float]
    track_ids: tuple[int, ...]
    likelihood: float = 0.0
    hand_score_m: float = float("inf")
    xy: tuple[float, float] | None = None
    held_before: dict[str, float] = field(default_factory=dict)
    t_touch: float = float("nan")
    reaches: int = 0
    track_id: int | None = None
    product: tuple[str, float] | None = None


def segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from each point to the segment a-b, or to each of several segments.

    Args:
        points: (N, D) points (m).
        a, b: (D,) segment ends, or (S, D) for S segments (m).

    Returns:
        (N,) distances, or (N, S) for S segments (m).
    """
    if np.ndim(a) == 2:
        ab = b - a  # (S, D)
        ap = points[:, None, :] - a[None]  # (N, S, D)
        denom = np.einsum("sd,sd->s", ab, ab)
        s = np.clip(np.einsum("nsd,sd->ns", ap, ab) / np.where(denom > 0, denom, 1.0), 0.0, 1.0)
        return np.linalg.norm(ap - s[..., None] * ab, axis=2)
    ab = b - a
    denom = float(ab @ ab)
    s = np.clip(((points - a) @ ab) / denom, 0.0, 1.0) if denom > 0 else np.zeros(len(points))
    return np.linalg.norm(points - (a + s[:, None] * ab), axis=1)


def edges_distance(points: np.ndarray, fronts: Sequence[np.ndarray], dims: int = 3) -> np.ndarray:
    """(N,) distance from each point to the nearest of several front edges (m)."""
    if len(points) == 0:
        return np.zeros(0)
    return np.min([segment_distance(points[:, :dims], f[0, :dims], f[1, :dims]) for f in fronts], axis=0)


def attribute(event: ShelfEvent, store: Store, windows: Sequence, config: AttributionConfig | None = None,
              t_change: float | None = None) -> list[Candidate]:
    """Probabilities over accounts for who made ``event``.

    Args:
        event: the shelf event.
        store: the layout (plate front edges).
        windows: ``TrackWindow`` objects (see :mod:`fusion.tracking`) covering
            the event window.
        config: tunables.
        t_change: when the weight changed inside the event (s), if known
            (see ``AttributionConfig.change_sd_s``).

    Returns:
        Candidates sorted by probability (descending); probabilities sum to 1
        and include :data:`UNKNOWN`.
    """
    cfg = config or AttributionConfig()
    fronts = [store.cells[c].front for c in event.cells]
    t0, t1 = event.t_start - cfg.pre_s, event.t_end + cfg.post_s
    t_ref = t_change if t_change is not None else 0.5 * (event.t_start + event.t_end)
    per_account: dict[str, list] = {}
    for w in windows:
        lik, dist, t_touch = _track_likelihood(w, fronts, t0, t1, cfg, t_change, t_ref)
        if lik <= 0:
            continue
        if t_change is not None and _lingered(w, fronts, t_change, cfg):
            lik *= cfg.linger_factor
        key = w.account if w.account is not None else UNKNOWN
        per_account.setdefault(key, []).append((lik, dist, t_touch, w, bool(((w.hands_t >= t0) & (w.hands_t <= t1)).any())))
    total = cfg.unseen_likelihood + sum(i[0] for items in per_account.values() for i in items)
    out = []
    for account, items in per_account.items():
        lik = sum(i[0] for i in items)
        best = max(items, key=lambda i: i[0])
        tracks = [i[3] for i in items]
        out.append(Candidate(
            account, lik / total,
            identity_conf=float(sum(i[0] * i[3].identity_conf for i in items) / lik) if account != UNKNOWN else 0.0,
            distance_m=best[1],
            holding=holding_cues(tracks, event.t_start, event.t_end + cfg.holding_after_s),
            track_ids=tuple(w.track_id for w in tracks), likelihood=lik,
            hand_score_m=min((i[1] for i in items if i[4]), default=float("inf")),
            xy=_position_at(best[3], 0.5 * (event.t_start + event.t_end)),
            held_before=holding_cues(tracks, event.t_start - cfg.holding_before_s, event.t_end),
            t_touch=best[2], reaches=_reach_count(tracks, fronts, t0, event.t_end, cfg),
            track_id=best[3].track_id))
    unseen = cfg.unseen_likelihood / total
    known = [c for c in out if c.account != UNKNOWN]
    unknown_p = unseen + sum(c.probability for c in out if c.account == UNKNOWN)
    known.append(Candidate(UNKNOWN, unknown_p, 0.0, float("inf"), {}, ()))
    return sorted(known, key=lambda c: -c.probability)


def _position_at(w, t: float) -> tuple[float, float] | None:
    """Floor position (m) of a track window at its sample nearest ``t``."""
    if len(w.t) == 0:
        return None
    i = int(np.argmin(np.abs(w.t - t)))
    return float(w.xy[i, 0]), float(w.xy[i, 1])


def holding_cues(windows, t0: float, t1: float) -> dict[str, float]:
    """SKU -> best ``holding`` probability on the hands of ``windows`` in [t0, t1] (s)."""
    out: dict[str, float] = {}
    for w in windows:
        for i in np.flatnonzero((w.hands_t >= t0) & (w.hands_t <= t1)):
            for sku, p in w.hands_holding[i].items():
                out[sku] = max(out.get(sku, 0.0), float(p))
    return out


def favour(cands: list[Candidate], account: str, p: float) -> list[Candidate]:
    """``cands`` with ``account`` at probability ``p`` (0..1) and the others
    scaled to share ``1 - p``, most likely first; ``cands`` unchanged when
    ``account`` is not among them."""
    if not any(c.account == account for c in cands):
        return cands
    rest = sum(c.probability for c in cands if c.account != account)
    out = [dataclasses.replace(c, probability=p if c.account == account else
                               (1.0 - p) * c.probability / rest if rest > 0 else 0.0)
           for c in cands]
    return sorted(out, key=lambda c: -c.probability)


def _reaches(windows, fronts, t0: float, t1: float, cfg: AttributionConfig) -> list[np.ndarray]:
    """Separate reaches of these tracks' hands into the plates in [t0, t1] (s):
    the sorted times (s) of each run of hand points within ``reach_near_m``,
    runs split by gaps over ``reach_gap_s``."""
    times = []
    for w in windows:
        m = (w.hands_t >= t0) & (w.hands_t <= t1)
        if m.any():
            near = edges_distance(w.hands_p[m], fronts) <= cfg.reach_near_m
            times.append(w.hands_t[m][near])
    t = np.sort(np.concatenate(times)) if times else np.zeros(0)
    return np.split(t, np.flatnonzero(np.diff(t) > cfg.reach_gap_s) + 1) if len(t) else []


def _reach_count(windows, fronts, t0: float, t1: float, cfg: AttributionConfig) -> int:
    """How many separate reaches (:func:`_reaches`) these tracks made in [t0, t1] (s)."""
    return len(_reaches(windows, fronts, t0, t1, cfg))


def weigh_by_product(cands: Sequence[Candidate], skus: set[str], taken: bool,
                     config: AttributionConfig | None = None) -> list[Candidate]:
    """Re-weigh candidates by the vision product cue for the event's SKUs.

    The one who took an item carries it away, the one who puts one back
    carried it there: an account whose hands are seen holding one of
    ``skus`` after a take (before a put-back) with probability p has its
    likelihood multiplied by ``1 + product_gain * p``. Nobody seen holding
    anything changes nothing; the unknown actor keeps its likelihood.

    Args:
        cands: candidates of one event (from :func:`attribute`).
        skus: the SKUs the event most likely moved.
        taken: True for a take (plates lighter), False for a put-back.
        config: tunables.

    Returns:
        The candidates with updated likelihoods and probabilities, sorted.
    """
    cfg = config or AttributionConfig()
    cues = [max(((s, (c.holding if taken else c.held_before).get(s, 0.0)) for s in sorted(skus)),
                key=lambda x: x[1], default=("", 0.0))
            if c.account != UNKNOWN else ("", 0.0) for c in cands]
    factors = [1.0 + cfg.product_gain * p for _, p in cues]
    if all(f == 1.0 for f in factors):
        return list(cands)
    total = sum(c.probability * f for c, f in zip(cands, factors, strict=True)) or 1.0
    out = [dataclasses.replace(c, probability=c.probability * f / total, likelihood=c.likelihood * f,
                               product=(sku, f) if f > 1.0 else None)
           for c, (sku, _), f in zip(cands, cues, factors, strict=True)]
    return sorted(out, key=lambda c: -c.probability)


def _track_likelihood(w, fronts, t0: float, t1: float, cfg: AttributionConfig,
                      t_change: float | None = None, t_ref: float | None = None,
                      ) -> tuple[float, float, float]:
    """(likelihood, distance_m, t_touch) of one track window; the distance is
    the hand score (mean of the closest hand points) when hands were seen,
    ``t_touch`` the time (s) of the closest point. Body evidence is taken at
    ``t_ref`` (s; the middle of [t0, t1] when ``None``)."""
    hand_mask = (w.hands_t >= t0) & (w.hands_t <= t1)
    if hand_mask.any():
        d = edges_distance(w.hands_p[hand_mask], fronts)
        if t_change is not None and cfg.change_sd_s > 0:
            dt = np.maximum(np.abs(w.hands_t[hand_mask] - t_change) - cfg.change_slack_s, 0.0)
            d = np.hypot(d, cfg.hand_sd_m * dt / cfg.change_sd_s)
        k = min(cfg.hand_points, len(d))
        closest = np.partition(d, k - 1)[:k]
        score = float(closest.mean())
        t_touch = float(w.hands_t[hand_mask][int(np.argmin(d))])
        lik = float(np.exp(-0.5 * (score / cfg.hand_sd_m) ** 2))
        # body evidence still counts a little: a hand can be missed or mis-associated
        lik = max(lik, cfg.body_when_hands * _body_likelihood(w, fronts, t0, t1, cfg, t_ref)[0])
        return lik, score, t_touch
    return _body_likelihood(w, fronts, t0, t1, cfg, t_ref)


def _lingered(w, fronts, t_change: float, cfg: AttributionConfig) -> bool:
    """Did one reach of the track (:func:`_reaches`) begin by ``t_change``
    (s, plus ``change_slack_s``) and last more than ``linger_s`` beyond it?
    A hand that comes back later for another item is a new reach."""
    if cfg.linger_factor >= 1.0:
        return False
    # a lean can begin seconds before the change; a reach that ends past linger_s is enough
    runs = _reaches([w], fronts, t_change - 5.0, t_change + cfg.linger_s + 1.0, cfg)
    return any(r[0] <= t_change + cfg.change_slack_s and r[-1] > t_change + cfg.linger_s for r in runs)


def _body_likelihood(w, fronts, t0: float, t1: float, cfg: AttributionConfig,
                     t_ref: float | None = None) -> tuple[float, float, float]:
    """(likelihood, distance_m, t) of a track's body, without hands: where it
    stood at ``t_ref`` (s; its sample in [t0, t1] nearest that moment) in
    front of the plates. A person reaching a plate stands in front of it,
    within ``body_reach_m`` of the edge: the likelihood falls with the
    distance beyond that (``body_sd_m``) and with how far to the side of the
    plates' ends it stood (``body_side_sd_m``), times ``body_weight``. The
    distance returned is the body's floor distance to the nearest edge."""
    mask = (w.t >= t0) & (w.t <= t1)
    if not mask.any():
        return 0.0, float("inf"), float("nan")
    ts = w.t[mask]
    t_ref = 0.5 * (t0 + t1) if t_ref is None else t_ref
    i = int(np.argmin(np.abs(ts - t_ref)))
    xy = w.xy[mask][i]
    # a sample away from that moment says less about where the body stood then
    walk = cfg.body_speed_mps * abs(float(ts[i]) - t_ref)
    sd, side_sd = math.hypot(cfg.body_sd_m, walk), math.hypot(cfg.body_side_sd_m, walk)
    best = 0.0
    for f in fronts:
        depth, side = _depth_side(xy, np.asarray(f, float)[:, :2])
        z = (max(0.0, depth - cfg.body_reach_m) / sd) ** 2 + (side / side_sd) ** 2
        best = max(best, math.exp(-0.5 * z))
    d = float(edges_distance(xy[None, :], fronts, dims=2)[0])
    return cfg.body_weight * best, d, float(ts[i])


def _depth_side(xy: np.ndarray, edge: np.ndarray) -> tuple[float, float]:
    """How far (m) floor point ``xy`` (2,) stands from the line of ``edge``
    (2, 2), and how far beyond its ends along it (0 when level with it)."""
    a, b = edge
    length = float(np.hypot(*(b - a)))
    if length <= 0:
        return float(np.hypot(*(xy - a))), 0.0
    u = (b - a) / length
    rel = xy - a
    along = float(rel @ u)
    return abs(float(rel[0] * u[1] - rel[1] * u[0])), max(0.0, -along, along - length)


def allocate_units(cands: Sequence[Candidate], n_units: int, config: AttributionConfig | None = None,
                   unit_presence: Mapping[str, Sequence[float]] | None = None,
                   ) -> tuple[tuple[tuple[str, int], ...], float]:
    """Share ``n_units`` taken (or returned) in one event among the accounts that touched it.

    Two people can take from one plate within a second; the plate never
    settles in between and the weight path sees one event of two units. Each
    named account either touched the plates (probability
    ``q = L / (L + touch_background)``) or did not; an allocation giving
    ``k_i`` units to account ``i`` has weight ``prod(q_i if k_i else 1 - q_i)``,
    times, for an account seen making ``r_i`` separate reaches,
    ``extra_unit_factor`` per unit beyond ``r_i`` and ``idle_reach_factor`` per
    reach beyond ``k_i`` (most reaches take one item).

    When the moment each unit moved is known, ``unit_presence`` says how
    surely each account's hands were at the plate then: account -> one
    score per unit in time order (missing accounts score 0). Each unit's
    scores are divided by that unit's best; an allocation is then weighed
    by the mean, over the ways of giving its units in time order to its
    accounts, of the product of the scores of the units given. Scores that
    do not tell the accounts apart change nothing.

    Returns:
        ((account, units), ...) of the most probable allocation (units > 0),
        and its posterior probability among all allocations.
    """
    cfg = config or AttributionConfig()
    named = [c for c in cands if c.account != UNKNOWN][: cfg.max_split_accounts]
    if not named or n_units < 1:
        return (), 0.0
    q = np.array([c.likelihood / (c.likelihood + cfg.touch_background) for c in named])
    q = np.clip(q, 1e-9, 1 - 1e-9)
    r = np.array([c.reaches for c in named])
    timing = _timing_weights(named, n_units, unit_presence) if unit_presence is not None else None
    best, best_w, total = None, -1.0, 0.0
    for alloc in _compositions(n_units, len(named)):
        k = np.array(alloc)
        touched = k > 0
        w = float(np.prod(np.where(touched, q, 1 - q)))
        seen = touched & (r > 0)
        w *= cfg.extra_unit_factor ** int(np.maximum(k - r, 0)[seen].sum())
        w *= cfg.idle_reach_factor ** int(np.maximum(r - k, 0)[seen].sum())
        if timing is not None:
            w *= timing[alloc]
        total += w
        if w > best_w:
            best, best_w = alloc, w
    shares = tuple((named[i].account, k) for i, k in enumerate(best) if k > 0)
    return shares, best_w / total if total > 0 else 0.0


def _timing_weights(named: Sequence[Candidate], n_units: int,
                    unit_presence: Mapping[str, Sequence[float]]) -> dict[tuple[int, ...], float] | None:
    """Allocation (units per account of ``named``) -> mean over its ordered
    assignments of the product of row-normalised presence scores (see
    :func:`allocate_units`); ``None`` when the scores are unusable."""
    p = np.zeros((n_units, len(named)))
    for i, c in enumerate(named):
        row = unit_presence.get(c.account)
        if row is not None:
            if len(row) != n_units:
                raise ValueError(f"unit_presence[{c.account!r}]: {len(row)} scores for {n_units} units")
            p[:, i] = np.asarray(row, float)
    top = p.max(axis=1)
    if not np.all(top > 0) or not np.all(np.isfinite(p)):
        return None
    p /= top[:, None]
    # sums over ordered assignments, by counts so far: units in time order, one at a time
    sums: dict[tuple[int, ...], float] = {(0,) * len(named): 1.0}
    for j in range(n_units):
        nxt: dict[tuple[int, ...], float] = {}
        for counts, v in sums.items():
            for i in range(len(named)):
                key = counts[:i] + (counts[i] + 1,) + counts[i + 1:]
                nxt[key] = nxt.get(key, 0.0) + v * p[j, i]
        sums = nxt
    return {k: v * math.prod(math.factorial(x) for x in k) / math.factorial(n_units)
            for k, v in sums.items()}


def _compositions(n: int, k: int):
    """All ways to write n as an ordered sum of k non-negative integers."""
    if k == 1:
        yield (n,)
        return
    for first in range(n, -1, -1):
        for rest in _compositions(n - first, k - 1):
            yield (first, *rest)


def joint_attribution(per_event: Sequence[Sequence[Candidate]], config: AttributionConfig | None = None,
                      ) -> list[list[Candidate]]:
    """Re-weigh the candidates of events that happened at the same time.

    People reach one plate at a time (mostly): when two plates change together
    and two people stand there, "A took from plate 1 and B from plate 2" is
    likelier than either doing both. Every joint assignment of accounts to the
    events gets the product of the per-event likelihoods, times
    ``same_person_factor`` for each extra event given to one person (an
    account's most likely track, :attr:`Candidate.track_id`) whose closest
    touch of it came at the same moment (``simultaneous_s``) as its touch of
    another; each event's probabilities are the marginals of that joint
    posterior. Two members of a party share an account but have two pairs
    of hands: one account's events at the same moment by two of its tracks
    cost nothing.

    A product cue is evidence once: a hand seen holding a can after two cans
    left two plates at the same moment says this person carries a can, not
    two. When one person gets several events at once whose likelihoods were
    raised by a cue for the same SKU (:attr:`Candidate.product`), only the
    largest of those factors counts.

    Args:
        per_event: for each event, the candidates from :func:`attribute`.
        config: tunables.

    Returns:
        For each event, its candidates with joint-posterior probabilities,
        sorted by probability.
    """
    cfg = config or AttributionConfig()
    if len(per_event) < 2:
        return [list(c) for c in per_event]
    options = [[(c.account, c.likelihood if c.account != UNKNOWN else
                 max(c.likelihood, cfg.unseen_likelihood), c.t_touch, c.track_id, c.product)
                for c in cands][: cfg.joint_max_options]
               for cands in per_event]
    _trim_options(options, cfg.joint_max_combinations)
    marg = [dict.fromkeys((a for a, *_ in opts), 0.0) for opts in options]
    for combo in _product(options):
        w = 1.0
        touches: dict[tuple[str, int | None], list[float]] = {}
        cued: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for account, lik, t_touch, track_id, product in combo:
            w *= lik
            if account != UNKNOWN:
                touches.setdefault((account, track_id), []).append(t_touch)
                if product is not None:
                    cued.setdefault((account, product[0]), []).append((t_touch, product[1]))
        w *= cfg.same_person_factor ** sum(_at_once(ts, cfg.simultaneous_s) for ts in touches.values())
        for cues in cued.values():
            if len(cues) > 1:
                w /= _cue_counted_again(cues, cfg.simultaneous_s)
        for i, (account, *_) in enumerate(combo):
            marg[i][account] += w
    out = []
    for cands, m in zip(per_event, marg, strict=True):
        total = sum(m.values()) or 1.0
        kept = [dataclasses.replace(c, probability=m.get(c.account, 0.0) / total) for c in cands]
        out.append(sorted(kept, key=lambda c: -c.probability))
    return out


def _trim_options(options: list[list[tuple]], max_combinations: int) -> None:
    """Drop the least likely options (in place) until the joint assignments
    number at most ``max_combinations``; every event keeps its best option.
    A crowded plate can chain many events into one group: without this the
    work grows as options ** events."""
    while math.prod(len(o) for o in options) > max_combinations:
        worst = min((o for o in options if len(o) > 1), key=lambda o: o[-1][1] / o[0][1])
        worst.pop()


def _cue_counted_again(cues: list[tuple[float, float]], simultaneous_s: float) -> float:
    """Product of the cue factors of ``cues`` ((t_touch s, factor), one
    account and SKU) that repeat one at the same moment (within
    ``simultaneous_s``; unknown times count as at once): every factor of a
    run of touches at once but the largest."""
    cues = sorted(cues, key=lambda c: (math.isnan(c[0]), c[0]))
    out, run = 1.0, [cues[0][1]]
    for (a, _), (b, f) in zip(cues, cues[1:], strict=False):
        if b - a >= simultaneous_s:
            out *= math.prod(run) / max(run)
            run = []
        run.append(f)
    return out * math.prod(run) / max(run)


def _at_once(touches: list[float], simultaneous_s: float) -> int:
    """How many of one account's touches (s) fall at the same moment as an
    earlier one (within ``simultaneous_s``; unknown times count as at once)."""
    ts = sorted(touches, key=lambda t: (math.isnan(t), t))
    return sum(1 for a, b in zip(ts, ts[1:], strict=False)
               if not (b - a >= simultaneous_s))


def _product(options):
    if not options:
        yield ()
        return
    for head in options[0]:
        for rest in _product(options[1:]):
            yield (head, *rest)


class HandSpreadEstimator:
    """Online estimate of how far a reaching hand's score lies from the plate edge.

    Hand-point noise and where on the edge hands go differ between camera
    pipelines, so the spread used by :func:`attribute` is learnt from the
    recording itself: the root mean square of the best candidate's hand score
    over clear-cut events (one account clearly nearest), times ``margin``,
    within [``lo_m``, ``hi_m``]. Until ``min_events`` were seen it is ``prior_m``.
    """

    def __init__(self, prior_m: float = 0.08, lo_m: float = 0.03, hi_m: float = 0.12,
                 margin: float = 1.25, min_events: int = 15, keep: int = 400):
        self.prior_m, self.lo_m, self.hi_m = prior_m, lo_m, hi_m
        self.margin, self.min_events, self.keep = margin, min_events, keep
        self._scores: list[float] = []

    def observe(self, cands: Sequence[Candidate]) -> None:
        """Learn from one event's candidates if it is clear-cut."""
        named = [c for c in cands if c.account != UNKNOWN]
        if not named or not np.isfinite(named[0].hand_score_m) or named[0].probability < 0.9:
            return
        s1 = named[0].hand_score_m
        s2 = min((c.hand_score_m for c in named[1:]), default=float("inf"))
        if s2 >= max(3.0 * s1, 2.0 * self.value()):
            self._scores.append(min(s1, self.hi_m))
            del self._scores[:-self.keep]

    def value(self) -> float:
        """The spread to use now (m)."""
        if len(self._scores) < self.min_events:
            return self.prior_m
        rms = float(np.sqrt(np.mean(np.square(self._scores))))
        return float(np.clip(self.margin * rms, self.lo_m, self.hi_m))
