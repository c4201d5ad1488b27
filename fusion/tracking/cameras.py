"""Per-camera calibration learned from the tracks: floor-position bias and noise.

Every overhead camera projects its detections into the floor frame with its
own small, constant error (a calibration off by a few centimetres) and its own
scatter (resolution, height, lens). Fused with one measurement noise for all,
a track jumps by the difference of two cameras' biases whenever the camera
that sees a person changes, and a poor camera pulls as hard as a good one.
Both are learned here, online, from the innovations of confirmed tracks:

* **bias**: the mean innovation of a camera's detections against tracks that
  other cameras also update (a person seen by one camera only follows that
  camera and says nothing about its bias). Only differences between cameras
  are observable; the biases are applied relative to the cameras'
  detection-weighted mean, so the fused floor frame stays the cameras'
  average one. A camera's clock offset is not estimated: it shows only on
  walking people, as a bias along their way, and part of it ends up in the
  bias where people mostly walk one way.
* **noise**: the mean squared innovation per axis (about the bias) minus
  the track's own predicted variance, per camera. Only the *relative* noise is used: each
  camera's measurement variance is the tracker's ``meas_sd_m``² scaled by its
  noise over the detection-weighted mean of all cameras' (clamped), so the
  tracker's tuning (gates, swap spreads, which also absorb motion the model
  does not capture) keeps its meaning and only the weighting between cameras
  changes.

Only detections matched to a confirmed track with no other confirmed track
within ``calib_isolation_m`` are used, so a mix-up of two people never
teaches a camera a bias. A camera's estimates are applied once it has
``calib_min_samples`` of them (before that: no correction, the common noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class CameraEstimate:
    """What has been learned about one camera.

    Attributes:
        camera: camera id.
        bias_xy: (2,) estimated floor-position bias (m), relative to the
            cameras' average; subtracted from its detections once applied.
        noise_sd_m: estimated detection noise per axis (m), model mismatch
            of the motion included.
        samples: detections the estimates were learned from.
        applied: True once ``samples`` reached the minimum and corrections apply.
    """

    camera: str
    bias_xy: np.ndarray
    noise_sd_m: float
    samples: int
    applied: bool


#: default clamp of a camera's variance over the cameras' mean (lo, hi)
VAR_RATIO = (0.25, 4.0)

#: the applied biases and variances are refreshed every this many samples
#: learned (they move by a fraction of a millimetre per sample)
_REFRESH_EVERY = 16


class CameraCalibration:
    """Online per-camera bias and relative noise (see the module docstring).

    Args:
        meas_var: the tracker's measurement variance per axis (m^2).
        min_samples: detections a camera needs before its estimates apply.
        halflife: the estimates forget with this half-life (detections): a
            camera knocked out of alignment is re-learned.
        var_ratio: (lo, hi) clamp of a camera's variance over the mean.
        max_bias_m: clamp of each bias component (m).
    """

    def __init__(self, meas_var: float, min_samples: int = 100, halflife: float = 100.0,
                 var_ratio: tuple[float, float] = VAR_RATIO, max_bias_m: float = 0.3):
        if not (meas_var > 0 and min_samples >= 1 and halflife > 0
                and 0 < var_ratio[0] <= 1.0 <= var_ratio[1] and max_bias_m >= 0):
            raise ValueError("CameraCalibration: meas_var, min_samples, halflife must be > 0, "
                             "var_ratio must bracket 1, max_bias_m must be >= 0")
        self.meas_var = float(meas_var)
        self.min_samples = int(min_samples)
        self._alpha_min = math.log(2.0) / float(halflife)
        self.var_ratio = (float(var_ratio[0]), float(var_ratio[1]))
        self.max_bias_m = float(max_bias_m)
        self._bias: dict[str, tuple[float, float]] = {}  # EWMA of the raw innovations (m), uncentred
        self._var: dict[str, float] = {}
        self._n: dict[str, int] = {}
        self._applied: dict[str, np.ndarray] = {}  # bias subtracted now, per ready camera (m)
        self._r: dict[str, float] = {}  # applied variance per ready camera (m^2)
        self._pending = 0  # samples learned since the applied values were refreshed

    def correct(self, camera: str, z: np.ndarray) -> tuple[np.ndarray, float]:
        """Detections ``z`` (k, 2) of ``camera`` with its bias removed, and the
        measurement variance per axis to fuse them with (m^2)."""
        b = self._applied.get(camera)
        if b is None:
            return z, self.meas_var
        return z - b, self._r[camera]

    def observe(self, camera: str, innovation: np.ndarray, pred_var: np.ndarray) -> None:
        """Learn from the innovations (k, 2) of ``camera``'s detections as they
        were fused (after :meth:`correct`) against their tracks' predictions,
        whose position variance per axis was ``pred_var`` (k,) (m^2)."""
        y = np.asarray(innovation, dtype=float).reshape(-1, 2).tolist()
        if not y:
            return
        pv = np.asarray(pred_var, dtype=float).reshape(-1).tolist()
        # the raw detection's innovation: add back the bias removed when fusing
        ax, ay = self._applied[camera].tolist() if camera in self._applied else (0.0, 0.0)
        bx, by = self._bias.get(camera, (0.0, 0.0))
        var = self._var.get(camera)
        n = self._n.get(camera, 0)
        a_min = self._alpha_min
        for (yx, yy), p in zip(y, pv, strict=True):  # a few per frame: plain floats
            n += 1
            w = max(1.0 / n, a_min)
            ex, ey = yx + ax - bx, yy + ay - by
            bx += w * ex
            by += w * ey
            ex, ey = ex * (1.0 - w), ey * (1.0 - w)  # about the updated mean
            v = max(0.5 * (ex * ex + ey * ey) - p, 1e-4)
            var = v if var is None else var + w * (v - var)
        became_ready = n - len(y) < self.min_samples <= n
        self._n[camera] = n
        self._bias[camera] = (bx, by)
        self._var[camera] = var
        self._pending += len(y)
        if became_ready or self._pending >= _REFRESH_EVERY:
            self._refresh()

    def noise_var(self) -> float | None:
        """Detection-weighted mean of the learned noise variances per axis of
        the cameras with ``min_samples`` or more (m^2), or None. Unlike the
        biases, a camera's noise is learned from its own innovations, so one
        camera is enough."""
        ready = self._ready()
        if not ready:
            return None
        tot = float(sum(self._n[c] for c in ready))
        return sum(self._n[c] * self._var[c] for c in ready) / tot

    def set_meas_var(self, meas_var: float) -> None:
        """Fuse with this measurement variance per axis (m^2) from now on,
        each ready camera's scaled by its relative noise as before."""
        if not meas_var > 0:
            raise ValueError(f"CameraCalibration.set_meas_var: must be > 0, got {meas_var!r}")
        self.meas_var = float(meas_var)
        self._refresh()

    def estimates(self) -> list[CameraEstimate]:
        """The current estimate of every camera seen so far, by id."""
        mean = self._mean()
        return [CameraEstimate(cam, self._centred(cam, mean), math.sqrt(self._var[cam]),
                               self._n[cam], cam in self._applied)
                for cam in sorted(self._n)]

    def _ready(self) -> list[str]:
        return [c for c, n in self._n.items() if n >= self.min_samples]

    def _mean(self) -> np.ndarray:
        """Detection-weighted mean of the ready cameras' biases (zeros below two)."""
        ready = self._ready()
        if len(ready) < 2:
            return np.zeros(2)
        n = [self._n[c] for c in ready]
        tot = float(sum(n))
        return np.array([sum(k * self._bias[c][0] for k, c in zip(n, ready, strict=True)) / tot,
                         sum(k * self._bias[c][1] for k, c in zip(n, ready, strict=True)) / tot])

    def _centred(self, camera: str, mean: np.ndarray) -> np.ndarray:
        """(2,) ``camera``'s bias relative to ``mean``, each component clamped
        to ``max_bias_m`` (m)."""
        return np.clip(np.asarray(self._bias[camera]) - mean, -self.max_bias_m, self.max_bias_m)

    def _refresh(self) -> None:
        """Recompute the applied biases and variances of the ready cameras."""
        self._pending = 0
        ready = self._ready()
        if len(ready) < 2:
            self._applied, self._r = {}, {}
            return
        mean = self._mean()
        self._applied = {c: self._centred(c, mean) for c in ready}
        tot = float(sum(self._n[c] for c in ready))
        vmean = sum(self._n[c] * self._var[c] for c in ready) / tot
        lo, hi = self.var_ratio
        self._r = {c: self.meas_var * min(max(self._var[c] / vmean, lo), hi) for c in ready}


class FrameCadence:
    """Each camera's typical frame interval, learned from the frames' times.

    The interval of a camera is the median of its last ``n`` gaps between
    consecutive frames (gaps of 0 or over ``max_gap_s`` -- a camera that
    stopped, or a stream that leaves out empty frames -- are not counted);
    the store's is the median over cameras with at least ``min_gaps`` gaps.

    Args:
        n: gaps kept per camera.
        min_gaps: gaps a camera needs before it counts.
        max_gap_s: longest gap counted (s).
        every: recompute a camera's median every this many frames of it.
    """

    def __init__(self, n: int = 64, min_gaps: int = 16, max_gap_s: float = 1.0, every: int = 16):
        self.n, self.min_gaps, self.max_gap_s, self.every = n, min_gaps, max_gap_s, every
        self._last: dict[str, float] = {}
        self._gaps: dict[str, list[float]] = {}
        self._median: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def observe(self, camera: str, t: float) -> bool:
        """Note a frame of ``camera`` at ``t`` (s); True when a camera's
        interval estimate changed (then read :meth:`interval_s`)."""
        last = self._last.get(camera)
        self._last[camera] = t
        if last is None or not 0.0 < t - last <= self.max_gap_s:
            return False
        gaps = self._gaps.setdefault(camera, [])
        gaps.append(t - last)
        if len(gaps) > self.n:
            del gaps[0]
        k = self._count[camera] = self._count.get(camera, 0) + 1
        if len(gaps) < self.min_gaps or k % self.every:
            return False
        old = self._median.get(camera)
        self._median[camera] = float(np.median(gaps))
        return old != self._median[camera]

    def interval_s(self) -> float | None:
        """Median frame interval over the cameras known so far (s), or None."""
        if not self._median:
            return None
        return float(np.median(list(self._median.values())))
