"""Per-plate level tracking and stable -> unstable -> stable segmentation.

Every plate is in one of three states:

``INIT``      level unknown (start of stream); the first quiet segment sets it.
``STABLE``    a scalar Kalman filter (:class:`~fusion.weight.kalman.LevelKalman`)
              follows the level; normalised innovations feed an outlier gate
              (single spikes are ignored, ``confirm_samples`` in a row start a
              change) and a two-sided CUSUM (small sustained shifts).
``UNSTABLE``  the level before the change is frozen; a quiet segment (readings
              within a band around its running mean, flat fitted slope) of
              ``settle_s`` seconds ends it.  Its mean minus the frozen level
              is the plate's change.

Each chunk is laid out as padded per-plate rows (:mod:`.layout`).  Stable
plates run through :func:`~fusion.weight.stable.stable_pass` (filter, gate and
CUSUM for all their samples at once, up to the first outlier or alarm);
unstable plates evaluate the settle test at all their remaining samples at
once (:meth:`WeightDetector._settle_rows`); the two alternate until every
sample is used (a few rounds per chunk).  Cells are independent; only the
merge step at the end of a chunk looks across them.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from fusion.types import EventPart, SampleFlag, ShelfEvent, Store

from .config import WeightConfig
from .kalman import LevelKalman
from .layout import ChunkLayout, LayoutCache
from .merge import PlateChange, explains_whole_items_together, group_changes, neighbour_matrix
from .scan import EvenCoeffCache, affine_scan, ema_final
from .stable import ALARM_OUT, StableState, stable_pass
from .window import SettleWindow, WindowStats, is_covered, window_stats

logger = logging.getLogger(__name__)

#: sample-interval EMA weights (:meth:`WeightDetector._track_rate`): regular
#: steps, and steps >= 1.5x the estimate (a gap must not look like a slow rate)
_RATE_W, _RATE_W_GAP = 0.05, 0.005
#: this many sample intervals in a row all >= 1.5x the estimate are the plate's
#: rate, not gaps: the estimate jumps to their median (a stated ``sample_hz``
#: far above the rate the controller really delivers)
_RATE_LONG_RUN = 6
#: longest row for the steady-rate closed form: (1 - _RATE_W)^L stays far from
#: underflow (e^-205 at 4000), as in affine_scan's own closed form
_RATE_STEADY_MAX_L = 4000

INIT, STABLE, UNSTABLE = 0, 1, 2
_BAD_FLAGS = int(SampleFlag.OVERLOAD | SampleFlag.UNDERLOAD | SampleFlag.ERROR | SampleFlag.GAP)
_FIELDS = ("t", "cell", "grams", "flags")
_MAX_ABS_T_S = 1e10  # a store clock beyond ~300 years is garbage: such rows are dropped
_MAX_ABS_G = 1e8  # a reading beyond 100 t is no reading: treated as a gap
_RESOLUTION_SETTLED = 5000  # readings checked (every 4th) that end the check of a division
#: candidate reading resolutions (display divisions), g: the 1-2-5 series
_DIVISIONS = np.array([m * 10.0 ** e for e in range(-3, 3) for m in (1.0, 2.0, 5.0)])


def _multiple(d: np.ndarray, q: np.ndarray | float, tol: np.ndarray) -> np.ndarray:
    """``d`` is a whole multiple of ``q`` within ``tol`` (g), and ``tol`` is
    small enough against ``q`` to tell."""
    return (np.abs(d - np.rint(d / q) * q) <= tol) & (tol < q / 4)


class WeightDetector:
    """Turn interleaved load-cell samples into :class:`~fusion.types.ShelfEvent`.

    Args:
        store: the store layout; a sample's ``cell`` indexes ``store.cells``.
        config: tuning; defaults to :class:`WeightConfig()`.
    """

    def __init__(self, store: Store, config: WeightConfig | None = None):
        self.store = store
        self.config = config or WeightConfig()
        cfg, n = self.config, len(store.cells)
        self._n = n
        self._kf = LevelKalman(n)
        noise = np.array([c.noise_g if c.noise_g else cfg.default_noise_g for c in store.cells])
        self._r = np.maximum(noise, cfg.noise_floor_g) ** 2  # (n,) noise variance, g^2
        # reading resolution (see _learn_resolution): first reading, index into
        # _DIVISIONS of the largest division every reading differs from it by
        # a multiple of (-1: none), readings checked that differed from it;
        # and the noise variance floor it sets, g^2
        self._res_ref = np.full(n, np.nan)
        self._res_k = np.full(n, _DIVISIONS.size - 1, np.int64)
        self._res_steps = np.zeros(n, np.int64)
        self._floor2 = np.full(n, cfg.noise_floor_g ** 2)
        self._res_open = np.ones(n, bool)  # plates whose division may still matter
        self._noise_known = np.array([bool(c.noise_g) for c in store.cells], bool)
        self._noise_n = np.where(self._noise_known, 50.0, 0.0)  # (n,) evidence behind _r
        self._dt = np.array([1.0 / c.sample_hz if c.sample_hz else np.nan
                             for c in store.cells], float)  # (n,) sample interval estimate, s
        f = lambda: np.full(n, np.nan)  # noqa: E731
        z = lambda: np.zeros(n)  # noqa: E731
        self._last_t, self._t_valid, self._t_out = f(), f(), f()
        self._state = np.zeros(n, np.int8)
        self._n_out = np.zeros(n, np.int32)
        self._gp, self._gn = z(), z()
        self._anc_x, self._anc_P, self._anc_t = f(), f(), f()
        self._base_x, self._base_var, self._ep_start = f(), f(), f()
        # (n,) robust peak of the episode (max over pairs of consecutive readings), g,
        # and the last reading of the episode so far (the first half of the next pair)
        self._ep_peak, self._ep_prev = f(), f()
        self._win = SettleWindow(n, cfg.window_samples)
        self._layout_cache = LayoutCache()
        self._even_cache = EvenCoeffCache()
        self._rate_decay = np.empty(0)  # 0.95 ** k, k = 1.., for _track_rate (see there)
        # (n, _RATE_LONG_RUN) the latest intervals >= 1.5x the estimate of an
        # unbroken run of them (s), and how many there are (see _track_rate)
        self._long_dt = np.full((n, _RATE_LONG_RUN), np.nan)
        self._n_long = np.zeros(n, np.int64)
        self._last_ep_start, self._last_settle = f(), f()
        self._pending: list[PlateChange] = []
        self._cancelled: list[ShelfEvent] = []  # keep_cancelled: episodes with no net change
        self._nb = neighbour_matrix(store, cfg)
        self._now = -np.inf
        # (n,) latest time vision saw no hand within reach (hands_away), and the
        # first cue of that unbroken run of cues (none more than hand_reach_s apart), s
        self._away_t, self._away_first = f(), f()

    # ------------------------------------------------------------ public API

    def process(self, samples: np.ndarray) -> list[ShelfEvent]:
        """Feed one chunk of samples (``WEIGHT_DTYPE``); return events decided in it.

        Args:
            samples: (N,) structured array with fields t (s), cell (index),
                grams (NaN = gap), flags.  Rows with a non-finite (or beyond
                1e10 s) ``t`` are dropped; |grams| > 1e8 counts as a gap.

        Raises:
            ValueError: wrong fields, or a cell index outside ``store.cells``.
        """
        samples = np.asarray(samples)
        if samples.dtype.names is None or any(k not in samples.dtype.names for k in _FIELDS):
            raise ValueError(f"WeightDetector.process: samples need fields {_FIELDS}, "
                             f"got dtype {samples.dtype}; build them with WEIGHT_DTYPE")
        samples = samples.reshape(-1)
        t = samples["t"].astype(np.float64)
        keep = np.abs(t) <= _MAX_ABS_T_S  # also False for NaN
        if not keep.all():
            logger.debug("dropping %d samples with non-finite or absurd t", int((~keep).sum()))
            samples, t = samples[keep], t[keep]
        if samples.size == 0:
            return self._decide(final=False)
        cell = samples["cell"].astype(np.int64)
        if cell.min() < 0 or cell.max() >= self._n:
            raise ValueError(f"WeightDetector.process: cell index {int(cell.max())} out of range; "
                             f"the store has {self._n} cells")
        grams = samples["grams"].astype(np.float64)
        ok = (np.abs(grams) <= _MAX_ABS_G) & ((samples["flags"].astype(np.int64) & _BAD_FLAGS) == 0)
        self._now = max(self._now, float(t.max()))
        if self.config.resolution_steps and self._res_open.any():
            self._learn_resolution(cell, grams, ok)
        self._chunk(t, cell, grams, ok)
        return self._decide(final=False)

    def flush(self) -> list[ShelfEvent]:
        """End of stream: settle plates whose last samples are quiet, decide everything."""
        c = np.flatnonzero((self._state != STABLE) & (self._win.i >= 2))
        if c.size:
            t = self._win.t_last[c]
            band = self._band(c)
            win_s, cover_s = self._window_s(c)
            ws = self._win.stats(c, t, win_s, band)
            ok = ((ws.n >= 2) & (ws.max_dev_g <= band)
                  & (t - self._win.t_reset[c] >= cover_s / 2))
            if ok.any():
                self._settle(c[ok], t[ok], ws.subset(ok))
        return self._decide(final=True)

    def busy_since(self) -> float | None:
        """Earliest ``t_start`` (s) of any unsettled plate or undecided change, else None."""
        ts = list(self._ep_start[self._state == UNSTABLE]) + [p.t_start for p in self._pending]
        return float(min(ts)) if ts else None

    def busy_plates(self) -> dict[int, float]:
        """Plate index -> earliest t_start (s) of its unsettled or undecided change."""
        out = {int(c): float(self._ep_start[c]) for c in np.flatnonzero(self._state == UNSTABLE)}
        for p in self._pending:
            out[p.cell] = min(out.get(p.cell, np.inf), p.t_start)
        return out

    def hands_away(self, cells: np.ndarray, t: float) -> None:
        """Vision cue: no hand was within reach of plates ``cells`` at time ``t``.

        A small whole-item increase that could be a lean or a press (held
        ``lean_hold_s`` or ``press_hold_s``, see :meth:`_hold_s`) is released
        once a cue at or after the change's start arrives and the plate's
        readings up to ``t`` plus ``confirm_samples + 2`` sample intervals stay
        settled: a hand lifted by ``t`` would have made the plate unstable by
        then (the lean and its release are then summed away as before).  The
        release takes effect at the next :meth:`process`; the event's
        ``t_final`` is then at most that time.  Other holds (no whole item,
        busy neighbours) are unchanged; a cue for a plate with nothing held is
        a no-op.  Call it for every camera frame (or every change of the
        hands' positions) in which no hand is near these plates.

        Args:
            cells: (k,) plate indices into ``store.cells``.
            t: the frame's time (s, store clock).

        Raises:
            ValueError: a cell index out of range or a non-finite ``t``.
        """
        c = np.asarray(cells, dtype=np.int64).reshape(-1)
        if not np.isfinite(t) or abs(t) > _MAX_ABS_T_S:
            raise ValueError(f"WeightDetector.hands_away: t must be a finite store time, got {t!r}")
        if c.size and (c.min() < 0 or c.max() >= self._n):
            raise ValueError(f"WeightDetector.hands_away: cell index out of range in {c.tolist()}; "
                             f"the store has {self._n} cells")
        gap = float(t) - self._away_t[c]  # NaN: no cue yet
        self._away_first[c[np.isnan(gap) | (gap > self.config.hand_reach_s)]] = float(t)  # a new run
        self._away_t[c] = np.fmax(self._away_t[c], float(t))

    def levels_g(self) -> np.ndarray:
        """(n_cells,) current settled level per plate (g); NaN while unknown."""
        return np.where(self._state == STABLE, self._kf.x,
                        np.where(self._state == UNSTABLE, self._base_x, np.nan))

    def noise_g(self) -> np.ndarray:
        """(n_cells,) current noise standard deviation estimate per plate (g)."""
        return np.sqrt(self._r)

    def sample_interval_s(self) -> np.ndarray:
        """(n_cells,) current sample-interval estimate per plate (s): from the
        store's ``sample_hz`` until readings arrive, then measured (NaN while
        neither is known)."""
        return self._dt.copy()

    # ------------------------------------------------------------ per chunk

    def _chunk(self, t: np.ndarray, cell: np.ndarray, z: np.ndarray, ok: np.ndarray) -> None:
        """Process one chunk: vectorised passes while stable, rows while settling."""
        lay = ChunkLayout.build(t, cell, ok, self._layout_cache)
        u, nv = lay.cells, lay.n_valid
        D = self._track_rate(lay)
        TV, ZV, DV = lay.valid_arrays(z, D)
        ptr = np.zeros(u.size, np.int64)
        rem = nv > 0
        while True:
            stab = np.flatnonzero(rem & (self._state[u] == STABLE))
            if stab.size:
                self._stable_rows(u, stab, ptr, nv, TV, ZV, DV)
                rem = ptr < nv
            uns = np.flatnonzero(rem & (self._state[u] != STABLE))
            if uns.size:
                self._settle_rows(u, uns, ptr, nv, TV, ZV)
                rem = ptr < nv
            if not rem.any():
                break

    def _track_rate(self, lay: ChunkLayout) -> np.ndarray:
        """Running estimate of each cell's sample interval from its timestamps.

        An EMA (weight 0.05, or 0.005 for intervals >= 1.5x the estimate so a
        gap does not look like a slow rate) solved for all samples at once.
        ``_RATE_LONG_RUN`` such long intervals in a row are no gap but the
        plate's real rate: the estimate becomes their median from the next
        chunk on (:meth:`_long_runs`).  Returns (m, L) the estimate at each
        sample (s).
        """
        u, T = lay.cells, lay.T
        d0, last = self._dt[u], self._last_t[u]
        dt = np.empty_like(T)
        dt[:, 0] = T[:, 0] - last
        np.subtract(T[:, 1:], T[:, :-1], out=dt[:, 1:])
        good = dt > 0  # False for padding and a first sample without a previous time (NaN)
        rows = np.arange(u.size)
        if np.isnan(d0).any():  # a plate's first interval starts its estimate
            first = dt[rows, np.argmax(good, axis=1)]
            d0 = np.where(np.isnan(d0) & good.any(axis=1), first, d0)
        thr = 1.5 * d0[:, None]
        D = self._rate_steady(dt, thr, d0, lay.order.size) if T.shape[1] <= _RATE_STEADY_MAX_L else None
        if D is not None:
            self._n_long[u] = 0  # every interval regular: no run of long ones goes on
        else:
            alpha = np.where(dt >= thr, _RATE_W_GAP, _RATE_W)  # False while d0 is NaN
            D = affine_scan(np.where(good, 1.0 - alpha, 1.0), np.where(good, alpha * dt, 0.0), d0)
            self._long_runs(u, dt, good & (dt >= thr), good, lay.counts)
        self._dt[u] = D[rows, lay.counts - 1]
        jump = self._n_long[u] >= _RATE_LONG_RUN
        if jump.any():
            j = u[jump]
            self._dt[j] = np.median(self._long_dt[j], axis=1)
            self._n_long[j] = 0
        self._last_t[u] = np.fmax(last, T[rows, lay.counts - 1])  # rows are in time order
        return D

    def _long_runs(self, u: np.ndarray, dt: np.ndarray, long: np.ndarray, good: np.ndarray,
                   counts: np.ndarray) -> None:
        """Carry each plate's unbroken run of long intervals across chunks: its
        length (``_n_long``) and latest ``_RATE_LONG_RUN`` intervals (s)."""
        K = _RATE_LONG_RUN
        for i in np.flatnonzero(long.any(axis=1) | (self._n_long[u] > 0)):
            c, g = u[i], good[i, :counts[i]]
            d, lg = dt[i, :counts[i]][g], long[i, :counts[i]][g]
            short = np.flatnonzero(~lg)
            if short.size:  # the run was broken: only the long tail after the last short counts
                d, carried = d[short[-1] + 1:], np.full(K, np.nan)
                self._n_long[c] = d.size
            else:
                carried = self._long_dt[c]
                self._n_long[c] += d.size
            self._long_dt[c] = np.r_[carried, d][-K:]

    def _rate_steady(self, dt: np.ndarray, thr: np.ndarray, d0: np.ndarray, n_samples: int
                     ) -> np.ndarray | None:
        """:meth:`_track_rate`'s EMA when every sample of every row is a regular step.

        Every interval ``dt`` (m, L) positive and below ``thr`` (m, 1), 1.5x the
        estimate ``d0`` (m,) (weight 0.05 throughout): the multipliers are all
        0.95, so the closed form of :func:`affine_scan` has the same
        ``exp(cumsum(log 0.95))`` in every row, kept across chunks.  Gives bit
        for bit the values of ``affine_scan`` at every real sample (padding
        columns differ: never read).  None when some sample is not a regular
        step (or a plate has no estimate yet).
        """
        L = dt.shape[1]
        regular = dt > 0
        regular &= dt < thr  # padding (NaN) and NaN estimates are not regular
        if np.count_nonzero(regular) != n_samples:
            return None
        E = self._rate_decay
        if E.size < L:
            E = np.exp(np.log(np.full(max(L, 64), 1.0 - _RATE_W)).cumsum())  # as affine_scan
            self._rate_decay = E
        E = E[:L]
        return E * (d0[:, None] + (_RATE_W * dt / E).cumsum(axis=1))

    def _stable_rows(self, u, i, ptr, nv, TV, ZV, DV) -> None:
        """One :func:`stable_pass` over the remaining samples of stable plates ``u[i]``."""
        cfg, kf = self.config, self._kf
        c, p = u[i], ptr[i]
        n = nv[i] - p
        if i.size == u.size and not p.any():  # first pass over every plate: no gather
            T, Z, D = TV, ZV, DV
        elif i.size == 1:  # one plate (a re-run after a spike): views, no gather
            r0, c0, c1 = int(i[0]), int(p[0]), int(nv[i[0]])
            T, Z, D = TV[r0:r0 + 1, c0:c1], ZV[r0:r0 + 1, c0:c1], DV[r0:r0 + 1, c0:c1]
        else:
            cols = np.minimum(p[:, None] + np.arange(int(n.max()))[None, :], TV.shape[1] - 1)
            T, Z, D = TV[i[:, None], cols], ZV[i[:, None], cols], DV[i[:, None], cols]
        if c.size == self._n:  # every plate (u is sorted): views instead of gathers
            c = slice(None)
        r = self._r[c]
        st = StableState(kf.x[c], kf.P[c], kf.t[c], r, cfg.drift_per_sqrt_s ** 2 * r,
                         self._gp[c], self._gn[c], self._n_out[c], self._t_out[c],
                         self._t_valid[c], self._anc_x[c], self._anc_P[c], self._anc_t[c])
        res = stable_pass(T, Z, D, n, st, cfg.gate_sigma, cfg.cusum_k, cfg.cusum_h,
                          cfg.confirm_samples, self._even_cache)
        e = res.state
        alarm = res.kind >= ALARM_OUT
        kf.x[c], kf.P[c], kf.t[c] = e.x, e.P, e.kt
        if alarm.any():
            self._gp[c], self._gn[c] = np.where(alarm, 0.0, e.gp), np.where(alarm, 0.0, e.gn)
        else:
            self._gp[c], self._gn[c] = e.gp, e.gn
        self._n_out[c], self._t_out[c], self._t_valid[c] = e.n_out, e.t_out, e.t_valid
        self._anc_x[c], self._anc_P[c], self._anc_t[c] = e.anc_x, e.anc_P, e.anc_t
        self._update_noise(c, res.inl, res.v2_minus_p, D)
        ptr[i] += res.used
        if alarm.any():
            rows = np.flatnonzero(alarm)
            last = res.used[rows] - 1
            self._start_episode(u[i][rows], res.t0[rows], res.base_x[rows], res.base_var[rows],
                                T[rows, last], Z[rows, last])

    def _settle_rows(self, u, i, ptr, nv, TV, ZV) -> None:
        """Find where each unstable plate ``u[i]`` settles within its remaining samples.

        The settle test is evaluated at every remaining sample of every such
        plate at once: candidate windows are the last ``window_samples`` of
        (ring buffer + chunk) ending at that sample, shape (m * L, k).  A plate
        settles at its first calm sample; the others buffer all their samples.
        """
        c, p = u[i], ptr[i]
        n = nv[i] - p
        Lm, k = int(n.max()), self._win.k
        col = np.arange(Lm)[None, :]
        valid = col < n[:, None]
        cols = np.minimum(p[:, None] + col, TV.shape[1] - 1)
        T = np.where(valid, TV[i[:, None], cols], np.nan)
        Z = np.where(valid, ZV[i[:, None], cols], 0.0)
        t_reset = self._win.t_reset[c]
        t_reset = np.where(np.isfinite(t_reset), t_reset, T[:, 0])
        win_c, cover_c = self._window_s(c)
        if not is_covered(T[np.arange(c.size), n - 1], t_reset, cover_c).any():
            # no plate has buffered a full window by its last sample: none can settle
            self._track_peak(c, Z, n)
            self._win.push_many(c, T, Z, n)
            ptr[i] += n
            return
        hT, hZ = self._win.history(c)
        WT = sliding_window_view(np.concatenate([hT, T], axis=1), k, axis=1)[:, 1:]
        WZ = sliding_window_view(np.concatenate([hZ, Z], axis=1), k, axis=1)[:, 1:]
        t_now = T.ravel()
        win_s, cover_s = np.repeat(win_c, Lm), np.repeat(cover_c, Lm)
        t_reset = np.repeat(t_reset, Lm)
        # only samples whose window is covered can be calm (``_calm``): test just those
        cand = np.flatnonzero(valid.ravel() & is_covered(t_now, t_reset, cover_s))
        rc, tc, wc = c[cand // Lm], t_now[cand], win_s[cand]
        band = self._band(rc)
        ws = window_stats(WT[cand // Lm, cand % Lm], WZ[cand // Lm, cand % Lm], tc, wc, band,
                          t_reset[cand], cover_s[cand])
        learn = (self._state[rc] == INIT) & ~self._noise_known[rc]
        if learn.any():  # first level of a plate of unknown noise: trust its own scatter
            band = np.where(learn, np.fmax(band, self.config.band_sigma
                                           * np.sqrt(ws.var_res_g2)), band)
        done = np.zeros(c.size * Lm, bool)
        done[cand] = self._calm(rc, tc, ws, band, wc)
        done = done.reshape(c.size, Lm)
        has = done.any(axis=1)
        jf = np.argmax(done, axis=1)
        used = np.where(has, jf + 1, n)
        self._track_peak(c, Z, used)
        if has.any():
            flat = np.flatnonzero(has) * Lm + jf[has]
            self._settle(c[has], t_now[flat], ws.subset(np.searchsorted(cand, flat)))
        if not has.all():
            self._win.push_many(c[~has], T[~has], Z[~has], n[~has])
        ptr[i] += used

    def _track_peak(self, c: np.ndarray, Z: np.ndarray, used: np.ndarray) -> None:
        """Fold the first ``used[j]`` readings of row j of ``Z`` (m, L) into the
        robust episode peak of plates ``c``: the largest min of two consecutive
        readings, so a single-sample spike is no peak."""
        prev = self._ep_prev[c]
        pair = np.fmin(np.concatenate([prev[:, None], Z[:, :-1]], axis=1), Z)
        pair = np.where(np.arange(Z.shape[1])[None, :] < used[:, None], pair, -np.inf)
        self._ep_peak[c] = np.fmax(self._ep_peak[c], pair.max(axis=1))
        last = Z[np.arange(c.size), np.maximum(used - 1, 0)]
        self._ep_prev[c] = np.where(used > 0, last, prev)

    def resolution_g(self) -> np.ndarray:
        """(n,) learned reading resolution per plate (g); NaN until
        ``WeightConfig.resolution_steps`` checked readings differed from the
        plate's first, when the readings are finer than 0.001 g, or when
        the learning is off (``resolution_steps`` 0)."""
        q = np.where(self._res_k >= 0, _DIVISIONS[np.maximum(self._res_k, 0)], np.nan)
        steps = self.config.resolution_steps
        return np.where((steps > 0) & (self._res_steps >= steps), q, np.nan)

    def _learn_resolution(self, cell: np.ndarray, grams: np.ndarray, ok: np.ndarray) -> None:
        """Learn each plate's display division from the readings of a chunk.

        A controller that reports whole multiples of a division d (a 5 g
        scale) reads a level on a division boundary as +-d/2 in turn and one
        between boundaries as a constant: the noise measured while it is
        constant says nothing of the next level's flicker. Every reading
        differs from the plate's first by a whole multiple of d; the largest
        1-2-5 division that holds for all of them is d, and once enough
        readings differed the noise sd is floored at d/2.
        """
        # every 4th reading is plenty to learn from, at a quarter of the cost
        m = ok[::4] & np.isfinite(grams[::4])
        c, g = cell[::4][m], grams[::4][m]
        if c.size == 0:
            return
        if np.isnan(self._res_ref[c]).any():
            plates, first = np.unique(c, return_index=True)
            new = np.isnan(self._res_ref[plates])
            self._res_ref[plates[new]] = g[first[new]]
        d = g - self._res_ref[c]
        moved = (d != 0.0) & (self._res_k[c] >= 0)
        if not moved.any():
            return
        c, d = c[moved], d[moved]
        self._res_steps += np.bincount(c, minlength=self._n)
        # readings are float32: a whole multiple is one within its rounding
        tol = 2.5e-7 * (np.abs(g[moved]) + np.abs(self._res_ref[c])) + 1e-9
        off = ~_multiple(d, _DIVISIONS[self._res_k[c]], tol)
        for p in np.unique(c[off]):
            dp, tp = d[c == p], tol[c == p]
            k = int(self._res_k[p])
            while k >= 0 and not _multiple(dp, _DIVISIONS[k], tp).all():
                k -= 1
            self._res_k[p] = k
        q = self.resolution_g()
        floor2 = np.fmax(self.config.noise_floor_g ** 2, np.where(np.isfinite(q), (q / 2) ** 2, 0.0))
        self._floor2 = floor2
        self._r = np.maximum(self._r, floor2)
        # the division only shrinks: once it is known and half of it is below
        # the noise floor, or thousands of readings agreed on it, or there is
        # none, the plate is settled
        half = np.where(self._res_k >= 0, _DIVISIONS[np.maximum(self._res_k, 0)] / 2, 0.0)
        steps = self._res_steps
        self._res_open = (self._res_k >= 0) & ((steps < self.config.resolution_steps) | (
            (half > self.config.noise_floor_g) & (steps < _RESOLUTION_SETTLED)))

    def _update_noise(self, c: np.ndarray, inl: np.ndarray, v2_minus_p: np.ndarray,
                      D: np.ndarray) -> None:
        """EMA of ``v^2 - P`` (an unbiased estimate of R) over inlier innovations.

        Args:
            c: (m,) plates; inl: (m, L) inlier mask; v2_minus_p: (m, L) ``v^2 - P`` (g^2);
            D: (m, L) sample-interval estimates (s).

        Starts as a running mean (weight 1/k) and becomes an EMA with time
        constant ``noise_tau_s``; floored at ``noise_floor_g`` once per pass.
        """
        cfg = self.config
        dt = np.where(np.isfinite(D), D, 0.05)
        k = self._noise_n[c][:, None] + inl.cumsum(axis=1)
        a = np.fmax(dt / cfg.noise_tau_s, 1.0 / (k + 1.0))
        a = np.where(inl, np.minimum(np.maximum(a, 1e-4), 0.2), 0.0)  # (clip, fewer calls)
        r = ema_final(a, v2_minus_p, self._r[c])
        self._r[c] = np.maximum(r, self._floor2[c])
        self._noise_n[c] += inl.sum(axis=1)

    def _start_episode(self, c, t_start, base_x, base_var, t, z) -> None:
        self._state[c] = UNSTABLE
        self._ep_start[c] = t_start
        self._last_ep_start[c] = t_start
        self._base_x[c] = base_x
        self._base_var[c] = base_var
        self._n_out[c] = 0
        self._ep_peak[c] = -np.inf
        self._ep_prev[c] = z
        self._win.reset(c)
        self._win.push(c, t, z)

    # ------------------------------------------------------------ settling

    def _band(self, c: np.ndarray) -> np.ndarray:
        cfg = self.config
        return np.fmax(cfg.band_min_g, cfg.band_sigma * np.sqrt(self._r[c]))

    def _window_s(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(m,) settle window of plates ``c`` and how long a plate must have been
        buffering for it to count (s).

        The window is ``settle_s``, or ``settle_samples`` sample intervals on a
        slower plate, but at most ``settle_max_s``; when that cap binds, at
        least 2.2 intervals (three readings), and the buffering needed is 0.4
        intervals shorter than the window so that three readings two jittered
        intervals apart fill it.
        """
        cfg = self.config
        dt = np.where(np.isfinite(self._dt[c]), self._dt[c], 0.0)
        k = np.where(self._band(c) <= cfg.quiet_band_g, cfg.quiet_settle_samples, cfg.settle_samples)
        capped = k * dt > cfg.settle_max_s
        win = np.fmax(cfg.settle_s, np.where(capped, np.fmax(cfg.settle_max_s, 2.2 * dt), k * dt))
        return win, np.where(capped, np.fmax(cfg.settle_s, win - 0.4 * dt), win)

    def _calm(self, c: np.ndarray, t: np.ndarray, ws: WindowStats, band: np.ndarray,
              win_s: np.ndarray) -> np.ndarray:
        """Bool per plate: the last ``win_s`` of readings are full, flat and quiet."""
        cfg = self.config
        dt = np.where(np.isfinite(self._dt[c]), np.fmax(self._dt[c], 1e-3), np.inf)
        n_min = np.minimum(np.maximum(3.0, np.ceil(0.5 * win_s / dt)), cfg.window_samples // 2)
        var_max = self._r[c] * (1 + cfg.var_sigma * np.sqrt(2 / np.maximum(ws.n - 1, 1)))
        quiet = ((ws.var_res_g2 <= var_max) | (self._state[c] == INIT)
                 | (t - self._ep_start[c] >= cfg.relax_s))
        return (ws.covered & (ws.n >= n_min) & (ws.max_dev_g <= band) & quiet
                & (np.abs(ws.slope_g_per_s) * win_s <= cfg.slope_frac * band))

    def _settle(self, c: np.ndarray, t: np.ndarray, ws: WindowStats) -> None:
        """Plates ``c`` are stable again at times ``t``: record their changes."""
        cfg = self.config
        n = ws.n.astype(float)
        level = ws.mean_g
        init = (self._state[c] == INIT) & ~self._noise_known[c] & (n > 3)
        if init.any():
            self._r[c[init]] = np.maximum(ws.var_res_g2[init], self._floor2[c[init]])
        var_after = self._r[c] / n
        unstable = self._state[c] == UNSTABLE
        delta = level - self._base_x[c]
        # x2 on the new level: residual ringing and creep correlate its samples
        sd = np.sqrt(self._base_var[c] + 2.0 * var_after)
        big = np.abs(delta) >= np.fmax(cfg.part_min_g, cfg.part_sd * sd)
        for i in np.flatnonzero(unstable):
            ch = PlateChange(int(c[i]), float(self._ep_start[c[i]]), float(ws.t_first[i]),
                             float(t[i]), float(delta[i]), float(sd[i]),
                             float(self._base_var[c[i]]),
                             float(max(self._ep_peak[c[i]] - level[i], 0.0)))
            old = [k for k, p in enumerate(self._pending)
                   if p.cell == ch.cell and ch.t_start < self._hold_end(p)]
            if old:
                self._after_held(old, ch, 2.0 * float(var_after[i]))
            elif big[i]:
                self._pending.append(ch)
            elif cfg.keep_cancelled:
                self._cancelled.append(ShelfEvent(ch.t_start, ch.t_end, ch.t_settled, (ch.cell,),
                                                  (ch.delta_g,), (ch.sd_g,)))
        self._last_settle[c[unstable]] = t[unstable]
        self._state[c] = STABLE
        self._kf.reset(c, level, var_after, t)
        self._t_valid[c] = t
        self._gp[c], self._gn[c], self._n_out[c] = 0.0, 0.0, 0
        self._win.reset(c)

    def _hold_end(self, ch: PlateChange) -> float:
        """Until when (s) a further change of the plate joins ``ch`` (see :meth:`_hold_s`)."""
        hold = self._hold_s([ch])
        return self._hold_from([ch]) + hold if hold > 0 else -np.inf

    def _hold_from(self, group: list[PlateChange]) -> float:
        """When the hold of ``group`` began (s): its last settle, but for the
        odd hold (no whole number of items) its first part's settle. A change
        that no item explains waits ``odd_hold_s`` for the change that
        completes it (a resting hand lifting); later changes of its plate in
        that time are summed with it but do not restart the wait, or a
        misplaced put-back would be summed with every take from that plate
        until it was left alone for ``odd_hold_s`` (concession seed 10: a can
        put back on the iced-tea plate at 305 s, an 8 g wobble at 309.6 s and
        three takes at 313-316 s made one 10 s event)."""
        if self._odd(group):
            return min(q.t_settled for p in group for q in (p.parts or (p,)))
        return max(p.t_settled for p in group)

    def _odd(self, group: list[PlateChange]) -> bool:
        """``group`` is held as a change no whole number of items explains
        (``odd_hold_s``; cancelled parts are not: they wait ``press_hold_s``)."""
        total = sum(p.delta_g for p in group)
        if any(p.parts for p in group) and abs(total) < self.config.min_change_g:
            return False
        # loose test: only changes clearly unlike any whole number of items wait
        return not explains_whole_items_together(self.store, group, self.config, k=5.0, rel=0.03)

    def _after_held(self, idx: list[int], ch: PlateChange, var_after: float) -> None:
        """Plate ``ch.cell`` moved again while its changes ``_pending[idx]`` were
        still held: they are one interaction (a press and its release, a take
        with a hand still resting), replaced by their sum, or by nothing when
        the sum is too small."""
        cfg = self.config
        held = [self._pending[k] for k in idx]
        total = sum(p.delta_g for p in held) + ch.delta_g
        sd = float(np.sqrt(held[0].base_var_g2 + var_after))
        drop = set(idx)
        self._pending = [p for k, p in enumerate(self._pending) if k not in drop]
        parts = tuple(q for p in held for q in (p.parts or (p,))) + (ch,)
        big = [abs(q.delta_g) >= cfg.min_change_g for q in parts]
        opposite = min(q.delta_g for q in parts) < 0 < max(q.delta_g for q in parts)
        if abs(total) >= max(cfg.part_min_g, cfg.part_sd * sd) or (
                cfg.keep_cancelled and opposite and all(big)):
            self._pending.append(PlateChange(ch.cell, held[0].t_start, ch.t_end, ch.t_settled,
                                             total, sd, held[0].base_var_g2, ch.peak_g,
                                             parts=parts))

    # ------------------------------------------------------------ decisions

    def _busy_neighbours(self, ch: PlateChange) -> bool:
        nbrs = np.flatnonzero(self._nb[ch.cell])
        busy = (self._state[nbrs] == UNSTABLE) & (
            self._ep_start[nbrs] <= ch.t_end + self.config.merge_slack_s)
        return bool(busy.any())

    def _decide(self, final: bool) -> list[ShelfEvent]:
        done, self._cancelled = self._cancelled, []
        if not self._pending:
            return done
        pend = self._pending
        cfg = self.config
        busy = [self._busy_neighbours(p) for p in pend]
        blocked = [b and not final and self._now - p.t_settled < cfg.max_wait_s
                   for b, p in zip(busy, pend, strict=True)]
        events, keep = [], []
        for g in group_changes(self.store, self._nb, pend, cfg):
            group = [pend[i] for i in g]
            if any(blocked[i] for i in g) or (not final and self._held(group)):
                keep.extend(g)
                continue
            ev = self._make_event(group, any(busy[i] for i in g))
            if ev is not None:
                events.append(ev)
        self._pending = [pend[i] for i in sorted(keep)]
        return sorted(events + done, key=lambda e: e.t_final)

    def _held(self, group: list[PlateChange]) -> bool:
        """An increase, or a change that is no whole number of items, waits
        :meth:`_hold_s` after it settled, and longer while its plate, having
        moved again within that time, is still unsettled (up to ``max_hold_s``)."""
        hold = self._hold_s(group)
        t_set = max(p.t_settled for p in group)
        if hold <= 0 or self._now - t_set >= self.config.max_hold_s:
            return False
        t_from = self._hold_from(group)
        if self._now < t_from + hold:
            return True
        return any(self._state[p.cell] == UNSTABLE
                   and p.t_settled < self._ep_start[p.cell] < t_from + hold
                   for p in group)

    def _hold_s(self, group: list[PlateChange], cue: bool = True) -> float:
        """How long a change must stay calm before it is decided (s): only small
        changes wait (see ``WeightConfig.hold_max_g``); with ``cue``, a lean or
        press hold ends once vision saw the hands gone (:meth:`_cue_t`)."""
        total = sum(p.delta_g for p in group)
        if any(p.parts for p in group) and abs(total) < self.config.min_change_g:
            return self.config.press_hold_s  # cancelled parts (keep_cancelled): no lean/odd wait
        if self._odd(group):
            return self.config.odd_hold_s
        cfg = self.config
        if not 0 < total <= cfg.hold_max_g:
            return 0.0
        # a hand's tremor (~10 % of its force) fails the settle test unless the
        # force is small against the plate's noise: only then can a press pass
        # for a put-back, and the smaller it is the longer it can hide
        noise = max(float(np.sqrt(max(self._r[p.cell] for p in group))),
                    cfg.band_min_g / cfg.band_sigma)  # the band's noise: band / band_sigma
        if cue and self._cue_t(group) is not None:
            return 0.0  # vision saw the hands gone and the plate stayed put
        if total <= cfg.lean_snr * noise and not self._hand_left(group, total):
            return cfg.lean_hold_s
        return cfg.press_hold_s if total <= cfg.press_snr * noise else 0.0

    def _cue_t(self, group: list[PlateChange]) -> float | None:
        """When the vision cue (:meth:`hands_away`) proved every plate of ``group``
        free of hands after its change began (s), or None if it has not.

        Proof per plate: a cue at or after the start of the change's last part
        (a held change and later ones summed with it: a part that began after
        the cue is a hand back), its motion over by the cue + ``hand_reach_s``
        (a hand out of reach cannot touch the plate sooner), and the plate
        STABLE (no outlier or CUSUM build-up) in readings through the cue time
        plus ``confirm_samples + 2`` sample intervals. The cue is the earliest
        such moment of the latest unbroken run of cues (a caller that sends
        one every frame while nobody is near: no two more than
        ``hand_reach_s`` apart), so a run that goes on does not keep moving
        the readings it waits for."""
        cfg = self.config
        out = -np.inf
        for p in group:
            c = p.cell
            dt = self._dt[c]
            began = max(q.t_start for q in (p.parts or (p,)))  # a part after the cue: hand back
            away = max(self._away_first[c], began, p.t_end - cfg.hand_reach_s)
            if not (away <= self._away_t[c] and np.isfinite(dt)):
                return None  # (NaN compares False)
            ready = away + (cfg.confirm_samples + 2) * dt
            if (self._state[c] != STABLE or self._n_out[c] > 0 or self._last_t[c] < ready
                    or max(self._gp[c], self._gn[c]) >= cfg.cusum_h / 2):
                return None
            out = max(out, ready)
        return float(out)

    def _hand_left(self, group: list[PlateChange], total: float) -> bool:
        """The level was reached by falling from well above it: a force was
        taken off the plate, so the hand has left (a lean or press only rises
        to its level; a placed item overshoots by its ringing, < ``ring_frac``
        of the change)."""
        cfg = self.config
        if cfg.release_bands <= 0:
            return False
        for p in group:
            band = float(self._band(np.array([p.cell]))[0])
            if p.peak_g < cfg.release_bands * band + cfg.ring_frac * abs(total):
                return False
        return True

    def _make_event(self, changes: list[PlateChange], waited_out: bool) -> ShelfEvent | None:
        cfg = self.config
        cells = sorted({ch.cell for ch in changes})
        delta = [sum(ch.delta_g for ch in changes if ch.cell == c) for c in cells]
        sd = [float(np.sqrt(sum(ch.sd_g ** 2 for ch in changes if ch.cell == c))) for c in cells]
        total, total_sd = sum(delta), float(np.sqrt(sum(s * s for s in sd)))
        parts = tuple(EventPart(q.cell, q.t_start, q.t_end, q.delta_g, q.sd_g)
                      for ch in changes for q in ch.parts)
        if abs(total) < max(cfg.min_change_g, cfg.min_change_sd * total_sd) and not cfg.keep_cancelled:
            return None  # (kept: an item taken and another unit put back leaves a few grams)
        t0 = min(ch.t_start for ch in changes)
        t1 = max(ch.t_end for ch in changes)
        tf = max(ch.t_settled for ch in changes)
        nbrs = np.flatnonzero(self._nb[cells].any(axis=0))
        rel = ((self._last_ep_start[nbrs] <= t1 + cfg.merge_slack_s)
               & (self._last_settle[nbrs] >= t0) & (self._last_settle[nbrs] <= self._now))
        if rel.any():
            tf = max(tf, float(self._last_settle[nbrs][rel].max()))
        if waited_out:
            tf = max(tf, min(self._now, tf + cfg.max_wait_s))
        hold = self._hold_s(changes)
        if hold > 0:  # released after a calm hold (see _held)
            tf = max(tf, min(self._now, self._hold_from(changes) + hold))
        elif self._hold_s(changes, cue=False) > 0:  # released by the vision cue
            tf = max(tf, min(self._now, float(self._cue_t(changes))))
        return ShelfEvent(t_start=t0, t_end=t1, t_final=tf, cells=tuple(cells),
                          delta_g=tuple(float(d) for d in delta), sd_g=tuple(sd),
                          parts=tuple(sorted(parts, key=lambda q: q.t_start)))
