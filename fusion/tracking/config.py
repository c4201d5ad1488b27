"""Configuration and public value types of the shopper tracker."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from fusion.tracking.kalman_core import CoreConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackerConfig:
    """Parameters of :class:`fusion.tracking.ShopperTracker` (metres, seconds).

    Motion / assignment (see :class:`fusion.tracking.kalman_core.CoreConfig`):
        meas_sd_m: detection noise per axis, incl. camera clock offsets (m).
        accel_sd_mps2: white-noise acceleration of a walking person (m/s^2),
            used only with ``velocity_tau_s=None``.
        velocity_tau_s: damped-velocity motion model: the velocity decays
            with this time constant between detections (see
            ``CoreConfig.velocity_tau_s``) (s); ``None``: constant velocity
            with ``accel_sd_mps2`` (see docs/tracking.md for the comparison).
        speed_sd_mps: stationary speed sd per axis of the damped model (m/s).
        stand_speed_sd_mps: a second, "standing" motion model run beside that
            "walking" one (an interacting multiple model, see
            ``CoreConfig.stand_speed_sd``): the sway of a person standing
            still, speed sd per axis (m/s); ``None``: walking model only.
        stand_tau_s: velocity time constant of the standing model (s).
        mode_sojourn_s: mean time between switches of model (s).
        stand_clear_m: a track within this distance of an entry zone uses the
            walking model only (a queue at the gate starts walking from
            standing, and the binding goes by who passes first) (m).
        gate_chi2: Mahalanobis gate (squared, 2 dof).
        max_gate_m: hard distance gate (m).
        confirm_hits: detections that confirm a track, if also...
        confirm_ratio: ... this fraction of the frames that had a detection
            nearby were hits (so duplicates of a neighbour never confirm).
        tentative_timeout_s: unconfirmed track dropped when unseen this long (s).
        tentative_max_age_s: unconfirmed track dropped this long after birth (s).
        coast_s: confirmed track coasts this long, then is *lost* (s).
        max_speed_mps: plausible walking speed, caps coasting and re-link (m/s).
        unmatched_cost: a detection is matched to a track only when its cost
            ``d_M^2 + ln|S|`` (S in m^2) is below this, and a track may go
            unmatched in a frame; ``None``: match as many as the gates allow.
            See :class:`fusion.tracking.kalman_core.CoreConfig`.
        robust_nis: a detection further than this normalised innovation
            squared from a confirmed track's prediction updates it with its
            noise inflated by ``nis / robust_nis`` (a false or stray detection
            pulls the track only part of the way); ``None``: plain updates.
    Detections:
        min_conf: detections below this confidence are ignored.
        duplicate_radius_m: an unmatched detection this close to a track matched
            in the same frame is a duplicate of it (its hands go to that track);
            0 (default) disables it: party members walk closer together than
            duplicates scatter, and ``confirm_ratio`` already keeps duplicates
            from confirming.
        shadow_m: an unbound track this close to another one for over 1 s, with
            less than half its detections, is a shadow (duplicates) and dropped (m).
        birth_merge_m: unmatched detections of one frame this close start one
            track, not two (m).
        score_min_n: detections labelled real and clutter (each) before the
            learned confidence model (:mod:`fusion.tracking.scores`) weighs in.
        score_floor: its largest penalty on a detection's assignment threshold
            (twice a log likelihood ratio, <= 0); 0 turns the model off.
        absorb_llr, absorb_m: an unmatched detection the model rates at most
            ``absorb_llr`` (<= 0; -6: 20 times likelier clutter than a person)
            within ``absorb_m`` (m) of a track matched in the same frame is
            taken for a duplicate of that person and starts no track (it is
            not labelled either: the model does not learn from its own
            verdict). ``absorb_m`` 0 turns this off.
    Cameras (:mod:`fusion.tracking.cameras`):
        camera_calibration: learn each camera's floor-position bias and
            relative noise from the tracks and fuse its detections with them.
        calib_min_samples: detections a camera's estimates need before they apply.
        calib_halflife: the estimates' memory, in detections.
        calib_isolation_m: learn only from tracks with no other confirmed
            track this close (m).
        calib_other_s: ... and that another camera updated this recently (s).
        calib_weight_noise: also weigh each camera by its learned noise
            (its variance relative to the cameras' mean, clamped 0.25-4x);
            False: only the biases are corrected.
    Re-link:
        relink_window_s: lost tracks stay re-linkable this long (s).
        relink_min_gap_s: a coasting track unseen this long is a re-link
            candidate, and needs two consistent detections to be re-acquired (s).
        reacquire_window_s: ... the second of which must come within this
            of the first (s; ``CoreConfig.reacquire_window_s``).
        relink_sd_m: position uncertainty of a re-link at zero gap (m).
        relink_speed_sd_mps: growth of that uncertainty per second of gap (m/s).
        switch_overlap_s: when a bound track is lost, an unbound track born up
            to this long before its last sighting may be its continuation (s).
        relink_clutter_per_m2: density of "a new or false track" against which
            a re-link's posterior is computed (1/m^2); a pair less likely than
            that is never linked.
    Identity:
        entry_birth_m: a track born within this distance of an entry zone is
            an entering person of that gate (cameras may see the queue) (m).
        queue_m: a track born in front of an entry gate (outside) within this
            of its zone is an entering person too (a queue) (m).
        entry_radius_m: a track born past the passage line within this
            distance of the zone passes at its birth (it formed late) (m).
        pass_m: a person *passes* an entry gate when they get this far past
            the zone centre along the gate's inward direction (m).
        tap_lead_s: a passage may come this little before its tap (clock
            offsets, a tap made while stepping through) (s).
        bind_after_s: an entrant that has not passed the gate this long after
            its birth and is inside is handed to re-link (s).
        tap_open_s: a tap waits this long for its first person, the latest tap
            of a gate also for its further members (s).
        party_spread_s: each further party member passes within this of the
            one before (s).
        pass_decide_s: a passage is bound this long after it, so a tap right
            after it is known (s).
        pass_time_sd_s: timing resolution of a passage against taps and other
            passages (s).
        adopt_after_s: an unbound track confirmed this long takes the most
            likely account (lost track of an account, or an account short of
            its party) (s).
        adopt_conf: identity confidence of a lost track's adoption, times its
            posterior (an adoption by a short account has its own posterior,
            see ``adopt_other_per_m2``).
        adopt_tap_sd_s: spread of the tap time around the birth of a track
            adopted by a short account (s).
        adopt_party_sd_m: spread of a party member around the party's nearest
            other track, for adoption by a short account (m).
        adopt_far_per_m2: density of a party member away from the rest of its
            party (split up, or none of it in view) (1/m^2).
        adopt_together: share of party members that walk near another member.
        adopt_other_per_m2: density of an unbound track being none of the
            short accounts' people (1/m^2), against which an adoption by a
            short account is weighed.
        entry_swap_sd_m: like ``swap_sd_m`` for two entrants of different
            taps standing close in the queue before their passage (m).
        close_m: two bound tracks of different accounts closer than this are
            in an encounter (m).
        swap_sd_m: an encounter at closest distance d may have swapped the two
            identities with probability ``0.5 exp(-d^2 / (2 swap_sd_m^2))`` (m).
        swap_nis_ref: mean normalised innovation squared (2 dof) at which an
            encounter's swap spread is the filters' own; the spread scales
            with ``sqrt(nis_mean / swap_nis_ref)`` (clamped to 0.5..2), so
            swaps are likelier where detections are noisier than modelled.
    Exits and memory:
        exit_radius_m: last seen within this of an exit/both zone counts as leaving (m).
        exit_timeout_s: ... and then unseen this long decides the exit (s).
        party_stale_s: a party member lost elsewhere and unseen this long does
            not keep the account inside once the others left (s).
        history_s: positions/hands kept per track for :meth:`window` (s).
    Camera frame rate:
        frame_ref_s: the time constants above that count on seeing a person
            every frame or two (``relink_min_gap_s``, ``reacquire_window_s``,
            ``tentative_timeout_s``, ``tentative_max_age_s``) are set
            for cameras at this frame interval or faster (s, 10 fps); with
            slower cameras (the median of each camera's median frame interval,
            learned from the stream by :class:`FrameCadence`) they are
            stretched by ``interval / frame_ref_s`` (at most ``frame_scale_max``
            times). ``None``: never stretched.
        frame_scale_max: the largest stretch.
    Detection noise:
        learn_noise: raise ``meas_sd_m`` to the cameras' learned noise (the
            detection-weighted mean of :class:`CameraCalibration`'s
            per-camera estimates, motion the model misses included) when
            that is larger, rounded up to the centimetre: a pipeline whose
            floor positions scatter 0.2 m would otherwise be tracked as if
            they scattered 0.12 m (gates, costs and swap spreads too tight).
            Needs ``camera_calibration``; never lowers ``meas_sd_m``.
    """

    meas_sd_m: float = 0.12
    accel_sd_mps2: float = 2.0
    velocity_tau_s: float | None = 3.0
    speed_sd_mps: float = 0.8
    stand_speed_sd_mps: float | None = 0.2
    stand_tau_s: float = 0.3
    mode_sojourn_s: float = 2.0
    stand_clear_m: float = 0.3
    gate_chi2: float = 11.8
    max_gate_m: float = 1.5
    confirm_hits: int = 5
    confirm_ratio: float = 0.5
    tentative_timeout_s: float = 0.5
    tentative_max_age_s: float = 1.0
    coast_s: float = 1.0
    max_speed_mps: float = 2.0
    unmatched_cost: float | None = 9.0
    robust_nis: float | None = 6.0
    min_conf: float = 0.2
    duplicate_radius_m: float = 0.0
    score_min_n: int = 100
    score_floor: float = -16.0
    absorb_llr: float = -6.0
    absorb_m: float = 0.6
    birth_merge_m: float = 0.3
    shadow_m: float = 0.4
    camera_calibration: bool = True
    calib_min_samples: int = 100
    calib_halflife: float = 100.0
    calib_isolation_m: float = 1.0
    calib_other_s: float = 0.5
    calib_weight_noise: bool = True
    relink_window_s: float = 10.0
    relink_min_gap_s: float = 0.3
    reacquire_window_s: float = 0.4
    relink_sd_m: float = 0.3
    relink_speed_sd_mps: float = 0.7
    relink_clutter_per_m2: float = 0.005
    switch_overlap_s: float = 2.0
    entry_birth_m: float = 1.0
    queue_m: float = 3.0
    entry_radius_m: float = 0.3
    pass_m: float = 0.25
    tap_lead_s: float = 0.3
    bind_after_s: float = 5.0
    tap_open_s: float = 60.0
    party_spread_s: float = 2.5
    pass_decide_s: float = 1.0
    pass_time_sd_s: float = 0.3
    adopt_after_s: float = 1.0
    adopt_conf: float = 0.8
    adopt_tap_sd_s: float = 20.0
    adopt_party_sd_m: float = 1.0
    adopt_far_per_m2: float = 0.02
    adopt_together: float = 0.9
    adopt_other_per_m2: float = 0.005
    entry_swap_sd_m: float = 0.2
    close_m: float = 0.6
    swap_sd_m: float = 0.2
    swap_nis_ref: float = 1.8
    exit_radius_m: float = 0.5
    exit_timeout_s: float = 1.5
    party_stale_s: float = 10.0
    history_s: float = 60.0
    frame_ref_s: float | None = 0.1
    frame_scale_max: float = 5.0
    learn_noise: bool = True

    def __post_init__(self) -> None:
        for name in self.__slots__:
            v = getattr(self, name)
            if name in ("min_conf", "confirm_ratio", "adopt_together"):
                if not 0.0 <= v <= 1.0:
                    raise ValueError(f"TrackerConfig.{name} must be in [0, 1], got {v!r}")
            elif name in ("unmatched_cost", "robust_nis"):
                if v is not None and not math.isfinite(v):
                    raise ValueError(f"TrackerConfig.{name} must be finite or None, got {v!r}")
            elif name in ("velocity_tau_s", "stand_speed_sd_mps", "frame_ref_s"):
                if v is not None and not (math.isfinite(v) and v > 0):
                    raise ValueError(f"TrackerConfig.{name} must be > 0 or None, got {v!r}")
            elif name in ("score_floor", "absorb_llr"):
                if not v <= 0:
                    raise ValueError(f"TrackerConfig.{name} must be <= 0, got {v!r}")
            elif name == "score_min_n":
                if not v >= 0:
                    raise ValueError(f"TrackerConfig.{name} must be >= 0, got {v!r}")
            elif name in ("camera_calibration", "calib_weight_noise", "learn_noise"):
                if not isinstance(v, bool):
                    raise ValueError(f"TrackerConfig.{name} must be True or False, got {v!r}")
            elif name in ("duplicate_radius_m", "absorb_m"):
                if not v >= 0:
                    raise ValueError(f"TrackerConfig.{name} must be >= 0, got {v!r}")
            elif not v > 0:
                raise ValueError(f"TrackerConfig.{name} must be > 0, got {v!r}")
        if self.frame_scale_max < 1.0:
            raise ValueError(f"TrackerConfig.frame_scale_max must be >= 1, got {self.frame_scale_max!r}")
        if self.exit_timeout_s < self.coast_s:
            raise ValueError("TrackerConfig.exit_timeout_s must be >= coast_s "
                             f"({self.exit_timeout_s} < {self.coast_s})")

    def frame_scale_for(self, interval_s: float | None) -> float:
        """The stretch of the frame-rate time constants for cameras at frame
        interval ``interval_s`` (s): ``interval_s / frame_ref_s`` in steps of
        1/4, from 1 to ``frame_scale_max``; 1 when either is ``None``."""
        if self.frame_ref_s is None or interval_s is None:
            return 1.0
        return min(max(1.0, round(4.0 * interval_s / self.frame_ref_s) / 4.0), self.frame_scale_max)

    def frame_scaled(self, scale: float) -> TrackerConfig:
        """This configuration with its frame-rate time constants (see
        ``frame_ref_s``) stretched by ``scale`` (>= 1)."""
        if scale == 1.0:
            return self
        return replace(self, relink_min_gap_s=self.relink_min_gap_s * scale,
                       reacquire_window_s=self.reacquire_window_s * scale,
                       tentative_timeout_s=self.tentative_timeout_s * scale,
                       tentative_max_age_s=self.tentative_max_age_s * scale)

    def core(self) -> CoreConfig:
        """The :class:`CoreConfig` for floor positions (d = 2, metres)."""
        return CoreConfig(dim=2, meas_sd=self.meas_sd_m, accel_sd=self.accel_sd_mps2,
                          gate_chi2=self.gate_chi2, max_gate=self.max_gate_m,
                          confirm_hits=self.confirm_hits, confirm_ratio=self.confirm_ratio,
                          tentative_timeout_s=self.tentative_timeout_s,
                          tentative_max_age_s=self.tentative_max_age_s,
                          coast_s=self.coast_s, max_coast_speed=self.max_speed_mps,
                          reacquire_gap_s=self.relink_min_gap_s,
                          reacquire_window_s=self.reacquire_window_s,
                          unmatched_cost=self.unmatched_cost, robust_nis=self.robust_nis,
                          velocity_tau_s=self.velocity_tau_s, speed_sd=self.speed_sd_mps,
                          stand_speed_sd=self.stand_speed_sd_mps, stand_tau_s=self.stand_tau_s,
                          mode_sojourn_s=self.mode_sojourn_s)


@dataclass(frozen=True, slots=True)
class TrackWindow:
    """One track's observations within a time window.

    Attributes:
        track_id: tracker-unique id.
        account: the bound account, or ``None`` (never bound).
        identity_conf: confidence that ``account`` is right, 0..1 (0 when unbound).
        t: (K,) observation times (s).
        xy: (K, 2) filtered floor positions at ``t`` (m).
        hands_t: (H,) times of the hand points (s).
        hands_p: (H, 3) hand points (m).
        hands_holding: H mappings SKU -> probability (empty when no guess).
    """

    track_id: int
    account: str | None
    identity_conf: float
    t: np.ndarray
    xy: np.ndarray
    hands_t: np.ndarray
    hands_p: np.ndarray
    hands_holding: tuple[Mapping[str, float], ...]


@dataclass(frozen=True, slots=True)
class ExitEvent:
    """An account whose tracks have all left.

    Attributes:
        account: the account id.
        exit_t: when its (last) track was last seen at an exit zone (s).
        decided_t: stream time at which the exit could be decided (s).
        unseen: members of its party (the tap's ``party``) never bound to a
            track: they may still be inside, shopping unseen.
    """

    account: str
    exit_t: float
    decided_t: float
    unseen: int = 0
