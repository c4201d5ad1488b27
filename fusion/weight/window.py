"""Sliding settle window: the last samples of every unsettled plate.

A plate is *stable again* when the readings of the last ``settle_s`` seconds
stay within a band around their mean (one single-sample spike tolerated),
their fitted slope is flat and their scatter is no larger than the plate's
noise.  The window is a ring buffer of ``k`` samples per plate, shape
``(n_cells, k)``; all statistics are computed for many plates at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Statistics of the last-``settle_s`` window of ``m`` plates, each (m,).

    Attributes:
        n: samples used (after dropping at most one spike).
        mean_g: their mean, g.
        max_dev_g: largest |sample - mean| among them, g.
        slope_g_per_s: least-squares slope, g/s.
        var_res_g2: residual variance about the fitted line, g^2.
        t_first: time of the oldest sample in the window, s.
        covered: the plate has been buffering for at least ``settle_s``.
    """

    n: np.ndarray
    mean_g: np.ndarray
    max_dev_g: np.ndarray
    slope_g_per_s: np.ndarray
    var_res_g2: np.ndarray
    t_first: np.ndarray
    covered: np.ndarray

    def subset(self, m: np.ndarray) -> WindowStats:
        """The statistics of the plates selected by mask or index ``m``."""
        return WindowStats(self.n[m], self.mean_g[m], self.max_dev_g[m], self.slope_g_per_s[m],
                           self.var_res_g2[m], self.t_first[m], self.covered[m])


class SettleWindow:
    """Ring buffers of the last ``k`` samples of ``n`` plates."""

    def __init__(self, n: int, k: int):
        if k < 4:
            raise ValueError(f"SettleWindow: k must be >= 4, got {k}")
        self.k = k
        self.t = np.full((n, k), np.nan)  # (n, k) sample times, s
        self.z = np.zeros((n, k))  # (n, k) readings, g
        self.i = np.zeros(n, np.int64)  # (n,) samples pushed since reset
        self.t_reset = np.full(n, np.nan)  # (n,) first sample since reset, s
        self.t_last = np.full(n, np.nan)  # (n,) last sample pushed, s

    def reset(self, c: np.ndarray) -> None:
        """Empty the windows of plates ``c``."""
        self.t[c] = np.nan
        self.i[c] = 0
        self.t_reset[c] = np.nan
        self.t_last[c] = np.nan

    def push(self, c: np.ndarray, t: np.ndarray, z: np.ndarray) -> None:
        """Append one sample (t s, z g) to each plate of ``c`` (unique indices)."""
        pos = self.i[c] % self.k
        self.t[c, pos] = t
        self.z[c, pos] = z
        self.i[c] += 1
        self.t_reset[c] = np.where(np.isfinite(self.t_reset[c]), self.t_reset[c], t)
        self.t_last[c] = np.fmax(self.t_last[c], t)

    def stats(self, c: np.ndarray, t_now: np.ndarray, settle_s: np.ndarray | float,
              band_g: np.ndarray) -> WindowStats:
        """Window statistics of plates ``c`` at times ``t_now`` (s); see :func:`window_stats`."""
        return window_stats(self.t[c], self.z[c], t_now, settle_s, band_g, self.t_reset[c])

    def history(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(m, k) times (s, NaN = empty) and readings (g) of plates ``c``, oldest first."""
        pos = (self.i[c][:, None] + np.arange(self.k)[None, :]) % self.k
        rows = c[:, None]
        return self.t[rows, pos], self.z[rows, pos]

    def push_many(self, c: np.ndarray, T: np.ndarray, Z: np.ndarray, n: np.ndarray) -> None:
        """Append the first ``n[j]`` samples of row j of ``T`` (s), ``Z`` (g), each (m, L)."""
        L = T.shape[1]
        col = np.arange(L)[None, :]
        keep = (col < n[:, None]) & (col >= n[:, None] - self.k)  # only the last k survive
        rr, cc = np.nonzero(keep)
        pos = (self.i[c][rr] + cc) % self.k
        self.t[c[rr], pos] = T[rr, cc]
        self.z[c[rr], pos] = Z[rr, cc]
        self.i[c] += n
        first = T[:, 0]
        self.t_reset[c] = np.where(np.isfinite(self.t_reset[c]), self.t_reset[c], first)
        last = T[np.arange(c.size), np.maximum(n - 1, 0)]
        self.t_last[c] = np.fmax(self.t_last[c], last)


def is_covered(t_now: np.ndarray, t_reset: np.ndarray, settle_s: np.ndarray | float) -> np.ndarray:
    """Bool: a plate that began buffering at ``t_reset`` (s) has a full ``settle_s``
    window (s) at ``t_now`` (s); only then can it be calm."""
    return (t_now - t_reset) >= settle_s - 1e-9


def window_stats(T: np.ndarray, Z: np.ndarray, t_now: np.ndarray, settle_s: np.ndarray | float,
                 band_g: np.ndarray, t_reset: np.ndarray,
                 cover_s: np.ndarray | float | None = None) -> WindowStats:
    """Statistics of the last-``settle_s`` window of ``m`` sample buffers.

    Args:
        T: (m, k) sample times, s (NaN = empty slot).
        Z: (m, k) readings, g.
        t_now: (m,) window end, s.
        settle_s: window length, s (scalar or (m,)).
        band_g: (m,) the one sample farthest from the mean is dropped if beyond this.
        t_reset: (m,) time of the first sample of the episode, s.
        cover_s: buffering since ``t_reset`` that makes the window full, s
            (default ``settle_s``).
    """
    settle_s = np.broadcast_to(np.asarray(settle_s, float), t_now.shape)
    w = np.isfinite(T) & (T >= (t_now - settle_s - 1e-9)[:, None]) & (T <= t_now[:, None])
    mean = _wmean(w, Z)
    dev = np.where(w, np.abs(Z - mean[:, None]), -1.0)
    worst = np.argmax(dev, axis=1)
    rows = np.arange(T.shape[0])
    w[rows, worst] &= dev[rows, worst] <= band_g
    n = w.sum(axis=1)
    mean = _wmean(w, Z)
    zc = np.where(w, Z - mean[:, None], 0.0)
    tt = np.where(w, T - t_now[:, None], 0.0)
    nn = np.maximum(n, 1)
    tc = np.where(w, tt - (tt.sum(1) / nn)[:, None], 0.0)
    stt = (tc * tc).sum(1)
    slope = np.where(stt > 1e-12, (tc * zc).sum(1) / np.where(stt > 1e-12, stt, 1.0), 0.0)
    ss = (zc * zc).sum(1) - slope * slope * stt
    return WindowStats(
        n=n, mean_g=mean, max_dev_g=np.abs(zc).max(axis=1, initial=0.0),
        slope_g_per_s=slope, var_res_g2=np.maximum(ss, 0.0) / np.maximum(n - 2, 1),
        t_first=np.where(w, T, np.inf).min(axis=1, initial=np.inf),
        covered=is_covered(t_now, t_reset, settle_s if cover_s is None else cover_s))


def _wmean(w: np.ndarray, Z: np.ndarray) -> np.ndarray:
    return np.where(w, Z, 0.0).sum(1) / np.maximum(w.sum(1), 1)
