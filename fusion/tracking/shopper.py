"""Floor-plane shopper tracker: tracks, hands, identities (entry taps) and exits.

Built on the generic :mod:`fusion.tracking.kalman_core`; the identity rules
live in :mod:`fusion.tracking.identity`. See docs/tracking.md.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_left
from dataclasses import dataclass, field

import numpy as np

from fusion.tracking.config import ExitEvent, TrackerConfig, TrackWindow
from fusion.tracking.geometry import distance_to_polygon
from fusion.tracking.identity import (
    EncounterMonitor,
    PendingTap,
    ShopperState,
    adopt_short_account,
    bind_gate,
    closest_other,
    encounter_factor,
    hints_match,
    relink_choice,
    state,
)
from fusion.tracking.kalman_core import KalmanTrack, TrackCore
from fusion.types import GateTap, PersonDetection, Store, VisionFrame

log = logging.getLogger(__name__)

_TRIM_EVERY_S = 1.0
_SHADOW_EVERY_S = 0.25


@dataclass(slots=True)
class _Account:
    status: str = "inside"
    party: int = 1
    t_tap: float = 0.0
    tracks: list[KalmanTrack] = field(default_factory=list)


class ShopperTracker:
    """Tracks anonymous people on the floor and binds them to tapped accounts.

    Feed taps and camera frames in stream-time order; query windows and exits
    at any time. Online: nothing uses data later than the last input.

    Args:
        store: the store (gate zones and kinds are used).
        config: parameters; defaults when ``None``.
    """

    def __init__(self, store: Store, config: TrackerConfig | None = None):
        self.store = store
        self.config = config or TrackerConfig()
        self._core = TrackCore(self.config.core())
        self._gates = {g.id: g for g in store.gates}
        self._exit_zones = [np.asarray(g.zone, float) for g in store.gates if g.is_exit]
        self._entry_boxes = {g.id: (np.min(g.zone, axis=0), np.max(g.zone, axis=0),
                                    np.asarray(g.zone, float))
                             for g in store.gates if g.is_entry}
        self._lost: list[KalmanTrack] = []  # confirmed, unseen > coast_s, re-linkable
        self._done: list[KalmanTrack] = []  # exited or expired; kept for window()
        self._pending: dict[str, list[PendingTap]] = {}
        self._last_bound: dict[str, list[tuple[float, str]]] = {}
        self._accounts: dict[str, _Account] = {}
        self._exit_watch: set[str] = set()
        self._exits: list[ExitEvent] = []
        self._encounters = EncounterMonitor(self.config)
        self._now = -math.inf
        self._last_trim = -math.inf
        self._last_shadow_check = -math.inf

    # ------------------------------------------------------------ inputs
    def tap(self, tap: GateTap) -> None:
        """Register an entry tap (in stream-time order with the frames)."""
        if tap.gate not in self._gates:
            raise ValueError(f"tap at t={tap.t}: unknown gate {tap.gate!r}; "
                             f"store gates are {sorted(self._gates)}")
        if tap.party < 1:
            raise ValueError(f"tap at t={tap.t} gate {tap.gate}: party must be >= 1, "
                             f"got {tap.party}")
        self._advance(tap.t)
        acct = self._accounts.get(tap.shopper)
        if acct is None or acct.status == "exited":
            self._accounts[tap.shopper] = _Account(party=tap.party, t_tap=tap.t)
        else:
            acct.party, acct.t_tap = max(acct.party, tap.party), tap.t
        self._pending.setdefault(tap.gate, []).append(PendingTap(tap, tap.party))
        self._bind(self._now)

    def update(self, frame: VisionFrame) -> None:
        """Process one camera frame (a measurement set at ``frame.t``)."""
        self._advance(frame.t)
        t = self._now
        dets = [p for p in frame.people if p.conf >= self.config.min_conf]
        if dets:
            self._ingest(t, dets)
        self._bind(t)
        self._encounters.update(self._core.active, t)

    # ----------------------------------------------------------- queries
    def pop_exits(self, t: float) -> list[ExitEvent]:
        """Exits decided by stream time ``t`` (s), each returned once."""
        if t > self._now:
            self._advance(t)
        out = [e for e in self._exits if e.decided_t <= t]
        self._exits = [e for e in self._exits if e.decided_t > t]
        return sorted(out, key=lambda e: e.decided_t)

    def window(self, t0: float, t1: float) -> list[TrackWindow]:
        """Every confirmed track observed in [t0, t1] (s), by track id."""
        if not t0 <= t1:
            raise ValueError(f"window: t0 must be <= t1, got {t0} > {t1}")
        out = []
        tracks = [tr for tr in self._core.active if tr.confirmed] + self._lost + self._done
        for tr in sorted(tracks, key=lambda tr: tr.id):
            st = state(tr)
            t, xy, ht, hp, hold = st.history.slice(t0, t1)
            if len(t) or len(ht):
                out.append(TrackWindow(tr.id, st.account,
                                       st.identity_conf if st.account else 0.0,
                                       t, xy, ht, hp, hold))
        return out

    def accounts(self) -> dict[str, str]:
        """Account -> ``"inside"`` or ``"exited"``, for every tapped account."""
        return {a: s.status for a, s in self._accounts.items()}

    # ----------------------------------------------------------- frames
    def _ingest(self, t: float, dets: list[PersonDetection]) -> None:
        core = self._core
        z = np.array([p.xy for p in dets], dtype=float).reshape(-1, 2)
        matches, dups, unmatched = core.assign(t, z, self.config.duplicate_radius_m)
        newly = []
        matched = []
        born: list[KalmanTrack] = []
        for j, tr in matches:
            st = state(tr)
            st.history.add_position(t, tr.kf.x[:2])
            self._observe(st, t, dets[j])
            if st.account is None and st.arrival_t is None:
                self._check_arrival(st, t, tr.kf.x[:2])
            matched.append(tr)
            if tr.confirmed and st.t_confirmed is None:
                st.t_confirmed = t
                newly.append(tr)
        for j, tr in dups:
            self._observe(state(tr), t, dets[j])
        # highest confidence first, so a duplicate pair is born at its better half
        for j in sorted(unmatched.tolist(), key=lambda j: -dets[j].conf):
            owner = self._duplicate_owner(z[j], matched, self.config.duplicate_radius_m)
            if owner is None:
                owner = self._duplicate_owner(z[j], born, self.config.birth_merge_m)
            if owner is not None:
                self._observe(state(owner), t, dets[j])
                continue
            tr = core.birth(t, z[j])
            born.append(tr)
            st = ShopperState(born_xy=z[j].copy(),
                              entry_gate=self._entry_gate_at(z[j], self.config.entry_birth_m))
            tr.data = st
            self._check_arrival(st, t, z[j])
            st.history.add_position(t, z[j])
            self._observe(st, t, dets[j])
        for tr in newly:
            if state(tr).entry_gate is None:
                self._relink(tr)

    @staticmethod
    def _observe(st: ShopperState, t: float, det: PersonDetection) -> None:
        if det.hands:
            st.history.add_hands(t, det.hands)
        if det.track is not None:
            st.hint = det.track

    @staticmethod
    def _duplicate_owner(z: np.ndarray, tracks: list[KalmanTrack],
                         radius_m: float) -> KalmanTrack | None:
        best, best_d = None, radius_m
        for tr in tracks:
            d = math.hypot(z[0] - tr.kf.x[0], z[1] - tr.kf.x[1])
            if d < best_d:
                best, best_d = tr, d
        return best

    def _check_arrival(self, st: ShopperState, t: float, xy: np.ndarray) -> None:
        """Count detections of an unbound track at an entry zone; it *arrives*
        (``arrival_t``) at the ``confirm_hits``-th, so one early false detection
        does not decide the order of arrival. An unbound track that walks into
        an entry zone becomes an entering person of that gate."""
        r = self.config.entry_radius_m
        if st.entry_gate is None or not self._near_zone(st.entry_gate, xy, r):
            gate = self._entry_gate_at(xy, r)
            if gate is None:
                return
            if gate != st.entry_gate:
                st.entry_gate, st.zone_hits, st.bind_done = gate, 0, False
        st.zone_hits += 1
        if st.zone_hits >= self._core.config.confirm_hits:
            st.arrival_t = t

    def _at_zone_at(self, tr: KalmanTrack, gate_id: str, t: float) -> bool:
        """Was ``tr`` within ``entry_radius_m`` of the gate zone at ``t`` (s)
        (its position nearest in time, within 0.3 s)?"""
        h = state(tr).history
        k = bisect_left(h.t, t)
        near = [i for i in (k - 1, k) if 0 <= i < len(h.t) and abs(h.t[i] - t) <= 0.3]
        if not near:
            return False
        i = min(near, key=lambda i: abs(h.t[i] - t))
        return self._near_zone(gate_id, np.array([h.x[i], h.y[i]]), self.config.entry_radius_m)

    def _near_zone(self, gate_id: str, xy: np.ndarray, radius_m: float) -> bool:
        lo, hi, zone = self._entry_boxes[gate_id]
        if (xy[0] < lo[0] - radius_m or xy[1] < lo[1] - radius_m
                or xy[0] > hi[0] + radius_m or xy[1] > hi[1] + radius_m):
            return False
        return distance_to_polygon(zone, xy) <= radius_m

    def _entry_gate_at(self, xy: np.ndarray, radius_m: float) -> str | None:
        for gate_id in self._entry_boxes:
            if self._near_zone(gate_id, xy, radius_m):
                return gate_id
        return None

    # --------------------------------------------------------- identity
    def _bind(self, now: float) -> None:
        cfg = self.config
        for gate_id, pend in self._pending.items():
            if not pend:
                continue
            entering = [tr for tr in self._core.active
                        if tr.confirmed and state(tr).entry_gate == gate_id
                        and not state(tr).bind_done and state(tr).arrival_t is not None]
            last = self._last_bound.setdefault(gate_id, [])
            bound = bind_gate(pend, entering, now, cfg, last,
                              lambda tr, t, g=gate_id: self._at_zone_at(tr, g, t))
            for tr, account, conf in bound:
                party = {id(o) for o, a, _ in bound if a == account}
                dmin = closest_other(tr, self._core.active + self._lost, party,
                                     state(tr).arrival_t - 1.0, now)
                self._bind_track(tr, account,
                                 conf * encounter_factor(dmin, cfg, cfg.entry_swap_sd_m))
        give_up_s = cfg.bind_before_s + cfg.bind_settle_s
        for tr in list(self._core.active):
            st = state(tr)
            arrived = st.arrival_t if st.arrival_t is not None else tr.t_first
            if (tr.confirmed and not st.bind_done and st.entry_gate is not None
                    and now > arrived + give_up_s and not self._pending.get(st.entry_gate)
                    and not self._near_zone(st.entry_gate, tr.kf.x[:2], cfg.entry_radius_m)):
                # only once it has walked on: someone still at the entry waits for a tap
                st.bind_done = True  # no tap claimed it: maybe a lost shopper coming back
                self._relink(tr)

    def _bind_track(self, tr: KalmanTrack, account: str, conf: float) -> None:
        st = state(tr)
        st.account = account
        st.identity_conf = conf
        st.bind_done = True
        self._accounts[account].tracks.append(tr)
        log.debug("track %d bound to %s (conf %.2f)", tr.id, account, conf)

    def _relink(self, new: KalmanTrack) -> None:
        """A new track looks for the lost track it continues (forward re-link)."""
        now = self._now
        gap_s = self.config.relink_min_gap_s
        state(new).bind_done = True
        born = state(new).born_xy
        pairs = []
        for c in self._lost + self._core.active:
            if c is new or not c.confirmed or (c in self._core.active and now - c.t_last < gap_s):
                continue
            gap = new.t_first - c.t_last
            if gap < -0.1:
                continue  # seen while ``new`` already existed: another person
            d = math.hypot(born[0] - c.kf.x[0], born[1] - c.kf.x[1])
            pairs.append((c, d, max(gap, 0.0), hints_match(new, c)))
        best, factor = relink_choice(pairs, self.config)
        if best is not None:
            self._merge(pairs[best][0], new, factor, "re-link")

    def _relink_lost(self, old: KalmanTrack) -> bool:
        """A bound track just lost looks for an unbound young track that took
        over from it (a track switch the forward re-link could not see)."""
        cfg = self.config
        pairs = []
        for c in self._core.active:
            st = state(c)
            if (not c.confirmed or st.account is not None or not st.bind_done
                    or c.t_first < old.t_first
                    or c.t_first < old.t_last - cfg.switch_overlap_s):
                continue
            h = st.history
            k = min(bisect_left(h.t, old.t_last), len(h.t) - 1)
            d = math.hypot(h.x[k] - old.kf.x[0], h.y[k] - old.kf.x[1])
            pairs.append((c, d, abs(h.t[k] - old.t_last), hints_match(old, c)))
        best, factor = relink_choice(pairs, cfg)
        if best is None:
            return False
        self._merge(old, pairs[best][0], factor, "switch")
        return True

    def _merge(self, old: KalmanTrack, new: KalmanTrack, factor: float, why: str) -> None:
        """``old`` absorbs ``new``: its id, account and history continue."""
        so, sn = state(old), state(new)
        so.history.extend(sn.history)
        old.kf = new.kf
        old.t_last = max(old.t_last, new.t_last)
        old.hits += new.hits
        old.held = new.held
        so.identity_conf *= factor
        so.hint = sn.hint or so.hint
        self._core.remove(new)
        if old in self._lost:
            self._lost.remove(old)
        self._core.revive(old)
        log.debug("track %d merged into %d by %s (factor %.2f)", new.id, old.id, why, factor)

    # ------------------------------------------------------------- time
    def _advance(self, t: float) -> None:
        if t <= self._now:
            return
        self._now = t
        lost, _dropped = self._core.expire(t)
        for tr in lost:
            if state(tr).account is not None and self._relink_lost(tr):
                continue
            state(tr).near_exit = self._near_exit(tr)
            self._lost.append(tr)
        cfg = self.config
        keep = []
        for tr in self._lost:
            age = t - tr.t_last
            st = state(tr)
            if st.account is not None and age >= cfg.exit_timeout_s and st.near_exit:
                st.exited = True
                self._done.append(tr)
                self._exit_watch.add(st.account)
            elif age > cfg.relink_window_s:
                self._done.append(tr)
            else:
                keep.append(tr)
        self._lost = keep
        if self._exit_watch:
            self._check_accounts(t)
        if t - self._last_shadow_check >= _SHADOW_EVERY_S:
            self._drop_shadows(t)
            self._adopt_unbound(t)
        if t - self._last_trim >= _TRIM_EVERY_S:
            self._trim(t)

    def _near_exit(self, tr: KalmanTrack) -> bool:
        r = self.config.exit_radius_m
        xy = tr.kf.x[:2]
        return any(distance_to_polygon(z, xy) <= r for z in self._exit_zones)

    def _check_accounts(self, now: float) -> None:
        stale_s = self.config.party_stale_s
        active = set(map(id, self._core.active))
        for name in list(self._exit_watch):
            acct = self._accounts[name]
            exited = [tr for tr in acct.tracks if state(tr).exited]
            others = [tr for tr in acct.tracks if not state(tr).exited]
            if not exited:
                self._exit_watch.discard(name)
                continue
            if any(id(tr) in active or now - tr.t_last < stale_s for tr in others):
                continue
            exit_t = max(tr.t_last for tr in exited)
            decided = max([tr.t_last + self.config.exit_timeout_s for tr in exited]
                          + [tr.t_last + stale_s for tr in others])
            self._exits.append(ExitEvent(name, exit_t, min(max(decided, exit_t), now)))
            acct.status = "exited"
            acct.tracks = []
            self._exit_watch.discard(name)

    def _drop_shadows(self, now: float) -> None:
        """Drop unbound confirmed tracks that shadow another track: within
        ``shadow_m`` of it, older than 1 s, with less than half its detections
        since birth (fed by duplicates or false detections)."""
        self._last_shadow_check = now
        cfg = self.config
        tracks = [tr for tr in self._core.active if tr.confirmed]
        for u in tracks:
            su = state(u)
            if su.account is not None or now - u.t_first < 1.0 or now - u.t_last > 0.3:
                continue
            for o in tracks:
                if o is u or now - o.t_last > 0.3:
                    continue
                if math.hypot(u.kf.x[0] - o.kf.x[0], u.kf.x[1] - o.kf.x[1]) > cfg.shadow_m:
                    continue
                ho = state(o).history.t
                if len(su.history.t) < 0.5 * (len(ho) - bisect_left(ho, u.t_first)):
                    self._core.remove(u)
                    log.debug("track %d dropped: shadow of %d", u.id, o.id)
                    break

    def _adopt_unbound(self, now: float) -> None:
        """An unbound confirmed track seen for ``adopt_after_s`` takes the most
        likely account, with a confidence of at most ``adopt_conf``: the lost
        track of an account it most plausibly continues (re-link without the
        clutter alternative), else an account with fewer live tracks than its
        party, nearest in tap time."""
        cfg = self.config
        for u in [tr for tr in self._core.active if tr.confirmed]:
            su = state(u)
            if (su.account is not None or not su.bind_done or su.t_confirmed is None
                    or now - su.t_confirmed < cfg.adopt_after_s or now - u.t_last > 0.3
                    or self._entry_gate_at(u.kf.x[:2], cfg.entry_birth_m) is not None):
                continue  # people at an entry wait for their tap
            pairs = []
            for c in self._lost:
                if state(c).account is None or c.t_last > u.t_first + 0.1 or self._near_exit(c):
                    continue  # a track lost at an exit has left the store
                d = math.hypot(su.born_xy[0] - c.kf.x[0], su.born_xy[1] - c.kf.x[1])
                gap = max(u.t_first - c.t_last, 0.0)
                if d <= cfg.max_speed_mps * gap + cfg.shadow_m:  # reachable on foot
                    pairs.append((c, d, gap, hints_match(u, c)))
            best, factor = relink_choice(pairs, cfg, clutter_per_m2=0.0)
            if best is not None:
                self._merge(pairs[best][0], u, cfg.adopt_conf * factor, "adopt")
                continue
            short = adopt_short_account(self._accounts, u.t_first, self._live_count(), cfg)
            if short is not None:
                self._bind_track(u, short[0], cfg.adopt_conf * short[1])

    def _live_count(self) -> dict[str, int]:
        """Account -> number of its tracks that are active or re-linkable."""
        live = {id(tr) for tr in self._core.active} | {id(tr) for tr in self._lost}
        return {name: sum(id(tr) in live for tr in a.tracks)
                for name, a in self._accounts.items() if a.status == "inside"}

    def _trim(self, now: float) -> None:
        self._last_trim = now
        t_min = now - self.config.history_s
        for tr in self._core.active + self._lost:
            state(tr).history.trim(t_min)
        keep = []
        for tr in self._done:
            h = state(tr).history
            h.trim(t_min)
            if len(h) or h.hand_t:
                keep.append(tr)
        self._done = keep
        for pend in self._pending.values():
            pend[:] = [p for p in pend if now < p.tap.t + 10 * self.config.bind_after_s]
