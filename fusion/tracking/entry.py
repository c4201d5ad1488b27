"""Entry gates: who passed the gate, in which order, and which tap they belong to.

A tap is made by the person standing at the gate; the gate admits people one
at a time, so the order in which people *pass* an entry gate is the order of
the taps, and a tap with ``party`` N is followed by its N people before the
next tap's person. Binding therefore uses the order of passage, not who is
closest to the gate when the tap comes (in a queue the next person stands
right behind the tapper).

* A track *passes* an entry gate when, near its zone, its progress along the
  gate's inward direction (from the zone centre towards the store's interior:
  the shelves, else the other gates) first reaches ``pass_m`` after it was
  seen before that line (or when it is born past the line inside the zone's
  ``entry_radius_m``: a track that formed late).
* A passage at ``pass_t`` belongs to the latest tap of that gate with
  ``t <= pass_t + tap_lead_s`` if it has a free slot (within ``tap_open_s``:
  people may wait at the gate of a full store); if that tap is full, to the
  latest earlier tap still open (nobody passed for it yet, or the member
  before passed within ``party_spread_s``): people out of order, confidence
  0.5 for both. The *tapper* (the unbound, not yet passed track nearest the
  zone centre at the tap) gets its tap, and nobody else passes for that tap
  before its tapper while that track is in view. It is decided
  ``pass_decide_s`` after the passage, so a tap that came right after it is
  known.
* Confidence (probability that the binding is right) is the product of
  ``1 - p_prev - p_next`` (the passage could be a late member of an earlier
  open tap, or the person of a tap that came just after it; each a normal
  tail ``Phi(-margin / pass_time_sd_s)``), an order factor ``1 - 0.5
  exp(-dt^2 / (2 pass_time_sd_s^2))`` for the gap ``dt`` to the nearest
  passage bound to another tap (applied to both), and ``1 - p_swap`` for the
  closest other track of another party near the gate (a queue swap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fusion.tracking.config import TrackerConfig
from fusion.tracking.geometry import distance_to_polygon
from fusion.tracking.identity import state, swap_probability
from fusion.tracking.kalman_core import KalmanTrack
from fusion.types import Gate, GateTap, Store

_PASS_HYSTERESIS_M = 0.1


def _phi_tail(margin: float, sd: float) -> float:
    """P(N(0, sd^2) > margin)."""
    return 0.5 * math.erfc(margin / (sd * math.sqrt(2.0)))


def interior_point(store: Store) -> np.ndarray | None:
    """(2,) a point inside the store (m): the mean of the shelf fronts, else
    of the gate zones; ``None`` when the store has one gate and no cells."""
    if store.cells:
        return np.mean([np.asarray(c.front, float)[:, :2].mean(axis=0) for c in store.cells], axis=0)
    if len(store.gates) >= 2:
        return np.mean([np.asarray(g.zone, float).mean(axis=0) for g in store.gates], axis=0)
    return None


@dataclass(slots=True)
class TapSlots:
    """A tap and its party slots still to fill."""

    tap: GateTap
    slots_left: int
    last_pass_t: float | None = None
    tapper: KalmanTrack | None = None
    tapper_conf: float = 1.0
    others_passed: bool = False

    def reserved_for_other(self, tr: KalmanTrack, pass_t: float) -> bool:
        """True when this tap waits for its tapper (who passes first, before
        any party member), another unbound track still in view at ``pass_t`` (s)."""
        tp = self.tapper
        return (self.last_pass_t is None and tp is not None
                and tp is not tr and state(tp).account is None and tp.t_last > pass_t - 1.0)

    def open_until(self, cfg: TrackerConfig, latest: bool = False) -> float:
        """Latest passage time (s) that can still fill a slot: ``tap_open_s``
        after the tap for the gate's latest tap or a tap nobody passed for yet
        (people wait at the gate of a full store), else ``party_spread_s``
        after the member before."""
        if latest or self.last_pass_t is None:
            return self.tap.t + cfg.tap_open_s
        return self.last_pass_t + cfg.party_spread_s


@dataclass(slots=True)
class EntryLane:
    """One entry (or both) gate: geometry, its taps and recent bindings.

    Attributes:
        gate: the gate.
        centre: (2,) zone centroid (m).
        into: (2,) unit vector into the store (m/m).
        taps: recent taps in order.
        recent: ``(pass_t, track, account)`` of recent bindings.
        box: the zone's bounding box ``(x0, y0, x1, y1)`` (m).
    """

    gate: Gate
    centre: np.ndarray
    into: np.ndarray
    taps: list[TapSlots] = field(default_factory=list)
    recent: list[tuple[float, KalmanTrack, str]] = field(default_factory=list)
    box: tuple[float, float, float, float] = (-np.inf, -np.inf, np.inf, np.inf)

    @classmethod
    def of(cls, gate: Gate, interior: np.ndarray | None) -> EntryLane:
        """The lane of ``gate``; ``interior`` (2,) a point inside the store or ``None``."""
        zone = np.asarray(gate.zone, float)
        centre = zone.mean(axis=0)
        v = np.array([0.0, 1.0]) if interior is None else interior - centre
        n = float(np.hypot(v[0], v[1]))
        return cls(gate, centre, v / n if n > 1e-9 else np.array([0.0, 1.0]),
                   box=(*map(float, zone.min(axis=0)), *map(float, zone.max(axis=0))))

    def progress(self, xy: np.ndarray) -> float:
        """Signed distance (m) of ``xy`` past the zone centre, along :attr:`into`."""
        return float((xy[0] - self.centre[0]) * self.into[0] + (xy[1] - self.centre[1]) * self.into[1])

    def distance(self, xy: np.ndarray) -> float:
        """Distance (m) from ``xy`` to the zone (0 inside)."""
        return distance_to_polygon(np.asarray(self.gate.zone, float), xy)

    def near(self, xy: np.ndarray, radius_m: float) -> bool:
        """``distance(xy) <= radius_m``, with a bounding-box test first (called
        for every matched track in every frame)."""
        x0, y0, x1, y1 = self.box
        return (x0 - radius_m <= xy[0] <= x1 + radius_m and y0 - radius_m <= xy[1] <= y1 + radius_m
                and self.distance(xy) <= radius_m)


def watch_passage(lane: EntryLane, tr: KalmanTrack, t: float, xy: np.ndarray,
                  cfg: TrackerConfig, born: bool = False) -> None:
    """Update an unbound track's passage state with its position ``xy`` (2,) (m)
    at ``t`` (s); sets ``pass_t`` when it passes the gate, and clears it again
    when, before the passage is decided, the track is back 0.1 m behind the line."""
    st = state(tr)
    if st.pass_t is not None:
        if not st.bind_done and lane.progress(xy) < cfg.pass_m - _PASS_HYSTERESIS_M:
            st.pass_t = None  # stepped back before the line (or jitter): not passed yet
        return
    d = lane.distance(xy)
    if d > cfg.queue_m:
        return
    s = lane.progress(xy)
    if s < cfg.pass_m:
        st.before_pass = st.before_pass or s < 0.0 or d <= cfg.entry_birth_m
    elif d <= cfg.entry_birth_m and (st.before_pass or (born and d <= cfg.entry_radius_m)):
        st.pass_t = t
        st.bind_done = False  # decided by the taps, even if it had given up waiting


def choose_tap(lane: EntryLane, tr: KalmanTrack, pass_t: float, cfg: TrackerConfig
               ) -> tuple[TapSlots | None, float, set[str]]:
    """The tap a passage of ``tr`` at ``pass_t`` (s) belongs to, and ``1 -
    p_prev - p_next``. The tapper of an open tap gets that tap; a tap whose
    tapper is another track still in view is not a candidate.

    Returns:
        (tap or None when no open tap fits, confidence factor 0..1, accounts
        of later taps already filled: out of order, their people and this one
        may be swapped).
    """
    sd = cfg.pass_time_sd_s
    fits = [ts for ts in lane.taps if ts.tap.t <= pass_t + cfg.tap_lead_s]
    open_ = [ts for ts in fits
             if ts.slots_left > 0 and pass_t <= ts.open_until(cfg, ts is fits[-1])
             and not ts.reserved_for_other(tr, pass_t)]
    own = [ts for ts in lane.taps if ts.tapper is tr and ts.slots_left > 0]
    if own:
        return own[-1], own[-1].tapper_conf, set()
    if not open_:
        return None, 0.0, set()
    chosen = open_[-1]
    # a later tap filled by its own tapper alone was not this person's: no swap
    later_full = {ts.tap.shopper for ts in fits if ts.tap.t > chosen.tap.t
                  and (ts.others_passed or ts.tapper is None)}
    p_prev = 0.0
    if len(open_) > 1:  # an earlier tap still waits for someone: a late member of it?
        p_prev = _phi_tail(pass_t - chosen.tap.t + cfg.tap_lead_s, sd)
    if later_full:  # out of order: a later tap is full already
        p_prev = max(p_prev, 0.5)
    later = [ts.tap.t for ts in lane.taps if ts.tap.t > pass_t + cfg.tap_lead_s]
    p_next = _phi_tail(min(later) - pass_t, sd) if later else 0.0
    return chosen, max(1.0 - p_prev - p_next, 0.01), later_full


def find_tapper(lane: EntryLane, ts: TapSlots, tracks: list[KalmanTrack],
                cfg: TrackerConfig) -> None:
    """Record the tapper of a new tap: the unbound, confirmed entrant of this
    gate that has not passed yet and is not the tapper of an earlier tap still
    waiting, nearest the zone centre (within ``entry_radius_m`` of the zone); its confidence is ``1 - p_swap`` for the margin to the second
    nearest (m), with ``entry_swap_sd_m``."""
    taken = {id(o.tapper) for o in lane.taps if o.slots_left > 0 and o.last_pass_t is None}
    cands = []
    for tr in tracks:
        st = state(tr)
        xy = tr.kf.x[:2]
        if (st.account is None and id(tr) not in taken and st.pass_t is None and st.entry_gate == lane.gate.id
                and tr.confirmed and lane.distance(xy) <= cfg.entry_radius_m):
            cands.append((float(np.hypot(*(xy - lane.centre))), tr))
    if not cands:
        return
    cands.sort(key=lambda c: c[0])
    ts.tapper = cands[0][1]
    if len(cands) > 1:
        ts.tapper_conf = 1.0 - swap_probability(cands[1][0] - cands[0][0], cfg.entry_swap_sd_m)


def order_factor(gap_s: float, cfg: TrackerConfig) -> float:
    """Confidence factor for two passages of different taps ``gap_s`` (s) apart."""
    return 1.0 - 0.5 * math.exp(-0.5 * (gap_s / cfg.pass_time_sd_s) ** 2)


def bind_passages(lane: EntryLane, passers: list[KalmanTrack], cfg: TrackerConfig
                  ) -> tuple[list[tuple[KalmanTrack, str, float]], list[KalmanTrack]]:
    """Decide the passages of one gate (unbound tracks with ``pass_t``, due).

    Earlier bindings of this gate within a few seconds are lowered in place
    (order factor) when a new one of another tap comes close in time.

    Returns:
        (bindings ``(track, account, confidence)``, tracks no tap claims).
    """
    out, unclaimed = [], []
    for tr in sorted(passers, key=lambda tr: state(tr).pass_t):
        pass_t = state(tr).pass_t
        ts, conf, swapped = choose_tap(lane, tr, pass_t, cfg)
        if ts is None:
            unclaimed.append(tr)
            continue
        acct = ts.tap.shopper
        for t_o, other, acct_o in lane.recent:
            if acct_o != acct:
                f = 0.5 if acct_o in swapped else order_factor(abs(pass_t - t_o), cfg)
                conf *= f
                state(other).identity_conf *= f
                note_partners(tr, acct, other, acct_o, 1.0 - f, pass_t)
        ts.slots_left -= 1
        ts.others_passed = ts.others_passed or ts.tapper is not tr
        ts.last_pass_t = pass_t
        lane.recent = [r for r in lane.recent if r[0] > pass_t - 5.0] + [(pass_t, tr, acct)]
        out.append((tr, acct, conf))
    return out, unclaimed


def note_partners(a: KalmanTrack, account_a: str, b: KalmanTrack, account_b: str | None,
                  p: float, t: float, min_p: float = 0.01) -> None:
    """Record that tracks ``a`` (of ``account_a``) and ``b`` (of ``account_b``)
    may carry each other's accounts, with probability ``p``, from ``t`` (s)
    (:attr:`fusion.tracking.identity.ShopperState.swap_partners`): the
    engine then holds the receipt of the one that leaves first while the
    other is inside, and doubts it when the other's track takes something.
    Below ``min_p`` nothing is recorded: a partner is kept with the time the
    two first met, and a negligible doubt at the gate would date a later,
    real encounter of the two back to it."""
    if account_b is None or account_b == account_a or p < min_p:
        return
    for tr, acct in ((a, account_b), (b, account_a)):
        held = state(tr).swap_partners.get(acct)
        if held is None or p > held[0]:
            state(tr).swap_partners[acct] = (p, t if held is None else held[1])


def closest_other(tr: KalmanTrack, others: list[KalmanTrack], account: str,
                  t0: float, t1: float) -> tuple[float, KalmanTrack | None]:
    """Closest distance (m) in [t0, t1] (s), counted from when each was
    confirmed, between ``tr`` and any other confirmed track not bound to
    ``account`` (its party), and that track (``None`` when there is none):
    two people who stood that close in the queue may have been told apart
    wrongly."""
    st = state(tr)
    t, xy, *_ = st.history.slice(max(t0, st.t_confirmed or t0), t1)
    best, near = math.inf, None
    if len(t) == 0:
        return best, near
    for o in others:
        so = state(o)
        if o is tr or not o.confirmed or so.account == account:
            continue
        to, xo, *_ = so.history.slice(max(t0, so.t_confirmed or t0), t1)
        m = (t >= to[0]) & (t <= to[-1]) if len(to) >= 2 else np.zeros(0, bool)
        if m.any():
            dx = np.interp(t[m], to, xo[:, 0]) - xy[m, 0]
            dy = np.interp(t[m], to, xo[:, 1]) - xy[m, 1]
            d = float(np.min(np.hypot(dx, dy)))
            if d < best:
                best, near = d, o
    return best, near


def queue_factor(d_m: float, cfg: TrackerConfig) -> float:
    """``1 - p_swap`` for another party's track ``d_m`` (m) away at the gate."""
    return 1.0 - swap_probability(d_m, cfg.entry_swap_sd_m)


def prune_taps(lane: EntryLane, now: float, cfg: TrackerConfig) -> None:
    """Forget taps that can no longer take anybody at stream time ``now`` (s)."""
    lane.taps = [ts for ts in lane.taps
                 if ts.slots_left > 0 and now <= ts.open_until(cfg, ts is lane.taps[-1])
                 + cfg.pass_decide_s + 1.0 or ts is lane.taps[-1]]
