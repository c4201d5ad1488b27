"""Identity operations of :class:`fusion.tracking.ShopperTracker`: tap
binding at entry gates, re-link, track-switch repair and adoption.

A mixin: it uses the tracker's ``config``, ``_core``, ``_lost``, ``_lanes``,
``_accounts`` and ``_now`` (see :mod:`fusion.tracking.shopper`).
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_left

from fusion.tracking.entry import (
    bind_passages,
    closest_other,
    note_partners,
    prune_taps,
    queue_factor,
)
from fusion.tracking.identity import adopt_short_account, hints_match, relink_choice, state
from fusion.tracking.kalman_core import KalmanTrack

log = logging.getLogger("fusion.tracking.shopper")


class IdentityOps:
    """Tap binding, re-link and adoption (mixed into ``ShopperTracker``)."""

    def _bind(self, now: float) -> None:
        """Bind due entry-gate passages to taps (order of passage); entrants
        that no tap claims, or that never passed, fall back to re-link."""
        cfg = self.config
        for lane in self._lanes.values():
            passers = [tr for tr in self._core.active
                       if tr.confirmed and not state(tr).bind_done
                       and state(tr).entry_gate == lane.gate.id and state(tr).pass_t is not None
                       and now >= state(tr).pass_t + cfg.pass_decide_s]
            if passers:
                bound, unclaimed = bind_passages(lane, passers, cfg)
                for tr, account, conf in bound:
                    dmin, near = closest_other(tr, self._core.active + self._lost, account,
                                               state(tr).pass_t - 1.5, state(tr).pass_t + 0.2)
                    f = queue_factor(dmin, cfg)
                    self._bind_track(tr, account, conf * f)
                    if near is not None:
                        note_partners(tr, account, near, state(near).account, 1.0 - f, state(tr).pass_t)
                for tr in unclaimed:
                    self._relink(tr)  # a tailgater, or a lost shopper coming back
            prune_taps(lane, now, cfg)
        give_up_s = cfg.bind_after_s + cfg.pass_decide_s
        for tr in list(self._core.active):
            st = state(tr)
            if (tr.confirmed and not st.bind_done and st.entry_gate is not None
                    and st.pass_t is None and now > tr.t_first + give_up_s):
                lane = self._lanes[st.entry_gate]
                xy = tr.kf.x[:2]
                if lane.progress(xy) >= cfg.pass_m and lane.distance(xy) > cfg.entry_radius_m:
                    # inside without passing the gate: maybe a lost shopper
                    self._relink(tr)

    def _bind_track(self, tr: KalmanTrack, account: str, conf: float,
                    how: str = "tap") -> None:
        st = state(tr)
        st.how, st.t_how = how, self._now
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
        old.modes = new.modes
        old.t_last = max(old.t_last, new.t_last)
        old.hits += new.hits
        old.held = new.held
        so.identity_conf *= factor
        if so.account is not None:
            so.how, so.t_how = why, self._now
        so.hint = sn.hint or so.hint
        self._core.remove(new)
        if old in self._lost:
            self._lost.remove(old)
        self._core.revive(old)
        log.debug("track %d merged into %d by %s (factor %.2f)", new.id, old.id, why, factor)

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
            t_inside = su.pass_t if su.pass_t is not None else (
                u.t_first if su.entry_gate is None else None)
            short = adopt_short_account(self._accounts, u.t_first, self._live_count(), cfg,
                                        now, su.born_xy, t_inside)
            if short is not None:
                self._bind_track(u, short[0], short[1], "adopt-short")

    def _live_count(self) -> dict[str, int]:
        """Account -> number of its tracks that are active or re-linkable."""
        live = {id(tr) for tr in self._core.active} | {id(tr) for tr in self._lost}
        return {name: sum(id(tr) in live for tr in a.tracks)
                for name, a in self._accounts.items() if a.status == "inside"}
