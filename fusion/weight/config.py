"""Tuning of the weight pipeline (see docs/weight-pipeline.md for the reasoning)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class WeightConfig:
    """Parameters of :class:`fusion.weight.WeightDetector`.

    Noise-relative values are in units of the plate's measured noise standard
    deviation ``sigma`` (g), estimated online while the plate is stable.

    Attributes:
        default_noise_g: noise sd used until measured when the cell gives no ``noise_g``.
        noise_floor_g: lower bound of the noise sd, g.
        resolution_steps: the plate's reading resolution (display division:
            the largest of 0.001, 0.002, 0.005, ... 500 g that every reading
            differs from its first by a whole multiple of) is learned from
            the readings and counts once this many readings differed from the
            first; then the noise sd is at least half a division (a level on
            a division boundary reads +-d/2 in turn). 0 disables.
        noise_tau_s: time constant of the online noise estimate, s.
        drift_per_sqrt_s: random-walk intensity of the level while stable, in
            sigma per sqrt(second) (automatic zero / drift tracking).
        gate_sigma: a normalised innovation above this is an outlier (no update).
        confirm_samples: consecutive outliers that make the plate unstable.
        cusum_k: CUSUM reference value (half the smallest shift to detect), sigma.
        cusum_h: CUSUM decision threshold, sigma.
        settle_s: a plate is stable again when readings stayed in the band this long, s.
        settle_samples: ... and over at least this many sample intervals (slow
            plates get a longer window: 6 -> 0.6 s at 10 Hz).
        settle_max_s: ... but no longer than this, s, unless that would hold
            fewer than three readings (then 2.2 sample intervals: a plate read
            at 2 Hz settles on three readings, ~1 s; a longer wait joins two
            shoppers' takes a few seconds apart into one change).
        window_samples: ring-buffer length per plate; must hold ``settle_s``
            of samples at the fastest rate (64 covers 0.4 s up to 160 Hz).
        band_min_g: smallest half-width of the stability band, g.
        band_sigma: half-width of the stability band, sigma.
        var_sigma: settled only if the segment's residual variance (after a
            line fit) is below ``r * (1 + var_sigma * sqrt(2 / (n - 1)))`` (a
            var_sigma-sd bound on the sample variance): a resting hand's tremor
            is not noise.  Skipped in the first settle of a plate.
        relax_s: after this long unstable the variance test is skipped (s).
        slope_frac: settled only if the fitted slope moves the level less than
            ``slope_frac * band`` over ``settle_s``.
        min_change_g: smallest reported event |total|, g.
        min_change_sd: smallest reported event |total| in event sd.
        part_min_g: smallest per-plate change kept as a merge partner, g.
        part_sd: smallest per-plate change kept as a merge partner, in its sd.
        merge_gap_m: neighbouring plates' front segments end within this, m.
        merge_height_m: neighbouring plates' fronts differ in height by less, m.
        merge_angle_deg: neighbouring plates' fronts are parallel within this, degrees.
        merge_slack_s: time windows overlap if they come within this, s.
        whole_item_k: a plate's change "explains whole items" within this many sd.
        max_items: most items of one SKU a single plate change may explain.
        max_wait_s: longest an event waits for a busy neighbouring plate, s.
        hold_max_g: holds apply only to changes up to this size (g): a hand's
            tremor (~10 % of its force) hides in the noise only for small
            forces, larger presses never pass the settle test.
        press_hold_s: a small weight *increase* that is a whole number of
            items of its plates' SKUs waits this long after settling (a grip
            press of exactly an item's weight looks like a put-back until the
            hand lets go), s.
        press_snr: ... but only if it is at most this many noise sd (a larger
            press shows its tremor and never settles).
        lean_snr: a small whole-item increase up to this many noise sd is
            held ``lean_hold_s`` instead (a lean whose tremor hides in the noise).
        lean_hold_s: hold of such increases, s.
        keep_cancelled: also report interactions with no net change (an
            unstable episode that settled where it started, or a held change
            and the next change of its plate that cancel it, then with their
            ``parts``) as events with a net change near 0 -- any settled
            change below ``min_change_g`` included (a take and the return of
            another unit leave a few grams) -- instead of dropping them as
            presses: the engine can tell a put-back followed
            by another shopper's take of the same item from a press by the
            hands (see :mod:`fusion.parts`). Off for the detector alone.
        odd_hold_s: a small change that is *not* a whole number of items of
            its plates' SKUs (a lean felt by a neighbour, a hand still resting
            after a take) waits this long; if the plate moves again meanwhile,
            the two changes are summed into one, the wait still counting
            from the first one's settle, s.
        max_hold_s: longest a weight increase is held (the plate keeps moving), s.
        hand_reach_s: a hand that vision sees out of reach of a plate
            (``WeightDetector.hands_away``) cannot touch it sooner than this, s:
            a held change whose motion went on longer after the cue is not
            released by it (a new hand may have come).
    """

    default_noise_g: float = 1.0
    noise_floor_g: float = 0.05
    resolution_steps: int = 20
    noise_tau_s: float = 20.0
    drift_per_sqrt_s: float = 0.1
    gate_sigma: float = 5.0
    confirm_samples: int = 2
    cusum_k: float = 1.0
    cusum_h: float = 6.0
    settle_s: float = 0.4
    settle_samples: int = 6
    settle_max_s: float = 1.0
    quiet_settle_samples: int = 4
    quiet_band_g: float = 4.0
    window_samples: int = 64
    band_min_g: float = 1.5
    band_sigma: float = 4.0
    slope_frac: float = 0.5
    var_sigma: float = 3.0
    relax_s: float = 5.0
    min_change_g: float = 8.0
    min_change_sd: float = 5.0
    part_min_g: float = 4.0
    part_sd: float = 4.0
    merge_gap_m: float = 0.05
    merge_height_m: float = 0.02
    merge_angle_deg: float = 5.0
    merge_slack_s: float = 0.3
    whole_item_k: float = 3.0
    max_items: int = 5
    max_wait_s: float = 2.0
    hold_max_g: float = 150.0
    press_hold_s: float = 0.3
    press_snr: float = 100.0
    lean_snr: float = 23.0
    lean_hold_s: float = 3.5
    odd_hold_s: float = 4.0
    release_bands: float = 2.0
    ring_frac: float = 0.1
    max_hold_s: float = 6.0
    hand_reach_s: float = 0.3
    keep_cancelled: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ValueError(f"WeightConfig.{f.name} must be a finite number >= 0, got {v!r}")
        for name in ("default_noise_g", "noise_floor_g", "noise_tau_s", "gate_sigma",
                     "settle_s", "cusum_h", "band_sigma"):
            if getattr(self, name) <= 0:
                raise ValueError(f"WeightConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if self.window_samples < 8:
            raise ValueError("WeightConfig.window_samples must be >= 8")
        if self.confirm_samples < 1 or self.max_items < 1:
            raise ValueError("WeightConfig.confirm_samples and max_items must be >= 1")
