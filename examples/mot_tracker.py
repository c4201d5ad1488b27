"""A stand-alone image-box multi-object tracker on :mod:`fusion.tracking.kalman_core`.

Any MOT harness can run it::

    from mot_tracker import make_tracker          # examples/ on sys.path
    trk = make_tracker(frame_rate_hz=25.0)
    for frame_id, dets in enumerate(frames, start=1):   # dets: (N, 5) x1 y1 x2 y2 score, px
        out = trk.update(dets, frame_id)          # (M, 5) x1 y1 x2 y2 track_id, confirmed only

The generic :class:`~fusion.tracking.kalman_core.TrackCore` keeps one
constant-velocity Kalman filter per track with the measurement ``(cx, cy, w,
h)`` in pixels (state: those four and their velocities in px/s). Everything
box-specific lives here:

* **Association, score-aware and in three stages** (in the spirit of
  ByteTrack, own code): (1) all live tracks (confirmed ones first) against the
  confident detections, (2) the confirmed tracks left over against the
  low-score detections (a person half hidden is often detected with a low
  score; such a box may keep a track alive but never starts one), (3) the
  tentative tracks against what is left of the confident detections. Each
  stage is a :func:`scipy.optimize.linear_sum_assignment` on the negative
  log-likelihood ``d_M^2 + ln|S|`` of the predicted box, with two gates: a
  Mahalanobis gate (``gate_chi2``, 4 dof) and a minimum IoU between the
  predicted box and the detection (``min_iou``).
* **Births:** a confident detection no track took starts a tentative track,
  unless it overlaps a live confirmed track's box by more than
  ``birth_max_iou`` (a duplicate). A track is confirmed after
  ``confirm_hits`` hits if it was hit in at least ``confirm_ratio`` of the
  frames since its birth, so scattered false boxes do not confirm.
* **Output:** confirmed tracks hit in this frame (their filtered box), and
  confirmed tracks missed for at most ``report_coast_s`` (their predicted
  box: a detector's one-frame miss does not cut the track). Ids are handed
  out at confirmation, 1, 2, 3, ... per tracker.

Frame numbers become times with ``frame_rate_hz``; every timeout is in
seconds, so the same configuration works at any frame rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from fusion.tracking.kalman_core import CoreConfig, KalmanTrack, TrackCore

_BIG = 1e9


@dataclass(frozen=True, slots=True, kw_only=True)
class BoxTrackerConfig:
    """Parameters of :class:`BoxTracker` (pixels, seconds).

    Attributes:
        frame_rate_hz: frames per second; frame ``k`` is at ``k / frame_rate_hz`` s.
        high_score: detections with a score >= this are *confident* (stage 1, births).
        min_score: detections below this score are ignored.
        centre_sd_px: measurement noise sd of the box centre (px).
        size_sd_px: measurement noise sd of the box width and height (px).
        accel_sd_pxps2: white-noise acceleration sd of centre and size (px/s^2).
        init_speed_sd_pxps: prior velocity sd of a new track (px/s).
        max_speed_pxps: cap on a track's velocity vector norm (px/s).
        gate_chi2: Mahalanobis gate (squared, 4 dof).
        min_iou: minimum IoU between a predicted box and a detection it takes.
        birth_max_iou: a confident left-over detection overlapping a live confirmed
            track's box more than this does not start a track.
        confirm_hits: hits that confirm a tentative track ...
        confirm_ratio: ... if it was hit in at least this fraction of its frames.
        tentative_timeout_s: a tentative track missed this long is dropped (s).
        coast_s: a confirmed track missed this long is deleted (s).
        report_coast_s: a confirmed track missed for at most this long is still
            reported, at its predicted box (s); 0 reports hit tracks only.
    """

    frame_rate_hz: float = 25.0
    high_score: float = 0.5
    min_score: float = 0.1
    centre_sd_px: float = 8.0
    size_sd_px: float = 14.0
    accel_sd_pxps2: float = 150.0
    init_speed_sd_pxps: float = 60.0
    max_speed_pxps: float = 600.0
    gate_chi2: float = 18.5
    min_iou: float = 0.2
    birth_max_iou: float = 0.6
    confirm_hits: int = 3
    confirm_ratio: float = 0.6
    tentative_timeout_s: float = 0.15
    coast_s: float = 1.2
    report_coast_s: float = 0.1

    def __post_init__(self) -> None:
        for name in ("frame_rate_hz", "centre_sd_px", "size_sd_px", "accel_sd_pxps2",
                     "init_speed_sd_pxps", "max_speed_pxps", "gate_chi2",
                     "tentative_timeout_s", "coast_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"BoxTrackerConfig.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("high_score", "min_score", "min_iou", "birth_max_iou", "confirm_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"BoxTrackerConfig.{name} must be in [0, 1], "
                                 f"got {getattr(self, name)!r}")
        if self.confirm_hits < 1:
            raise ValueError(f"BoxTrackerConfig.confirm_hits must be >= 1, got {self.confirm_hits}")
        if not 0.0 <= self.report_coast_s <= self.coast_s:
            raise ValueError("BoxTrackerConfig.report_coast_s must be in [0, coast_s], "
                             f"got {self.report_coast_s!r}")


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """(n, 4) x1 y1 x2 y2 -> (n, 4) cx cy w h (px)."""
    b = np.asarray(boxes, dtype=float)
    return np.column_stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                            b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]])


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(n, 4) cx cy w h -> (n, 4) x1 y1 x2 y2 (px); sizes below 1 px are raised to 1."""
    b = np.asarray(boxes, dtype=float)
    half = np.maximum(b[:, 2:4], 1.0) / 2
    return np.column_stack([b[:, 0] - half[:, 0], b[:, 1] - half[:, 1],
                            b[:, 0] + half[:, 0], b[:, 1] + half[:, 1]])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) intersection over union of (n, 4) and (m, 4) x1 y1 x2 y2 boxes."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


class BoxTracker:
    """Online tracker of image boxes; see the module docstring.

    Args:
        config: parameters; defaults suit pedestrians at 25 frames/s.
    """

    def __init__(self, config: BoxTrackerConfig | None = None):
        self.config = config or BoxTrackerConfig()
        c = self.config
        self._core_config = CoreConfig(
            dim=4, meas_sd=c.centre_sd_px, accel_sd=c.accel_sd_pxps2,
            init_speed_sd=c.init_speed_sd_pxps, gate_chi2=c.gate_chi2, max_gate=1e6,
            confirm_hits=c.confirm_hits, confirm_ratio=c.confirm_ratio,
            tentative_timeout_s=c.tentative_timeout_s,
            tentative_max_age_s=2.0 * c.confirm_hits / c.frame_rate_hz + c.tentative_timeout_s,
            coast_s=c.coast_s, max_coast_speed=c.max_speed_pxps,
            reacquire_gap_s=1e6, reacquire_window_s=1.0)
        self._r = np.diag([c.centre_sd_px**2] * 2 + [c.size_sd_px**2] * 2)
        self.reset()

    def reset(self) -> None:
        """Forget every track; ids start again at 1."""
        self._core = TrackCore(self._core_config)
        self._next_public_id = 1
        self._last_frame: int | None = None

    # ----------------------------------------------------------------- API
    def update(self, dets: np.ndarray, frame_id: int) -> np.ndarray:
        """Feed the detections of one frame; return the confirmed tracks of that frame.

        Args:
            dets: (N, 5) float, rows ``(x1, y1, x2, y2, score)`` in pixels,
                score in [0, 1]; N may be 0 (an empty (0, 5) or (0,) array).
            frame_id: frame number, non-decreasing between calls.

        Returns:
            (M, 5) float64 rows ``(x1, y1, x2, y2, track_id)``, one per confirmed
            track reported in this frame, sorted by track id (ids >= 1).

        Raises:
            ValueError: on a bad shape, non-finite values, an empty or inverted
                box, or a frame number lower than the previous one.
        """
        dets = self._checked(dets, frame_id)
        t = frame_id / self.config.frame_rate_hz
        core = self._core
        core.expire(t)
        for tr in core.active:
            if not tr.confirmed:
                tr.frames += 1
        self._associate(t, dets)
        return self._report(t)

    # ------------------------------------------------------------ internals
    def _checked(self, dets: np.ndarray, frame_id: int) -> np.ndarray:
        d = np.asarray(dets, dtype=float)
        if d.size == 0:
            d = d.reshape(0, 5)
        if d.ndim != 2 or d.shape[1] != 5:
            raise ValueError(f"dets must have shape (N, 5) (x1, y1, x2, y2, score), got {d.shape}")
        if not np.isfinite(d).all():
            raise ValueError("dets contains NaN or infinite values")
        if (d[:, 2] <= d[:, 0]).any() or (d[:, 3] <= d[:, 1]).any():
            raise ValueError("dets has a box with x2 <= x1 or y2 <= y1")
        if self._last_frame is not None and frame_id < self._last_frame:
            raise ValueError(f"frame_id {frame_id} is lower than the previous one "
                             f"({self._last_frame}); feed frames in order or reset()")
        self._last_frame = int(frame_id)
        return d

    def _associate(self, t: float, dets: np.ndarray) -> None:
        c = self.config
        z = xyxy_to_cxcywh(dets[:, :4])
        high = np.flatnonzero(dets[:, 4] >= c.high_score)
        low = np.flatnonzero((dets[:, 4] >= c.min_score) & (dets[:, 4] < c.high_score))
        confirmed = [tr for tr in self._core.active if tr.confirmed]
        tentative = [tr for tr in self._core.active if not tr.confirmed]
        cache: dict = {}  # (F, Q) per time step, shared by this frame's updates
        left, high = self._match(confirmed, t, z, high, cache)
        left, low = self._match(left, t, z, low, cache)
        _, high = self._match(tentative, t, z, high, cache)
        self._births(t, z, high)

    def _match(self, tracks: list[KalmanTrack], t: float, z: np.ndarray, idx: np.ndarray,
               cache: dict) -> tuple[list[KalmanTrack], np.ndarray]:
        """Assign measurements ``z[idx]`` to ``tracks`` at ``t`` and update the pairs.

        Returns:
            (tracks left unmatched, indices of measurements left unmatched).
        """
        if not tracks or not len(idx):
            return tracks, idx
        cost = self._cost(tracks, t, z[idx])
        rows, cols = linear_sum_assignment(cost)
        ok = cost[rows, cols] < _BIG
        for i, j in zip(rows[ok], cols[ok], strict=True):
            self._core.update(tracks[i], t, z[idx[j]], cache)
            if tracks[i].confirmed and tracks[i].data is None:
                tracks[i].data = self._next_public_id
                self._next_public_id += 1
        used_rows = set(rows[ok].tolist())
        keep = np.ones(len(idx), dtype=bool)
        keep[cols[ok]] = False
        return [tr for k, tr in enumerate(tracks) if k not in used_rows], idx[keep]

    def _cost(self, tracks: list[KalmanTrack], t: float, z: np.ndarray) -> np.ndarray:
        """(n, m) cost ``d_M^2 + ln|S|``; pairs outside either gate cost ``_BIG``."""
        xp, pp = self._core.predicted(tracks, t)
        s = pp[:, :4, :4] + self._r
        resid = z[None, :, :] - xp[:, None, :4]
        maha = np.einsum("nmi,nij,nmj->nm", resid, np.linalg.inv(s), resid)
        cost = maha + np.linalg.slogdet(s)[1][:, None]
        iou = iou_matrix(cxcywh_to_xyxy(xp[:, :4]), cxcywh_to_xyxy(z))
        cost[(maha > self.config.gate_chi2) | (iou < self.config.min_iou)] = _BIG
        return cost

    def _births(self, t: float, z: np.ndarray, idx: np.ndarray) -> None:
        if not len(idx):
            return
        live = [tr for tr in self._core.active if tr.confirmed]
        if live:
            xp, _ = self._core.predicted(live, t)
            overlap = iou_matrix(cxcywh_to_xyxy(z[idx]), cxcywh_to_xyxy(xp[:, :4])).max(axis=1)
            idx = idx[overlap <= self.config.birth_max_iou]
        for j in idx:
            tr = self._core.birth(t, z[j])
            tr.kf.R = self._r.copy()
            tr.kf.P[:4, :4] = self._r
            if tr.confirmed:  # confirm_hits == 1
                tr.data = self._next_public_id
                self._next_public_id += 1

    def _report(self, t: float) -> np.ndarray:
        eps = 1e-9
        shown = [tr for tr in self._core.active
                 if tr.confirmed and t - tr.t_last <= self.config.report_coast_s + eps]
        if not shown:
            return np.empty((0, 5))
        xp, _ = self._core.predicted(shown, t)
        ids = np.array([tr.data for tr in shown], dtype=float)
        out = np.column_stack([cxcywh_to_xyxy(xp[:, :4]), ids])
        return out[np.argsort(ids, kind="stable")]


def make_tracker(**overrides: float) -> BoxTracker:
    """A :class:`BoxTracker` with default parameters, some replaced by keyword.

    Args:
        **overrides: fields of :class:`BoxTrackerConfig`, e.g. ``frame_rate_hz=30``.
    """
    return BoxTracker(BoxTrackerConfig(**overrides))


if __name__ == "__main__":
    # Two boxes walking towards each other and crossing, with detector noise.
    rng = np.random.default_rng(0)
    trk = make_tracker(frame_rate_hz=25.0)
    for k in range(1, 51):
        truth = np.array([[100 + 4 * k, 100, 160 + 4 * k, 250],
                          [400 - 4 * k, 110, 460 - 4 * k, 260]], dtype=float)
        dets = np.column_stack([truth + rng.normal(0, 3, truth.shape), np.full(2, 0.9)])
        out = trk.update(dets, k)
        if k % 10 == 0:
            print(k, np.round(out, 1).tolist())
