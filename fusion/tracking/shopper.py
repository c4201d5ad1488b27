"""Floor-plane shopper tracker: tracks, hands, identities (entry taps) and exits.

Built on the generic :mod:`fusion.tracking.kalman_core`; entry-gate binding
is in :mod:`fusion.tracking.entry`, the other identity rules in
:mod:`fusion.tracking.identity` and :mod:`fusion.tracking.binding`. See
docs/tracking.md.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_left
from dataclasses import dataclass, field, replace

import numpy as np

from fusion.tracking.binding import IdentityOps
from fusion.tracking.cameras import VAR_RATIO, CameraCalibration, CameraEstimate, FrameCadence
from fusion.tracking.config import ExitEvent, TrackerConfig, TrackWindow
from fusion.tracking.entry import (
    EntryLane,
    TapSlots,
    find_tapper,
    interior_point,
    watch_passage,
)
from fusion.tracking.geometry import distance_to_polygon
from fusion.tracking.identity import EncounterMonitor, ShopperState, state
from fusion.tracking.kalman_core import KalmanTrack, TrackCore
from fusion.tracking.scores import DetectorScores
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
    partners: dict[str, float] = field(default_factory=dict)  # kept at exit: account -> p_swap


class ShopperTracker(IdentityOps):
    """Tracks anonymous people on the floor and binds them to tapped accounts.

    Feed taps and camera frames in stream-time order; query windows and exits
    at any time. Online: nothing uses data later than the last input.

    Args:
        store: the store (gate zones and kinds are used).
        config: parameters; defaults when ``None``.
    """

    def __init__(self, store: Store, config: TrackerConfig | None = None):
        self.store = store
        self.base_config = config or TrackerConfig()
        # with its frame-rate time constants stretched (frame_ref_s) and its
        # measurement noise raised to the cameras' (learn_noise)
        self.config = self.base_config
        self.frame_scale = 1.0
        self._cadence = FrameCadence()
        self._core = TrackCore(self.config.core())
        self._scores = DetectorScores(min_n=self.config.score_min_n,
                                      floor=self.config.score_floor)
        c = self.config
        self._cameras = (CameraCalibration(c.meas_sd_m**2, c.calib_min_samples, c.calib_halflife,
                                           VAR_RATIO if c.calib_weight_noise else (1.0, 1.0))
                         if c.camera_calibration else None)
        self._gates = {g.id: g for g in store.gates}
        self._exit_zones = [np.asarray(g.zone, float) for g in store.gates if g.is_exit]
        inside = interior_point(store)
        self._lanes = {g.id: EntryLane.of(g, inside) for g in store.gates if g.is_entry}
        self._lost: list[KalmanTrack] = []  # confirmed, unseen > coast_s, re-linkable
        self._done: list[KalmanTrack] = []  # exited or expired; kept for window()
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
        if tap.gate in self._lanes:
            ts = TapSlots(tap, tap.party)
            self._lanes[tap.gate].taps.append(ts)
            find_tapper(self._lanes[tap.gate], ts, self._core.active, self.config)
        self._bind(self._now)

    def update(self, frame: VisionFrame) -> None:
        """Process one camera frame (a measurement set at ``frame.t``)."""
        if self._cadence.observe(frame.camera, frame.t):
            self._retune()
        self._advance(frame.t)
        t = self._now
        dets = [p for p in frame.people if p.conf >= self.config.min_conf]
        if dets:
            self._ingest(t, dets, frame.camera)
        self._bind(t)
        self._encounters.update(self._core.active, t, self._core.nis_mean)

    def _retune(self) -> None:
        """Fit the configuration to the cameras: the frame-rate time constants
        stretched to their frame interval (``TrackerConfig.frame_ref_s``, in
        steps of 1/4) and the measurement noise raised to theirs
        (``TrackerConfig.learn_noise``, in steps of 1 cm)."""
        base = self.base_config
        interval = self._cadence.interval_s()
        scale = base.frame_scale_for(interval)
        sd = self.config.meas_sd_m
        var = self._cameras.noise_var() if base.learn_noise and self._cameras is not None else None
        if var is not None:
            sd = max(base.meas_sd_m, math.ceil(100.0 * math.sqrt(var) - 1e-6) / 100.0)
        if scale == self.frame_scale and sd == self.config.meas_sd_m:
            return
        if scale != self.frame_scale:
            log.info("camera frame interval %.3f s: tracker time constants x %.2f", interval, scale)
        if sd != self.config.meas_sd_m:
            log.info("cameras' detection noise %.3f m: tracker meas_sd_m %.2f m", math.sqrt(var), sd)
        self.frame_scale = scale
        cfg = base.frame_scaled(scale)
        self.config = cfg if sd == cfg.meas_sd_m else replace(cfg, meas_sd_m=sd)
        self._core.reconfigure(self.config.core())
        if self._cameras is not None and self._cameras.meas_var != sd ** 2:
            self._cameras.set_meas_var(sd ** 2)
        self._encounters.cfg = self.config

    @property
    def meas_sd_m(self) -> float:
        """The measurement noise per axis the tracker uses now (m)."""
        return self.config.meas_sd_m

    @property
    def frame_interval_s(self) -> float | None:
        """The cameras' typical frame interval learned so far (s), or None."""
        return self._cadence.interval_s()

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
        tracks = self._held()
        for tr in sorted(tracks, key=lambda tr: tr.id):
            st = state(tr)
            t, xy, ht, hp, hold = st.history.slice(t0, t1)
            if len(t) or len(ht):
                out.append(TrackWindow(tr.id, st.account,
                                       st.identity_conf if st.account else 0.0,
                                       t, xy, ht, hp, hold))
        return out

    def people_at(self, t: float, lost_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Everyone who may be on the floor at ``t`` (s), for "is anybody near
        this plate": floor positions ``(N, 2)`` (m) and their standard
        deviations ``(N,)`` (m) -- every active track, tentative ones
        included, at its last estimate, and lost tracks last seen within
        ``lost_s`` (s), whose sd grows at ``max_speed_mps`` since then."""
        tracks = [tr for tr in self._core.active] + [tr for tr in self._lost if t - tr.t_last <= lost_s]
        if not tracks:
            return np.zeros((0, 2)), np.zeros(0)
        xy = np.array([tr.kf.x[:2] for tr in tracks], float)
        sd = np.array([math.sqrt(max(tr.kf.P[0, 0] + tr.kf.P[1, 1], 0.0) / 2.0)
                       + self.config.max_speed_mps * max(t - tr.t_last, 0.0) for tr in tracks])
        return xy, sd

    def _held(self) -> list[KalmanTrack]:
        """Every confirmed track still held: active, lost (re-linkable) and done."""
        return [tr for tr in self._core.active if tr.confirmed] + self._lost + self._done

    def swap_partners(self, track_ids: tuple[int, ...], before_t: float) -> dict[str, float]:
        """Accounts that tracks ``track_ids`` may have swapped with, in encounters
        that began by ``before_t`` (s), each with its largest swap probability."""
        wanted = set(track_ids)
        return _partners([tr for tr in self._held() if tr.id in wanted], before_t)

    def partners(self, account: str, min_p: float) -> dict[str, float]:
        """Other accounts a track of ``account`` may have swapped with, with
        the largest swap probability, at least ``min_p`` (kept after it left)."""
        acct = self._accounts.get(account)
        if acct is None:
            return {}
        partners = acct.partners if acct.status == "exited" else _partners(acct.tracks)
        return {other: p for other, p in partners.items() if p >= min_p and other != account}

    def states(self) -> dict[int, ShopperState]:
        """Track id -> identity state of every confirmed track still held
        (for diagnostics, e.g. ``bench.identity``; do not modify)."""
        tracks = self._held()
        return {tr.id: state(tr) for tr in tracks}

    def last_seen(self, account: str) -> float | None:
        """When a track bound to ``account`` was last seen (s); ``None`` when
        none ever was (or the account never tapped)."""
        acct = self._accounts.get(account)
        seen = [tr.t_last for tr in _own_tracks(acct, account)] if acct is not None else []
        return max(seen) if seen else None

    def accounts(self) -> dict[str, str]:
        """Account -> ``"inside"`` or ``"exited"``, for every tapped account."""
        return {a: s.status for a, s in self._accounts.items()}

    # ----------------------------------------------------------- frames
    def _ingest(self, t: float, dets: list[PersonDetection], camera: str = "") -> None:
        core = self._core
        z = np.array([p.xy for p in dets], dtype=float).reshape(-1, 2)
        meas_var = None
        if self._cameras is not None:
            z, meas_var = self._cameras.correct(camera, z)
        conf = np.array([p.conf for p in dets], dtype=float)
        scores = self._scores
        llr = scores.llr(conf) if scores.floor < 0 else None
        matches, dups, unmatched = core.assign(t, z, self.config.duplicate_radius_m, llr,
                                               meas_var)
        if self._cameras is not None and matches:
            self._learn_camera(t, camera, matches)
        newly = []
        matched = []
        born: list[KalmanTrack] = []
        real_c: list[float] = []  # score-model labels, added once per frame
        clutter_c: list[float] = []
        stand_clear = self.config.stand_clear_m
        for j, tr in matches:
            st = state(tr)
            tr.walk_only = self._entry_gate_at(tr.kf.x[:2], stand_clear) is not None
            st.history.add_position(t, tr.kf.x[:2])
            self._observe(st, t, dets[j])
            if st.account is None:
                self._watch_entry(tr, t, tr.kf.x[:2])
            matched.append(tr)
            (real_c if st.t_confirmed is not None else st.tent_confs).append(float(conf[j]))
            if tr.confirmed and st.t_confirmed is None:
                st.t_confirmed = t
                newly.append(tr)
                real_c += st.tent_confs
                st.tent_confs = []
        for j, tr in dups:
            self._observe(state(tr), t, dets[j])
            clutter_c.append(float(conf[j]))
        # highest confidence first, so a duplicate pair is born at its better half
        for j in sorted(unmatched.tolist(), key=lambda j: -dets[j].conf):
            owner = self._duplicate_owner(z[j], matched, self.config.duplicate_radius_m)
            if owner is None:
                owner = self._duplicate_owner(z[j], born, self.config.birth_merge_m)
            if owner is not None:
                self._observe(state(owner), t, dets[j])
                clutter_c.append(float(conf[j]))  # a second detection of one person
                continue
            if (llr is not None and llr[j] <= self.config.absorb_llr
                    and self._duplicate_owner(z[j], matched, self.config.absorb_m) is not None):
                continue
            tr = core.birth(t, z[j])
            tr.walk_only = self._entry_gate_at(z[j], stand_clear) is not None
            born.append(tr)
            st = ShopperState(born_xy=z[j].copy(), entry_gate=self._entrant_of(z[j]),
                              tent_confs=[float(conf[j])])
            tr.data = st
            self._watch_entry(tr, t, z[j], born=True)
            st.history.add_position(t, z[j])
            self._observe(st, t, dets[j])
        if real_c:
            scores.add(real_c, real=True)
        if clutter_c:
            scores.add(clutter_c, real=False)
        for tr in newly:
            if state(tr).entry_gate is None:
                self._relink(tr)

    def _learn_camera(self, t: float, camera: str, matches: list[tuple[int, KalmanTrack]]) -> None:
        """Feed the camera calibration the innovations of this frame's detections
        on confirmed tracks that another camera also updated within
        ``calib_other_s`` and that no other confirmed track is within
        ``calib_isolation_m`` of (a mix-up of two people teaches nothing)."""
        c = self.config
        cand = []
        for _, tr in matches:
            cams = state(tr).cameras
            last_other = max((tc for cam, tc in cams.items() if cam != camera), default=-math.inf)
            cams[camera] = t
            if tr.confirmed and tr.innovation is not None and t - last_other <= c.calib_other_s:
                cand.append(tr)
        if not cand:
            return
        pos = np.array([tr.kf.x[:2] for tr in self._core.active if tr.confirmed])
        at = np.array([tr.kf.x[:2] for tr in cand])
        d2 = ((at[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
        alone = (d2 < c.calib_isolation_m**2).sum(1) <= 1  # itself only
        use = [tr.innovation for tr, ok in zip(cand, alone.tolist(), strict=True) if ok]
        if use:
            assert self._cameras is not None
            self._cameras.observe(camera, np.array([u[0] for u in use]),
                                  np.array([u[1] for u in use]))

    def camera_estimates(self) -> list[CameraEstimate]:
        """What the tracker has learned about each camera's bias and noise
        (empty when ``camera_calibration`` is off)."""
        return [] if self._cameras is None else self._cameras.estimates()

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

    def _entrant_of(self, xy: np.ndarray) -> str | None:
        """The entry gate a track born at ``xy`` (2,) (m) is entering by: within
        ``entry_birth_m`` of its zone, or in front of it (outside the store,
        within ``queue_m``: a queue), else ``None``."""
        cfg = self.config
        for gate_id, lane in self._lanes.items():
            d = lane.distance(xy)
            if d <= cfg.entry_birth_m or (d <= cfg.queue_m and lane.progress(xy) < 0.0):
                return gate_id
        return None

    def _watch_entry(self, tr: KalmanTrack, t: float, xy: np.ndarray,
                     born: bool = False) -> None:
        """Passage bookkeeping of an unbound track; an unbound track that walks
        into an entry zone later becomes an entering person of that gate."""
        st = state(tr)
        if st.entry_gate is None:
            gate = self._entry_gate_at(xy, self.config.entry_radius_m)
            if gate is None:
                return
            st.entry_gate, st.bind_done = gate, False
        watch_passage(self._lanes[st.entry_gate], tr, t, xy, self.config, born)

    def _entry_gate_at(self, xy: np.ndarray, radius_m: float) -> str | None:
        for gate_id, lane in self._lanes.items():
            if lane.near(xy, radius_m):
                return gate_id
        return None

    # ------------------------------------------------------------- time
    def _advance(self, t: float) -> None:
        if t <= self._now:
            return
        self._now = t
        lost, dropped = self._core.expire(t)
        for tr in dropped:  # died unconfirmed: its detections were clutter
            self._scores.add(state(tr).tent_confs, real=False)
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
            self._retune()  # the cameras' noise estimates move slowly

    def _near_exit(self, tr: KalmanTrack) -> bool:
        r = self.config.exit_radius_m
        xy = tr.kf.x[:2]
        return any(distance_to_polygon(z, xy) <= r for z in self._exit_zones)

    def _check_accounts(self, now: float) -> None:
        stale_s = self.config.party_stale_s
        active = set(map(id, self._core.active))
        for name in sorted(self._exit_watch):  # sorted: a set's order changes from run to run
            acct = self._accounts[name]
            exited = [tr for tr in acct.tracks if state(tr).exited]
            others = [tr for tr in acct.tracks if not state(tr).exited]
            if not exited:
                self._exit_watch.discard(name)
                continue
            if any(id(tr) in active or now - tr.t_last < stale_s for tr in others):
                continue
            if self._party_expected(name, now):
                continue  # members of its party may still come in on its tap
            exit_t = max(tr.t_last for tr in exited)
            decided = max([tr.t_last + self.config.exit_timeout_s for tr in exited]
                          + [tr.t_last + stale_s for tr in others])
            seen = len({id(tr) for tr in _own_tracks(acct, name)})
            self._exits.append(ExitEvent(name, exit_t, min(max(decided, exit_t), now),
                                         max(acct.party - seen, 0)))
            acct.status = "exited"
            acct.partners = _partners(acct.tracks)
            acct.tracks = []
            self._exit_watch.discard(name)

    def _party_expected(self, account: str, now: float) -> bool:
        """True while the tap of ``account`` has party slots left and can
        still fill them at ``now`` (s): a member who left does not end a
        party whose others still queue at the gate (a full store lets
        people in as others leave)."""
        cfg = self.config
        for lane in self._lanes.values():
            for ts in lane.taps:
                if (ts.tap.shopper == account and ts.slots_left > 0
                        and now <= ts.open_until(cfg, ts is lane.taps[-1]) + cfg.pass_decide_s):
                    return True
        return False

    def _drop_shadows(self, now: float) -> None:
        """Drop unbound confirmed tracks that shadow another track: within
        ``shadow_m`` of it, older than 1 s, with less than half its detections
        since birth (fed by duplicates or false detections).

        An entrant whose passage through the gate awaits its tap binding is
        never a shadow: it walked in from outside, on its own. (Seen on one
        camera only at the edge of the views, it can have less than half the
        detections of someone standing just inside, seen by several; dropped,
        its detections went to that neighbour's track and its tap bound
        nobody.)"""
        self._last_shadow_check = now
        cfg = self.config
        tracks = [tr for tr in self._core.active if tr.confirmed]
        for u in tracks:
            su = state(u)
            if su.account is not None or now - u.t_first < 1.0 or now - u.t_last > 0.3:
                continue
            if su.entry_gate is not None and not su.bind_done and su.pass_t is not None:
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


def _own_tracks(acct: _Account, name: str) -> list[KalmanTrack]:
    """The tracks of account record ``acct`` still bound to its account ``name``
    (a track taken over by another account since stays in the list)."""
    return [tr for tr in acct.tracks if state(tr).account == name]


def _partners(tracks: list[KalmanTrack], before_t: float = math.inf) -> dict[str, float]:
    """Accounts these tracks may have swapped with, in encounters that began
    by ``before_t`` (s) -> the largest swap probability."""
    out: dict[str, float] = {}
    for tr in tracks:
        for other, (p, t_met) in state(tr).swap_partners.items():
            if t_met <= before_t:
                out[other] = max(p, out.get(other, 0.0))
    return out
