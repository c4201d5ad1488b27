"""Identity layer: per-track shopper state, re-link, adoption and encounters.

Rules (see docs/tracking.md; entry-gate binding is in
:mod:`fusion.tracking.entry`):

* A confirmed track that is not an entering person (or an entering one no tap
  claimed) is re-linked to the most likely lost track (Gaussian in distance
  with a spread growing with the gap); its confidence is multiplied by the
  posterior of that choice against the other candidates and against "a new
  or false track" (density ``relink_clutter_per_m2``).
* Bound tracks of different accounts that come close lower each other's
  confidence by the probability that the assignment swapped them.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field

import numpy as np

from fusion.tracking.config import TrackerConfig
from fusion.tracking.history import TrackHistory
from fusion.tracking.kalman_core import KalmanTrack


@dataclass(slots=True)
class ShopperState:
    """Mutable floor/identity state attached to a core track (``KalmanTrack.data``).

    Attributes:
        history: positions and hands.
        born_xy: (2,) first detected position (m).
        entry_gate: id of the entry gate it was born near, or ``None``.
        before_pass: seen near that gate before its passage line.
        pass_t: when it passed that gate into the store (s), or ``None``
            (see :mod:`fusion.tracking.entry`).
        account: bound account or ``None``.
        identity_conf: confidence in ``account``, 0..1.
        bind_done: True once tap binding no longer applies (bound, or given up).
        exited: True once it left through an exit zone.
        near_exit: when it was lost: was it last seen near an exit zone.
        hint: the external tracker's last ``track`` hint, if any.
        t_confirmed: when the track was confirmed (s), or ``None``.
        how: how it got its account (``"tap"``, ``"re-link"``, ``"switch"``,
            ``"adopt"``, ``"adopt-short"``), for diagnostics; ``None`` if unbound.
        t_how: when that happened (s).
        swap_partners: account -> (largest probability that an encounter with
            a track of that account swapped the two, when they first met (s));
            see :class:`EncounterMonitor`. If this track's account is wrong,
            that account's receipt is wrong too.
        tent_confs: detector confidences of its detections while tentative
            (labels for :class:`fusion.tracking.scores.DetectorScores`).
        cameras: camera id -> when its detection last updated the track (s).
    """

    history: TrackHistory = field(default_factory=TrackHistory)
    born_xy: np.ndarray | None = None
    entry_gate: str | None = None
    before_pass: bool = False
    pass_t: float | None = None
    account: str | None = None
    identity_conf: float = 0.0
    bind_done: bool = False
    exited: bool = False
    near_exit: bool = False
    hint: str | None = None
    t_confirmed: float | None = None
    how: str | None = None
    t_how: float = 0.0
    swap_partners: dict[str, tuple[float, float]] = field(default_factory=dict)
    tent_confs: list[float] = field(default_factory=list)
    cameras: dict[str, float] = field(default_factory=dict)


def state(tr: KalmanTrack) -> ShopperState:
    """The :class:`ShopperState` of a track."""
    return tr.data  # type: ignore[return-value]


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
                        cfg: TrackerConfig, now: float,
                        born_xy: np.ndarray | None = None,
                        t_inside: float | None = None) -> tuple[str, float] | None:
    """The account an unbound track born at ``t_first`` (s) most likely
    belongs to among those with fewer live tracks than their party: weight
    ``exp(-0.5 ((t_first - t_tap) / adopt_tap_sd_s)^2)`` times the density
    (1/m^2) of a member appearing at ``born_xy`` (2,) (m): the party's
    proximity (:func:`party_density`; party members walk together, so a member
    the tracker lost reappears next to the others), or ``adopt_far_per_m2``
    when ``born_xy`` is ``None``.

    An account whose tap can still bind somebody at ``now`` (s) (less than
    ``bind_after_s + pass_decide_s`` after it) is weighed but not chosen: when
    it is the most likely one, the answer is ``None`` (wait), so a person who
    queued, tapped and walked in untracked by the tap is not handed to an
    older account in the meantime.

    ``t_inside`` (s), when known, is a time the person was already inside the
    store (the track's passage through an entry gate, or its birth away from
    any entry): an account that tapped more than ``tap_lead_s`` after it
    cannot be theirs, as people tap before they walk in (the same margin the
    gate binding allows; a gate that stamps its taps later than that needs a
    larger ``tap_lead_s`` for both).

    The posterior is taken against the short accounts and against "none of
    them" (density ``adopt_other_per_m2``: a person whose own account is not
    short, e.g. one whose track another person's took over, or somebody who
    did not tap), so a track born far from every short party is adopted with
    a low confidence.

    Returns:
        (account, posterior of that choice) or ``None`` when no account is
        short, or the likeliest one's tap is still open.
    """
    weights = {}
    open_taps = set()
    for name, a in accounts.items():
        if name in live and live[name] < a.party:
            if t_inside is not None and a.t_tap > t_inside + cfg.tap_lead_s:
                continue
            w = math.exp(-0.5 * ((t_first - a.t_tap) / cfg.adopt_tap_sd_s) ** 2) + 1e-12
            w *= (cfg.adopt_far_per_m2 if born_xy is None  # place unknown: anywhere
                  else party_density(a.tracks, born_xy, t_first, cfg))
            weights[name] = w
            if now < a.t_tap + cfg.bind_after_s + cfg.pass_decide_s:
                open_taps.add(name)
    if not weights:
        return None
    name = max(weights, key=weights.__getitem__)
    if name in open_taps:
        return None
    return name, weights[name] / (sum(weights.values()) + cfg.adopt_other_per_m2)


def party_density(tracks: list[KalmanTrack], xy: np.ndarray, t: float,
                  cfg: TrackerConfig) -> float:
    """Density (1/m^2) of a party member appearing at ``xy`` (2,) (m) at
    ``t`` (s), given the party's other tracks.

    Members walk together: with probability ``adopt_together`` near the
    nearest other member (a 2-D Gaussian with sd ``adopt_party_sd_m`` around
    its position at ``t``, or its last one, or its first if it was seen only
    later, the sd growing by ``relink_speed_sd_mps`` per second between),
    else anywhere in the store (``adopt_far_per_m2``). A party none of whose
    members was ever tracked may be anywhere: ``adopt_far_per_m2``."""
    near = -1.0
    for tr in tracks:
        h = state(tr).history
        if not h.t:
            continue
        k = max(min(bisect_right(h.t, t), len(h.t)) - 1, 0)
        gap = abs(t - h.t[k])  # a member first seen after ``t`` was somewhere else then
        sd = cfg.adopt_party_sd_m + cfg.relink_speed_sd_mps * gap
        d2 = (xy[0] - h.x[k]) ** 2 + (xy[1] - h.y[k]) ** 2
        near = max(near, math.exp(-0.5 * d2 / sd**2) / (2 * math.pi * sd**2))
    if near < 0.0:
        return cfg.adopt_far_per_m2
    return cfg.adopt_together * near + (1.0 - cfg.adopt_together) * cfg.adopt_far_per_m2


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


def swap_spread_scale(nis_mean: float, cfg: TrackerConfig) -> float:
    """Factor on an encounter's swap spread from the filters' innovation
    consistency: ``sqrt(nis_mean / swap_nis_ref)`` clamped to 0.5..2.

    Detections noisier than ``meas_sd_m`` (or people moving more abruptly
    than ``accel_sd_mps2``) raise the mean normalised innovation squared and
    the share of encounters the assignment gets wrong; cleaner ones lower
    both. ``swap_nis_ref`` is where the plain spread was right on the
    simulator (docs/tracking.md)."""
    return min(max(math.sqrt(max(nis_mean, 0.0) / cfg.swap_nis_ref), 0.5), 2.0)


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

    def update(self, tracks: list[KalmanTrack], now: float, nis_mean: float | None = None,
               ) -> None:
        """Check bound, recently seen tracks at stream time ``now`` (s).

        ``nis_mean`` is the core's running mean normalised innovation squared
        (:attr:`TrackCore.nis_mean`); the swap spread is scaled by
        :func:`swap_spread_scale` of it (``None``: 1)."""
        cfg = self.cfg
        scale = 1.0 if nis_mean is None else swap_spread_scale(nis_mean, cfg)
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
            p = max(p_old, swap_probability(dij, sd * scale))
            if p > p_old:
                for tr, other in ((a, b), (b, a)):
                    st = state(tr)
                    st.identity_conf *= (1.0 - p) / (1.0 - p_old)
                    acc = state(other).account
                    p_had, t_met = st.swap_partners.get(acc, (0.0, now))
                    st.swap_partners[acc] = (max(p, p_had), t_met)
            live[key] = p
        # pairs not evaluated now (one side coasting) persist while both tracks live
        bound_ids = {tr.id for tr in bound}
        alive = {tr.id for tr in tracks}
        for key, p_max in self._pairs.items():
            if key not in live and key[0] in alive and key[1] in alive and not (
                    key[0] in bound_ids and key[1] in bound_ids):
                live[key] = p_max
        self._pairs = live
