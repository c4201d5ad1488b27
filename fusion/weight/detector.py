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

Samples are processed in *rows*: row k holds the k-th sample of every cell
present in the chunk, so each row is one vectorised step over cells (cells are
independent; only the merge step at the end of a chunk looks across them).
"""

from __future__ import annotations

import logging

import numpy as np

from fusion.types import SampleFlag, ShelfEvent, Store

from .config import WeightConfig
from .kalman import LevelKalman
from .merge import PlateChange, explains_whole_items, group_changes, neighbour_matrix
from .window import SettleWindow, WindowStats

logger = logging.getLogger(__name__)

INIT, STABLE, UNSTABLE = 0, 1, 2
_BAD_FLAGS = int(SampleFlag.OVERLOAD | SampleFlag.UNDERLOAD | SampleFlag.ERROR | SampleFlag.GAP)
_FIELDS = ("t", "cell", "grams", "flags")
_MAX_ABS_T_S = 1e10  # a store clock beyond ~300 years is garbage: such rows are dropped
_MAX_ABS_G = 1e8  # a reading beyond 100 t is no reading: treated as a gap


def chunk_rows(t: np.ndarray, cell: np.ndarray) -> list[np.ndarray]:
    """Split a chunk into rows: row k = indices of each cell's k-th sample (time order)."""
    order = np.lexsort((t, cell))
    cs = cell[order]
    first = np.r_[0, np.flatnonzero(np.diff(cs)) + 1]
    counts = np.diff(np.r_[first, cs.size])
    rank = np.arange(cs.size) - np.repeat(first, counts)
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(rank))]
    flat = order[by_rank]
    return [flat[bounds[k]:bounds[k + 1]] for k in range(bounds.size - 1)]


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
        self._win = SettleWindow(n, cfg.window_samples)
        self._last_ep_start, self._last_settle = f(), f()
        self._pending: list[PlateChange] = []
        self._nb = neighbour_matrix(store, cfg)
        self._now = -np.inf

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
        for row in chunk_rows(t, cell):
            self._row(cell[row], t[row], grams[row], ok[row])
        return self._decide(final=False)

    def flush(self) -> list[ShelfEvent]:
        """End of stream: settle plates whose last samples are quiet, decide everything."""
        c = np.flatnonzero((self._state != STABLE) & (self._win.i >= 2))
        if c.size:
            t = self._win.t_last[c]
            band = self._band(c)
            win_s = self._window_s(c)
            ws = self._win.stats(c, t, win_s, band)
            ok = ((ws.n >= 2) & (ws.max_dev_g <= band)
                  & (t - self._win.t_reset[c] >= win_s / 2))
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

    def levels_g(self) -> np.ndarray:
        """(n_cells,) current settled level per plate (g); NaN while unknown."""
        return np.where(self._state == STABLE, self._kf.x,
                        np.where(self._state == UNSTABLE, self._base_x, np.nan))

    def noise_g(self) -> np.ndarray:
        """(n_cells,) current noise standard deviation estimate per plate (g)."""
        return np.sqrt(self._r)

    # ------------------------------------------------------------ per row

    def _row(self, c: np.ndarray, t: np.ndarray, z: np.ndarray, ok: np.ndarray) -> None:
        self._track_rate(c, t)
        st = self._state[c]
        s = ok & (st == STABLE)
        if s.any():
            self._stable(c[s], t[s], z[s])
        u = ok & (st != STABLE)
        if u.any():
            self._settling(c[u], t[u], z[u])

    def _track_rate(self, c: np.ndarray, t: np.ndarray) -> None:
        """Running estimate of each cell's sample interval from its timestamps."""
        dt = t - self._last_t[c]
        d = self._dt[c]
        good = np.isfinite(dt) & (dt > 0)
        alpha = np.where(np.isfinite(d) & (dt >= 1.5 * d), 0.005, 0.05)
        new = np.where(np.isfinite(d), d + alpha * (dt - d), dt)
        self._dt[c] = np.where(good, new, d)
        self._last_t[c] = np.fmax(self._last_t[c], t)

    def _stable(self, c: np.ndarray, t: np.ndarray, z: np.ndarray) -> None:
        cfg, kf = self.config, self._kf
        r = self._r[c]
        P = kf.predict(c, t, cfg.drift_per_sqrt_s ** 2 * r)
        v, S = kf.innovation(c, z, r)
        nu = v / np.sqrt(S)
        out = np.abs(nu) > cfg.gate_sigma
        tv = self._t_valid[c]
        gap = (t - tv) > 3.0 * np.fmax(self._dt[c], 1e-3)
        t_left = np.where(gap, tv, t)  # after a gap the change happened during it
        self._t_out[c] = np.where(out & (self._n_out[c] == 0), t_left, self._t_out[c])
        n_out = np.where(out, self._n_out[c] + 1, 0)
        self._n_out[c] = n_out
        inl = ~out
        gp0, gn0 = self._gp[c], self._gn[c]
        zero = (gp0 == 0) & (gn0 == 0) & inl
        self._anc_x[c] = np.where(zero, kf.x[c], self._anc_x[c])
        self._anc_P[c] = np.where(zero, P, self._anc_P[c])
        self._anc_t[c] = np.where(zero, t_left, self._anc_t[c])
        k = cfg.cusum_k
        gp = np.where(inl, np.maximum(0.0, gp0 + nu - k), gp0)
        gn = np.where(inl, np.maximum(0.0, gn0 - nu - k), gn0)
        ci = c[inl]
        kf.update(ci, z[inl], r[inl])
        self._update_noise(ci, v[inl], P[inl])
        self._t_valid[c] = t
        by_out = n_out >= cfg.confirm_samples
        trig = by_out | (gp > cfg.cusum_h) | (gn > cfg.cusum_h)
        self._gp[c] = np.where(trig, 0.0, gp)
        self._gn[c] = np.where(trig, 0.0, gn)
        if trig.any():
            base_x = np.where(by_out, kf.x[c], self._anc_x[c])
            base_var = np.where(by_out, kf.P[c], self._anc_P[c])
            t0 = np.where(by_out, self._t_out[c], self._anc_t[c])
            self._start_episode(c[trig], t0[trig], base_x[trig], base_var[trig],
                                t[trig], z[trig])

    def _update_noise(self, c: np.ndarray, v: np.ndarray, P_prior: np.ndarray) -> None:
        """EMA of ``v^2 - P`` (an unbiased estimate of R) over inlier innovations.

        Starts as a running mean (weight 1/k) and becomes an EMA with time
        constant ``noise_tau_s``.
        """
        cfg = self.config
        dt = np.where(np.isfinite(self._dt[c]), self._dt[c], 0.05)
        k = self._noise_n[c] + 1.0
        self._noise_n[c] = k
        a = np.clip(np.fmax(dt / cfg.noise_tau_s, 1.0 / (k + 1.0)), 1e-4, 0.2)
        r = self._r[c]
        self._r[c] = np.maximum(r + a * (v * v - P_prior - r), cfg.noise_floor_g ** 2)

    def _start_episode(self, c, t_start, base_x, base_var, t, z) -> None:
        self._state[c] = UNSTABLE
        self._ep_start[c] = t_start
        self._last_ep_start[c] = t_start
        self._base_x[c] = base_x
        self._base_var[c] = base_var
        self._n_out[c] = 0
        self._win.reset(c)
        self._win.push(c, t, z)

    # ------------------------------------------------------------ settling

    def _band(self, c: np.ndarray) -> np.ndarray:
        cfg = self.config
        return np.fmax(cfg.band_min_g, cfg.band_sigma * np.sqrt(self._r[c]))

    def _settling(self, c: np.ndarray, t: np.ndarray, z: np.ndarray) -> None:
        self._win.push(c, t, z)
        band = self._band(c)
        win_s = self._window_s(c)
        ws = self._win.stats(c, t, win_s, band)
        learn = (self._state[c] == INIT) & ~self._noise_known[c]
        if learn.any():  # first level of a plate of unknown noise: trust its own scatter
            band = np.where(learn, np.fmax(band, self.config.band_sigma
                                           * np.sqrt(ws.var_res_g2)), band)
        done = self._calm(c, t, ws, band, win_s)
        if done.any():
            self._settle(c[done], t[done], ws.subset(done))

    def _window_s(self, c: np.ndarray) -> np.ndarray:
        """(m,) settle window of plates ``c``: settle_s, or settle_samples intervals (s)."""
        cfg = self.config
        dt = np.where(np.isfinite(self._dt[c]), self._dt[c], 0.0)
        return np.fmax(cfg.settle_s, np.minimum(cfg.settle_samples * dt, 4 * cfg.settle_s))

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
            self._r[c[init]] = np.maximum(ws.var_res_g2[init], cfg.noise_floor_g ** 2)
        var_after = self._r[c] / n
        unstable = self._state[c] == UNSTABLE
        delta = level - self._base_x[c]
        # x2 on the new level: residual ringing and creep correlate its samples
        sd = np.sqrt(self._base_var[c] + 2.0 * var_after)
        big = np.abs(delta) >= np.fmax(cfg.part_min_g, cfg.part_sd * sd)
        for i in np.flatnonzero(unstable):
            ch = PlateChange(int(c[i]), float(self._ep_start[c[i]]), float(ws.t_first[i]),
                             float(t[i]), float(delta[i]), float(sd[i]),
                             float(self._base_var[c[i]]))
            old = [k for k, p in enumerate(self._pending)
                   if p.cell == ch.cell and ch.t_start < self._hold_end(p)]
            if old:
                self._after_held(old, ch, 2.0 * float(var_after[i]))
            elif big[i]:
                self._pending.append(ch)
        self._last_settle[c[unstable]] = t[unstable]
        self._state[c] = STABLE
        self._kf.reset(c, level, var_after, t)
        self._t_valid[c] = t
        self._gp[c], self._gn[c], self._n_out[c] = 0.0, 0.0, 0
        self._win.reset(c)

    def _hold_end(self, ch: PlateChange) -> float:
        """Until when (s) a further change of the plate joins ``ch`` (see :meth:`_hold_s`)."""
        hold = self._hold_s([ch])
        return ch.t_settled + hold if hold > 0 else -np.inf

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
        if abs(total) >= max(cfg.part_min_g, cfg.part_sd * sd):
            self._pending.append(PlateChange(ch.cell, held[0].t_start, ch.t_end, ch.t_settled,
                                             total, sd, held[0].base_var_g2))

    # ------------------------------------------------------------ decisions

    def _busy_neighbours(self, ch: PlateChange) -> bool:
        nbrs = np.flatnonzero(self._nb[ch.cell])
        busy = (self._state[nbrs] == UNSTABLE) & (
            self._ep_start[nbrs] <= ch.t_end + self.config.merge_slack_s)
        return bool(busy.any())

    def _decide(self, final: bool) -> list[ShelfEvent]:
        if not self._pending:
            return []
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
        return sorted(events, key=lambda e: e.t_final)

    def _held(self, group: list[PlateChange]) -> bool:
        """An increase, or a change that is no whole number of items, waits
        :meth:`_hold_s` after it settled, and longer while its plate, having
        moved again within that time, is still unsettled (up to ``max_hold_s``)."""
        hold = self._hold_s(group)
        t_set = max(p.t_settled for p in group)
        if hold <= 0 or self._now - t_set >= self.config.max_hold_s:
            return False
        if self._now < t_set + hold:
            return True
        return any(self._state[p.cell] == UNSTABLE
                   and p.t_settled < self._ep_start[p.cell] < p.t_settled + hold
                   for p in group)

    def _hold_s(self, group: list[PlateChange]) -> float:
        """How long a change must stay calm before it is decided (s): only small
        changes wait (see ``WeightConfig.hold_max_g``)."""
        total = sum(p.delta_g for p in group)
        sd = float(np.sqrt(sum(p.sd_g ** 2 for p in group)))
        # loose test: only changes clearly unlike any whole number of items wait
        whole = any(explains_whole_items(self.store, PlateChange(p.cell, 0, 0, 0, total, sd),
                                         self.config, k=5.0, rel=0.03) for p in group)
        if not whole:
            return self.config.odd_hold_s
        small_rise = 0 < total <= self.config.hold_max_g
        return self.config.press_hold_s if small_rise else 0.0

    def _make_event(self, changes: list[PlateChange], waited_out: bool) -> ShelfEvent | None:
        cfg = self.config
        cells = sorted({ch.cell for ch in changes})
        delta = [sum(ch.delta_g for ch in changes if ch.cell == c) for c in cells]
        sd = [float(np.sqrt(sum(ch.sd_g ** 2 for ch in changes if ch.cell == c))) for c in cells]
        total, total_sd = sum(delta), float(np.sqrt(sum(s * s for s in sd)))
        if abs(total) < max(cfg.min_change_g, cfg.min_change_sd * total_sd):
            return None
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
            tf = max(tf, min(self._now, tf + hold))
        return ShelfEvent(t_start=t0, t_end=t1, t_final=tf, cells=tuple(cells),
                          delta_g=tuple(float(d) for d in delta), sd_g=tuple(sd))
