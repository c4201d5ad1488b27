"""Identity layer: per-track shopper state, tap binding, re-link and encounters.

Rules (see docs/tracking.md):

* A track *born* within ``entry_birth_m`` of an entry/both gate zone is an
  entering person of that gate; its ``arrival_t`` is the first time it is
  seen within ``entry_radius_m`` of the zone.
* Taps of one gate are served first-in first-out; each tap has ``party``
  slots. Entering tracks of that gate are taken in order of arrival. A tap is
  decided ``bind_settle_s`` after it; its first slot takes the earliest
  entering track that arrived in ``[tap.t - bind_before_s, tap.t +
  bind_after_s]``, further slots take tracks arriving within
  ``party_spread_s`` of the first member. A slot with nobody yet blocks the
  taps after it (keeps the order) until its window has passed.
* A confirmed track that is not an entering person (or an entering one no tap
  claimed) is re-linked to the most likely lost track (Gaussian in distance
  with a spread growing with the gap); its confidence is multiplied by the
  posterior of that choice against the other candidates and against "a new
  or false track" (density ``relink_clutter_per_m2``).
* Binding confidence is ``1 - p_swap`` where ``p_swap = 0.5 exp(-dt^2 / (2
  bind_order_sd_s^2))`` and ``dt`` is the arrival gap to the nearest person
  bound to a *different* tap of the same gate (order of arrival is uncertain
  when two people come within a fraction of a second); a further party member
  arriving ``lag`` after the first gets a factor ``1 - 0.5 (1 - exp(-2
  (lag / party_spread_s)^2))`` (1 together, ~0.8 at half the spread).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fusion.tracking.config import TrackerConfig
from fusion.tracking.history import TrackHistory
from fusion.tracking.kalman_core import KalmanTrack
from fusion.types import GateTap


@dataclass(slots=True)
class ShopperState:
    """Mutable floor/identity state attached to a core track (``KalmanTrack.data``).

    Attributes:
        history: positions and hands.
        born_xy: (2,) first detected position (m).
        entry_gate: id of the entry gate it was born near, or ``None``.
        zone_hits: detections at (within ``entry_radius_m`` of) that zone.
        arrival_t: time of its ``confirm_hits``-th detection at that zone (s),
            or ``None``.
        account: bound account or ``None``.
        identity_conf: confidence in ``account``, 0..1.
        bind_done: True once tap binding no longer applies (bound, or given up).
        exited: True once it left through an exit zone.
        near_exit: when it was lost: was it last seen near an exit zone.
        hint: the external tracker's last ``track`` hint, if any.
        t_confirmed: when the track was confirmed (s), or ``None``.
    """

    history: TrackHistory = field(default_factory=TrackHistory)
    born_xy: np.ndarray | None = None
    entry_gate: str | None = None
    zone_hits: int = 0
    arrival_t: float | None = None
    account: str | None = None
    identity_conf: float = 0.0
    bind_done: bool = False
    exited: bool = False
    near_exit: bool = False
    hint: str | None = None
    t_confirmed: float | None = None


def state(tr: KalmanTrack) -> ShopperState:
    """The :class:`ShopperState` of a track."""
    return tr.data  # type: ignore[return-value]


@dataclass(slots=True)
class PendingTap:
    """A tap with slots still to bind."""

    tap: GateTap
    slots_left: int
    first_arrival_t: float | None = None


def bind_gate(pending: list[PendingTap], entering: list[KalmanTrack], now: float,
              cfg: TrackerConfig, last: list[tuple[float, str]] | None = None,
              at_zone: Callable[[KalmanTrack, float], bool] | None = None,
              ) -> list[tuple[KalmanTrack, str, float]]:
    """Decide the taps of one gate at stream time ``now`` (s).

    Args:
        pending: the gate's pending taps in tap order; consumed/expired ones are
            removed in place.
        entering: unbound, confirmed entering tracks of the gate that have
            arrived (``arrival_t`` set).
        now: stream time (s).
        cfg: tracker config.
        last: ``[(arrival_t, account)]`` of the previous binding at this gate,
            updated in place (used for the order-of-arrival confidence).
        at_zone: ``at_zone(track, t)``: was the track at the gate zone at time
            ``t`` (s)? The first slot of a tap prefers, among the tracks that
            arrived in its window, those at the zone at the tap time (the
            tapper stands there), then the earliest arrival.

    Returns:
        (track, account, identity confidence) bindings made, in order.
    """
    cands = sorted(entering, key=lambda tr: state(tr).arrival_t)
    last = last if last is not None else []
    out: list[tuple[KalmanTrack, str, float]] = []
    ci = 0
    while pending:
        p = pending[0]
        tap = p.tap
        if now < tap.t + cfg.bind_settle_s:
            break
        if p.first_arrival_t is None:
            lo, hi = tap.t - cfg.bind_before_s, tap.t + cfg.bind_after_s
        else:
            lo = p.first_arrival_t - cfg.party_spread_s
            hi = p.first_arrival_t + cfg.party_spread_s
        while ci < len(cands) and state(cands[ci]).arrival_t < lo and not (
                p.first_arrival_t is None and at_zone is not None and at_zone(cands[ci], tap.t)):
            ci += 1  # arrived too early for this tap and left the gate: not its person
        if ci < len(cands) and state(cands[ci]).arrival_t <= hi:
            k = ci
            if p.first_arrival_t is None and at_zone is not None:
                k = _tapper(cands, ci, hi, tap.t, at_zone)
            tr = cands.pop(k)
            arrival = state(tr).arrival_t
            gaps = [abs(arrival - a) for a, acct in last if acct != tap.shopper]
            if p.slots_left == 1 and ci < len(cands):
                gaps.append(state(cands[ci]).arrival_t - arrival)  # the next one is another tap's
            conf = _order_conf(min(gaps, default=math.inf), cfg)
            if p.first_arrival_t is not None:
                # a later party member: the longer after the first, the likelier
                # it is somebody else (the next tap's person, a tailgater)
                lag = (arrival - p.first_arrival_t) / cfg.party_spread_s
                conf *= 1.0 - 0.5 * (1.0 - math.exp(-2.0 * lag * lag))
            out.append((tr, tap.shopper, conf))
            last[:] = [(arrival, tap.shopper)]
            if p.first_arrival_t is None:
                p.first_arrival_t = arrival
            p.slots_left -= 1
            if p.slots_left == 0:
                pending.pop(0)
        elif now >= hi + cfg.bind_settle_s:
            pending.pop(0)  # nobody came for the remaining slots
        else:
            break  # wait, keeping the order of taps
    return out


def _tapper(cands: list[KalmanTrack], ci: int, hi: float, t_tap: float,
            at_zone: Callable[[KalmanTrack, float], bool]) -> int:
    """Index of the first track from ``ci`` (arrived by ``hi``) that was at
    the zone at ``t_tap`` (s); ``ci`` when none was."""
    k = ci
    while k < len(cands) and state(cands[k]).arrival_t <= hi:
        if at_zone(cands[k], t_tap):
            return k
        k += 1
    return ci


def closest_other(tr: KalmanTrack, others: list[KalmanTrack], exclude: set[int],
                  t0: float, t1: float) -> float:
    """Closest distance (m) in [t0, t1] (s), counted from when each was
    confirmed, between ``tr`` and any other confirmed track whose ``id()`` is
    not in ``exclude`` (its party): two people who stood that close before a
    tap was decided may have been told apart wrongly."""
    st = state(tr)
    t, xy, *_ = st.history.slice(max(t0, st.t_confirmed or t0), t1)
    best = math.inf
    if len(t) == 0:
        return best
    for o in others:
        so = state(o)
        if o is tr or not o.confirmed or id(o) in exclude:
            continue
        to, xo, *_ = so.history.slice(max(t0, so.t_confirmed or t0), t1)
        m = (t >= to[0]) & (t <= to[-1]) if len(to) >= 2 else np.zeros(0, bool)
        if m.any():
            dx = np.interp(t[m], to, xo[:, 0]) - xy[m, 0]
            dy = np.interp(t[m], to, xo[:, 1]) - xy[m, 1]
            best = min(best, float(np.min(np.hypot(dx, dy))))
    return best


def _order_conf(gap_s: float, cfg: TrackerConfig) -> float:
    if not math.isfinite(gap_s):
        return 1.0
    return 1.0 - 0.5 * math.exp(-0.5 * (gap_s / cfg.bind_order_sd_s) ** 2)


def relink_choice(pairs: list[tuple[KalmanTrack, float, float, bool]],
                  cfg: TrackerConfig, clutter_per_m2: float | None = None,
                  ) -> tuple[int | None, float]:
    """Pick the most likely continuation among candidate (old, new) track pairs.

    Args:
        pairs: per candidate ``(other track, distance_m, gap_s, hint_match)``:
            the distance between the old track's last position and the new
            track's position ``gap_s`` seconds apart.
        cfg: tracker config.

    Returns:
        (index of the best pair or None, confidence factor 0..1): the factor is
        the posterior of the best pair against the others and against "a new or
        false track" (``relink_clutter_per_m2``); an implausibly long jump has a
        tiny likelihood, so its posterior is low. ``clutter_per_m2`` overrides
        ``cfg.relink_clutter_per_m2`` (0: always pick the best candidate).
    """
    clutter = cfg.relink_clutter_per_m2 if clutter_per_m2 is None else clutter_per_m2
    best, best_l, total = None, 0.0, 0.0
    for i, (_, d, gap, hint_match) in enumerate(pairs):
        sd = cfg.relink_sd_m + cfg.relink_speed_sd_mps * gap
        lik = math.exp(-0.5 * (d / sd) ** 2) / (2 * math.pi * sd**2) + 1e-300
        if hint_match:
            lik *= 10.0
        total += lik
        if lik > best_l:
            best, best_l = i, lik
    if best is None or best_l < clutter or best_l <= 1e-250:
        return None, 0.0  # "a new or false track" explains it better
    return best, best_l / (total + clutter)


def adopt_short_account(accounts: dict, t_first: float, live: dict[str, int],
                        cfg: TrackerConfig) -> tuple[str, float] | None:
    """The account an unbound track born at ``t_first`` (s) most likely
    belongs to among those with fewer live tracks than their party: weight
    ``exp(-0.5 ((t_first - t_tap) / adopt_tap_sd_s)^2)``.

    Returns:
        (account, posterior of that choice) or ``None`` when no account is short.
    """
    weights = {name: math.exp(-0.5 * ((t_first - a.t_tap) / cfg.adopt_tap_sd_s) ** 2) + 1e-12
               for name, a in accounts.items() if name in live and live[name] < a.party}
    if not weights:
        return None
    name = max(weights, key=weights.__getitem__)
    return name, weights[name] / sum(weights.values())


def hints_match(a: KalmanTrack, b: KalmanTrack) -> bool:
    """True when both tracks carry the same external-tracker hint."""
    ha = state(a).hint
    return ha is not None and ha == state(b).hint


def swap_probability(d_m: float, sd_m: float) -> float:
    """Probability that the assignment swapped two tracks whose predicted
    positions were ``d_m`` (m) apart.

    The swapped assignment costs less than the right one when the difference
    of the two innovations, projected on the line between the tracks, is
    below ``-d_m``; that projection has standard deviation ``sd_m`` (m), so
    ``p = Phi(-d_m / sd_m)``: 0.5 at contact, 0.16 at one ``sd_m``, 0.02 at two.
    """
    return 0.5 * math.erfc(d_m / (sd_m * math.sqrt(2.0)))


def encounter_factor(d_m: float, cfg: TrackerConfig, sd_m: float | None = None) -> float:
    """Identity confidence factor ``1 - p_swap`` for an encounter at closest
    distance ``d_m`` (m); ``sd_m`` defaults to ``cfg.swap_sd_m``."""
    return 1.0 - swap_probability(d_m, cfg.swap_sd_m if sd_m is None else sd_m)


def pair_swap_sd(a: KalmanTrack, b: KalmanTrack, cfg: TrackerConfig) -> tuple[float, float]:
    """Distance (m) between two tracks' current positions and the standard
    deviation (m) of the innovation difference along that line: ``u^T (P_a +
    P_b + 2 R) u`` with ``u`` the unit vector between them."""
    delta = a.kf.x[:2] - b.kf.x[:2]
    d = float(math.hypot(delta[0], delta[1]))
    u = delta / d if d > 1e-9 else np.array([1.0, 0.0])
    s = a.kf.P[:2, :2] + b.kf.P[:2, :2]
    var = float(u @ s @ u) + 2.0 * cfg.meas_sd_m ** 2
    return d, math.sqrt(var)


class EncounterMonitor:
    """Lowers identity confidence when bound tracks of different accounts meet.

    Each pair closer than ``close_m`` is an encounter; while it lasts, the
    confidences of both tracks are multiplied down by ``1 - p_swap`` with
    ``p_swap`` the largest :func:`swap_probability` seen so far, from the
    distance between their predicted positions and their own covariances plus
    measurement noise (:func:`pair_swap_sd`): a pair passing well apart
    relative to that noise costs nearly nothing. An encounter ends when the
    pair is more than ``1.25 * close_m`` apart; the lowered confidence stays.
    """

    def __init__(self, cfg: TrackerConfig):
        self.cfg = cfg
        self._pairs: dict[tuple[int, int], float] = {}

    def update(self, tracks: list[KalmanTrack], now: float) -> None:
        """Check bound, recently seen tracks at stream time ``now`` (s)."""
        cfg = self.cfg
        bound = [tr for tr in tracks if state(tr).account is not None
                 and now - tr.t_last < cfg.relink_min_gap_s]
        if len(bound) < 2 and not self._pairs:
            return
        xy = np.array([tr.kf.x[:2] for tr in bound]).reshape(-1, 2)
        d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
        ii, jj = np.nonzero(np.triu(d < cfg.close_m * 1.25, 1))
        live: dict[tuple[int, int], float] = {}
        for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
            a, b = bound[i], bound[j]
            if state(a).account == state(b).account:
                continue
            key = (min(a.id, b.id), max(a.id, b.id))
            old = self._pairs.get(key)
            if old is None and float(d[i, j]) >= cfg.close_m:
                continue
            dij, sd = pair_swap_sd(a, b, cfg)
            p_old = 0.0 if old is None else old
            p = max(p_old, swap_probability(dij, sd))
            if p > p_old:
                for tr in (a, b):
                    state(tr).identity_conf *= (1.0 - p) / (1.0 - p_old)
            live[key] = p
        # pairs not evaluated now (one side coasting) persist while both tracks live
        bound_ids = {tr.id for tr in bound}
        alive = {tr.id for tr in tracks}
        for key, p_max in self._pairs.items():
            if key not in live and key[0] in alive and key[1] in alive and not (
                    key[0] in bound_ids and key[1] in bound_ids):
                live[key] = p_max
        self._pairs = live
