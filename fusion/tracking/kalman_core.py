"""Generic multi-target tracking core: Kalman tracks + assignment.

Knows nothing about floors, gates or shoppers: a measurement is a ``d``-vector
(``d = 2`` for floor xy in metres, ``d = 4`` for an image box ``cx, cy, w, h``
in pixels, ...) and each track is a :class:`filterpy.kalman.KalmanFilter` with
the state layout ``[p_0 .. p_{d-1}, v_0 .. v_{d-1}]`` (positions, then
velocities, in the measurement's unit and unit/s). The motion model is
constant velocity with white-noise acceleration, or, with
``CoreConfig.velocity_tau_s``, a damped velocity (integrated
Ornstein-Uhlenbeck, :func:`damped_terms`).

One call of :meth:`TrackCore.assign` takes the measurements of one sensor frame
at time ``t`` (s): it predicts every active track to ``t`` (vectorised; tracks
keep their own last-update time, so coasting uncertainty grows with the gap),
gates pairs by Mahalanobis distance, solves the assignment with
:func:`scipy.optimize.linear_sum_assignment` on the negative log-likelihood
``d_M^2 + ln|S|`` and updates the matched tracks. Unmatched measurements are
returned; the caller decides which of them start tentative tracks
(:meth:`TrackCore.birth`). :meth:`TrackCore.expire` retires tracks by time.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from filterpy.common import Q_discrete_white_noise
from filterpy.kalman import KalmanFilter
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp

log = logging.getLogger(__name__)

_BIG = 1e9


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreConfig:
    """Parameters of the Kalman/assignment core (units of the measurement, u).

    Attributes:
        dim: measurement dimension d (>= 1).
        meas_sd: measurement noise standard deviation per axis (u).
        accel_sd: white-noise acceleration standard deviation (u/s^2).
        init_speed_sd: prior speed standard deviation of a new track (u/s).
        gate_chi2: Mahalanobis gate (squared), e.g. 11.8 = 99.7 % for d = 2.
        max_gate: hard Euclidean gate on the predicted position (u).
        confirm_hits: cumulative hits that confirm a tentative track...
        confirm_ratio: ... if also at least this fraction of the frames that had
            a measurement within ``max_gate`` of it were hits. A track fed by a
            detector's occasional duplicates of a neighbour (or by scattered
            false detections) has a low ratio; a real person next to another
            one (a party member) is hit in most frames.
        tentative_timeout_s: a tentative track unseen this long is dropped (s).
        tentative_max_age_s: a track not confirmed this long after its birth is
            dropped (s): a chain of sparse false detections never confirms.
        coast_s: a confirmed track unseen this long stops coasting and is lost (s).
        max_coast_speed: cap of the velocity used while coasting (u/s), so a
            stale velocity does not carry a prediction away.
        reacquire_gap_s: a confirmed track unseen this long is *re-acquired*
            only by two consistent measurements (s): the first is held, and
            applied together with a second one that arrives within
            ``reacquire_window_s`` and is close enough (3 measurement sd plus
            ``max_coast_speed`` times the time between them). A lone false
            detection inside a coasting track's wide gate then cannot pull it.
        reacquire_window_s: see above (s).
        unmatched_cost: when set, the assignment may leave a track or a
            measurement unmatched, and a pair is matched only if its cost
            (``d_M^2 + ln|S|``, see :meth:`TrackCore.cost_matrix`) is below
            this: twice the log-likelihood ratio of "this measurement is that
            track's" against "the track was missed and the measurement is
            clutter or someone new", ``2 ln(P_D / ((1 - P_D) lambda)) - d ln(2 pi)``
            with detection probability ``P_D`` and clutter density ``lambda``
            (1/u^d). ``None``: as many pairs as the gates allow are matched
            (the classic forced assignment), so a track whose target was
            missed takes a neighbour's measurement if one is in its gate.
        velocity_tau_s: when set, the velocity is not constant but *damped*
            (an integrated Ornstein-Uhlenbeck process): between measurements
            it decays towards 0 with this time constant (s), and it wanders
            with stationary standard deviation ``speed_sd`` per axis. People
            in a shop stop, turn and browse; a coasting track then stays
            near where its person was last seen instead of running on with
            a stale velocity. ``None``: constant velocity with white-noise
            acceleration ``accel_sd`` (the classic model).
        speed_sd: stationary speed standard deviation per axis of the damped
            model (u/s); used only with ``velocity_tau_s``.
        stand_speed_sd: when set, each track runs two motion models at once
            (an interacting multiple model, IMM): the one above ("walking")
            and a "standing" damped velocity with this stationary speed sd
            per axis (u/s) and time constant ``stand_tau_s``; the models'
            probabilities follow how well each predicted the measurements,
            and a switch between them happens on average every
            ``mode_sojourn_s`` (s). A standing person's track then averages
            its detections instead of following each one's noise. ``None``:
            one model.
        stand_tau_s: see ``stand_speed_sd`` (s).
        mode_sojourn_s: see ``stand_speed_sd`` (s).
        robust_nis: when set, a confirmed track's update whose normalised
            innovation squared ``y' S^-1 y`` exceeds this is down-weighted:
            its measurement covariance is scaled by ``nis / robust_nis`` (a
            Huber-type robust Kalman update), so a stray or false measurement
            moves the track only part of the way; a real move is followed
            over the next few measurements. ``None``: plain updates.
    """

    dim: int = 2
    meas_sd: float = 0.12
    accel_sd: float = 2.0
    init_speed_sd: float = 1.0
    gate_chi2: float = 11.8
    max_gate: float = 1.5
    confirm_hits: int = 5
    confirm_ratio: float = 0.5
    tentative_timeout_s: float = 0.5
    tentative_max_age_s: float = 1.0
    coast_s: float = 1.0
    max_coast_speed: float = 2.0
    reacquire_gap_s: float = 0.3
    reacquire_window_s: float = 0.4
    unmatched_cost: float | None = None
    robust_nis: float | None = None
    velocity_tau_s: float | None = None
    speed_sd: float = 0.8
    stand_speed_sd: float | None = None
    stand_tau_s: float = 0.3
    mode_sojourn_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("meas_sd", "accel_sd", "init_speed_sd", "gate_chi2", "max_gate",
                     "tentative_timeout_s", "tentative_max_age_s", "coast_s", "max_coast_speed",
                     "reacquire_gap_s", "reacquire_window_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"CoreConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.confirm_ratio <= 1.0:
            raise ValueError(f"CoreConfig.confirm_ratio must be in [0, 1], got {self.confirm_ratio}")
        if self.velocity_tau_s is not None and not (self.velocity_tau_s > 0 and self.speed_sd > 0):
            raise ValueError("CoreConfig.velocity_tau_s and speed_sd must be > 0 "
                             f"(got {self.velocity_tau_s!r}, {self.speed_sd!r})")
        if self.stand_speed_sd is not None and not (
                self.stand_speed_sd > 0 and self.stand_tau_s > 0 and self.mode_sojourn_s > 0):
            raise ValueError("CoreConfig.stand_speed_sd, stand_tau_s and mode_sojourn_s must be > 0 "
                             f"(got {self.stand_speed_sd!r}, {self.stand_tau_s!r}, "
                             f"{self.mode_sojourn_s!r})")
        if self.dim < 1 or self.confirm_hits < 1:
            raise ValueError("CoreConfig.dim and confirm_hits must be >= 1")


class KalmanTrack:
    """One track: a KalmanFilter plus bookkeeping.

    Attributes:
        id: unique id within its :class:`TrackCore` (>= 1).
        kf: the filter; ``kf.x`` is (2d,) ``[positions, velocities]``, ``kf.P`` (2d, 2d).
        t_first: time of the first measurement (s).
        t_last: time of the last measurement, the time ``kf.x`` refers to (s).
        hits: cumulative number of measurements.
        frames: frames (since birth) with a measurement within the hard gate.
        confirmed: True once ``hits >= confirm_hits``.
        held: ``(t, z, r)`` of a measurement (with its noise variance per
            axis, or None for the default) waiting to re-acquire the track, or None.
        innovation: ``(y, v)`` of the last update: the measurement minus the
            predicted position (d,), and the predicted position variance
            (mean over the axes, u^2); None before the first update.
        data: free slot for the layer above (e.g. the floor tracker's state).
        modes: with two motion models (``CoreConfig.stand_speed_sd``), their
            states ``(x (M, 2d), P (M, 2d, 2d), mu (M,))`` at :attr:`t_last`
            (``kf.x``/``kf.P`` then hold their moment-matched mixture), else None.
        walk_only: with two motion models, True keeps the track on the walking
            model alone until it is set False again (the layer above decides,
            e.g. in a gate's queue, where people start walking from standing).
    """

    __slots__ = ("id", "kf", "t_first", "t_last", "hits", "frames", "confirmed", "held",
                 "innovation", "data", "modes", "walk_only")

    def __init__(self, track_id: int, kf: KalmanFilter, t: float):
        self.id = track_id
        self.kf = kf
        self.t_first = t
        self.t_last = t
        self.hits = 1
        self.frames = 1
        self.confirmed = False
        self.held: tuple[float, np.ndarray, float | None] | None = None
        self.innovation: tuple[np.ndarray, float] | None = None
        self.data: object = None
        self.modes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.walk_only = False

    @property
    def position(self) -> np.ndarray:
        """(d,) filtered position at :attr:`t_last`."""
        d = self.kf.dim_z
        return self.kf.x[:d]

    @property
    def velocity(self) -> np.ndarray:
        """(d,) filtered velocity at :attr:`t_last` (u/s)."""
        d = self.kf.dim_z
        return self.kf.x[d:]


def motion_matrices(dim: int, dt_s: float, accel_var: float, tau_s: float | None = None,
                    speed_var: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(F, Q), each (2d, 2d), for a step of ``dt_s`` in the layout [p.., v..]:
    constant velocity with white-noise acceleration of variance ``accel_var``,
    or with ``tau_s`` the damped velocity of stationary variance ``speed_var``
    (:func:`damped_terms`)."""
    f = np.eye(2 * dim)
    if tau_s is None:
        np.fill_diagonal(f[:dim, dim:], dt_s)
        return f, Q_discrete_white_noise(dim=2, dt=dt_s, var=accel_var, block_size=dim,
                                         order_by_dim=False)
    fp, fv, (qpp, qpv, qvv) = damped_terms(dt_s, tau_s, speed_var)
    np.fill_diagonal(f[:dim, dim:], fp)
    np.fill_diagonal(f[dim:, dim:], fv)
    q = np.zeros((2 * dim, 2 * dim))
    for block, v in ((q[:dim, :dim], qpp), (q[:dim, dim:], qpv), (q[dim:, :dim], qpv),
                     (q[dim:, dim:], qvv)):
        np.fill_diagonal(block, v)
    return f, q


def transition(dim: int, dt_s: float, tau_s: float | None = None) -> np.ndarray:
    """(2d, 2d) transition matrix F of :func:`motion_matrices`."""
    return motion_matrices(dim, dt_s, 0.0, tau_s, 0.0)[0]


def process_noise(dim: int, dt_s: float, accel_var: float, tau_s: float | None = None,
                  speed_var: float = 0.0) -> np.ndarray:
    """(2d, 2d) process noise Q of :func:`motion_matrices`."""
    return motion_matrices(dim, dt_s, accel_var, tau_s, speed_var)[1]


def damped_terms(dt, tau_s: float, speed_var: float):
    """Per-axis transition and noise of the integrated Ornstein-Uhlenbeck model.

    Velocity ``dv = -v / tau dt + sqrt(2 speed_var / tau) dW``, position
    ``dp = v dt``. With ``a = exp(-dt / tau)``: ``p' = p + tau (1 - a) v``,
    ``v' = a v``, and the exact discrete noise
    ``Q_vv = s (1 - a^2)``, ``Q_pv = s tau (1 - a)^2``,
    ``Q_pp = s tau^2 (2 dt / tau - 3 + 4 a - a^2)`` (``s = speed_var``).
    For ``dt << tau`` this is white-noise acceleration of spectral density
    ``2 s / tau``; for ``dt >> tau`` the position is a random walk.

    Args:
        dt: step (s), >= 0: a float (one track's update, computed with
            :mod:`math`, which is much faster than numpy on one value) or an
            (n,) array (a batch prediction).
        tau_s: velocity time constant (s).
        speed_var: stationary velocity variance per axis (u^2/s^2).

    Returns:
        (f_pv, f_vv, (q_pp, q_pv, q_vv)): floats, or each (n,).
    """
    if np.ndim(dt) == 0:
        x = float(dt) / tau_s
        a, om = math.exp(-x), -math.expm1(-x)  # om = 1 - a, exact for small x
        # 2x - 3 + 4a - a^2 = 2x - 2 om - om^2; its series below x = 1e-3 keeps precision
        qpp_unit = 2.0 * x**3 / 3.0 - x**4 / 2.0 if x < 1e-3 else 2.0 * x - 2.0 * om - om * om
    else:
        x = np.asarray(dt, dtype=float) / tau_s
        a, om = np.exp(-x), -np.expm1(-x)
        qpp_unit = np.where(x < 1e-3, 2.0 * x**3 / 3.0 - x**4 / 2.0, 2.0 * x - 2.0 * om - om * om)
    return (tau_s * om, a,
            # 1 - a^2 = om (1 + a): no cancellation, so the float and array branches agree
            (speed_var * tau_s**2 * qpp_unit, speed_var * tau_s * om * om, speed_var * om * (1.0 + a)))


def _propagate(x: np.ndarray, p: np.ndarray, fp: np.ndarray, fv: np.ndarray, qpp: np.ndarray,
               qpv: np.ndarray, qvv: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """One prediction step of states ``x`` (..., 2d) and covariances ``p``
    (..., 2d, 2d) with ``F = [[I, fp I], [0, fv I]]`` and the per-axis noise
    terms ``qpp, qpv, qvv`` (each shaped like ``x[..., 0]``), written out blockwise."""
    xp = x.copy()
    xp[..., :d] += x[..., d:] * fp[..., None]
    xp[..., d:] *= fv[..., None]
    pp = p.copy()
    a, b, c_, e = p[..., :d, :d], p[..., :d, d:], p[..., d:, :d], p[..., d:, d:]
    f1, f2 = fp[..., None, None], fv[..., None, None]
    pp[..., :d, :d] = a + f1 * (b + c_) + f1**2 * e
    pp[..., :d, d:] = f2 * (b + f1 * e)
    pp[..., d:, :d] = f2 * (c_ + f1 * e)
    pp[..., d:, d:] = f2**2 * e
    idx = np.arange(d)
    pp[..., idx, idx] += qpp[..., None]
    pp[..., idx, idx + d] += qpv[..., None]
    pp[..., idx + d, idx] += qpv[..., None]
    pp[..., idx + d, idx + d] += qvv[..., None]
    return xp, pp


def _mixture(xs: np.ndarray, ps: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Moment-matched mean (..., D) and covariance (..., D, D) of the Gaussians
    ``xs`` (..., M, D), ``ps`` (..., M, D, D) with weights ``w`` (..., M)."""
    x = np.einsum("...j,...jk->...k", w, xs)
    dx = xs - x[..., None, :]
    p = (np.einsum("...j,...jkl->...kl", w, ps)
         + np.einsum("...j,...jk,...jl->...kl", w, dx, dx))
    return x, p


#: weight of one update in the running mean of the NIS: a plain mean over the
#: first 1 / _NIS_ALPHA confirmed-track updates, then about the last that many
_NIS_ALPHA = 1e-3


class TrackCore:
    """A set of Kalman tracks updated frame by frame.

    Attributes:
        active: tracks currently matched against measurements.
        nis_mean: running mean of the normalised innovation squared ``y^T S^-1
            y`` of confirmed-track updates (expected ``d`` when ``meas_sd`` and
            ``accel_sd`` fit the data; larger when measurements are noisier or
            targets move more abruptly than modelled). ``d`` until the first
            confirmed update.

    Args:
        config: the core parameters.
    """

    def __init__(self, config: CoreConfig | None = None):
        self.config = config or CoreConfig()
        self.active: list[KalmanTrack] = []
        self.nis_mean = float(self.config.dim)
        self._nis_n = 0
        self._next_id = 1
        self.reconfigure(self.config)

    def reconfigure(self, config: CoreConfig) -> None:
        """Use ``config`` from now on (same ``dim``); tracks keep their state,
        and their own ``kf.R`` (used only for measurements given no variance)."""
        if config.dim != self.config.dim:
            raise ValueError(f"TrackCore.reconfigure: dim {config.dim} != {self.config.dim}")
        self.config = c = config
        d = c.dim
        self._h = np.hstack([np.eye(d), np.zeros((d, d))])
        self._r = np.eye(d) * c.meas_sd**2
        self._accel_var = c.accel_sd**2
        self._tau = c.velocity_tau_s
        self._speed_var = c.speed_sd**2
        self._imm = c.stand_speed_sd is not None
        self._stand_var = (c.stand_speed_sd or 0.0) ** 2

    # ------------------------------------------------------------- tracks
    def new_id(self) -> int:
        """Reserve and return a fresh track id."""
        self._next_id += 1
        return self._next_id - 1

    def birth(self, t: float, z: np.ndarray) -> KalmanTrack:
        """Start a tentative track at measurement ``z`` (d,) observed at ``t`` (s)."""
        c = self.config
        d = c.dim
        kf = KalmanFilter(dim_x=2 * d, dim_z=d)
        kf.x = np.concatenate([np.asarray(z, dtype=float), np.zeros(d)])
        kf.P = np.diag([c.meas_sd**2] * d + [c.init_speed_sd**2] * d)
        kf.F, kf.Q = motion_matrices(d, 0.0, self._accel_var, self._tau, self._speed_var)
        kf.H = self._h.copy()
        kf.R = self._r.copy()
        track = KalmanTrack(self.new_id(), kf, float(t))
        track.confirmed = c.confirm_hits <= 1
        if self._imm:
            track.modes = (np.stack([kf.x, kf.x]), np.stack([kf.P, kf.P]), np.array([0.5, 0.5]))
        self.active.append(track)
        return track

    def predicted(self, tracks: list[KalmanTrack], t: float) -> tuple[np.ndarray, np.ndarray]:
        """Predict tracks to ``t`` (s) without changing them.

        Returns:
            (x, P): (n, 2d) states and (n, 2d, 2d) covariances at ``t``.
        """
        if self._imm:
            return _mixture(*self._predict_modes(tracks, t))
        d = self.config.dim
        dt = np.maximum(np.array([t - tr.t_last for tr in tracks], dtype=float), 0.0)
        x = np.empty((len(tracks), 2 * d))
        p = np.empty((len(tracks), 2 * d, 2 * d))
        for i, tr in enumerate(tracks):
            x[i] = tr.kf.x
            p[i] = tr.kf.P
        self._cap(x)
        return _propagate(x, p, *self._terms(dt)[0], d)

    def _cap(self, x: np.ndarray) -> None:
        """Cap the velocities of states ``x`` (..., 2d) at ``max_coast_speed``, in place."""
        d = self.config.dim
        speed = np.sqrt(np.einsum("...i,...i->...", x[..., d:], x[..., d:]))
        cap = self.config.max_coast_speed
        x[..., d:] *= np.where(speed > cap, cap / np.maximum(speed, 1e-12), 1.0)[..., None]

    def _terms(self, dt: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """Per motion model, ``(fp, fv, qpp, qpv, qvv)`` for steps ``dt`` (n,)
        (see :func:`_propagate`): walking, then (IMM) standing."""
        if self._tau is None:  # constant velocity, discrete white-noise acceleration
            q = self._accel_var
            walk = (dt, np.ones_like(dt), q * dt**4 / 4, q * dt**3 / 2, q * dt**2)
        else:
            fp, fv, qs = damped_terms(dt, self._tau, self._speed_var)
            walk = (fp, fv, *qs)
        if not self._imm:
            return [walk]
        fp, fv, qs = damped_terms(dt, self.config.stand_tau_s, self._stand_var)
        return [walk, (fp, fv, *qs)]

    def _predict_modes(self, tracks: list[KalmanTrack], t: float
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """IMM mixing and prediction of the n ``tracks``' modes (``KalmanTrack.modes``)
        to ``t`` (s); tracks with ``walk_only`` keep all weight on walking.
        Returns the predicted modes ``x`` (n, M, 2d), ``P`` (n, M, 2d, 2d) and
        their prior probabilities (n, M)."""
        xs = np.stack([tr.modes[0] for tr in tracks])
        ps = np.stack([tr.modes[1] for tr in tracks])
        mu = np.stack([tr.modes[2] for tr in tracks])
        dt = np.maximum(np.array([t - tr.t_last for tr in tracks], dtype=float), 0.0)
        walk_only = np.array([tr.walk_only for tr in tracks])
        sw = np.where(walk_only, 0.0, -np.expm1(-dt / self.config.mode_sojourn_s))
        if walk_only.any():
            mu = np.where(walk_only[:, None], np.array([1.0, 0.0]), mu)
        pi = np.empty((len(dt), 2, 2))
        pi[:, 0, 0] = pi[:, 1, 1] = 1.0 - sw
        pi[:, 0, 1] = pi[:, 1, 0] = sw
        c = np.einsum("ni,nij->nj", mu, pi)
        w = mu[:, :, None] * pi / np.maximum(c[:, None, :], 1e-300)  # w[n, i, j] = P(i | j)
        x0 = np.einsum("nij,nik->njk", w, xs)
        dx = xs[:, :, None, :] - x0[:, None, :, :]
        p0 = np.einsum("nij,nikl->njkl", w, ps) + np.einsum("nij,nijk,nijl->njkl", w, dx, dx)
        if walk_only.any():  # no weight on standing: keep its state a copy of walking's
            x0[walk_only, 1] = x0[walk_only, 0]
            p0[walk_only, 1] = p0[walk_only, 0]
        self._cap(x0)
        terms = [np.stack(col, axis=1) for col in zip(*self._terms(dt), strict=True)]
        xp, pp = _propagate(x0, p0, *terms, self.config.dim)
        return xp, pp, c

    # --------------------------------------------------------- assignment
    def assign(self, t: float, z: np.ndarray, duplicate_radius: float = 0.0,
               real_llr: np.ndarray | None = None, meas_var: float | None = None
               ) -> tuple[list[tuple[int, KalmanTrack]], list[tuple[int, KalmanTrack]],
                          np.ndarray]:
        """Match measurements of one frame at ``t`` (s) to active tracks and update them.

        Confirmed tracks are matched first. Left-over measurements within
        ``duplicate_radius`` (u) of a confirmed track matched in this frame are
        duplicates of it (a detector firing twice on one target). Tentative
        tracks only get what is left after that, so a young (possibly false)
        track can neither steal an established one's measurements nor feed on
        its duplicates.

        Args:
            t: frame time (s).
            z: (m, d) measurements.
            duplicate_radius: see above (u); 0 disables duplicate detection.
            real_llr: (m,) per measurement, twice the log of how much likelier
                its detector score is for a real target than for clutter; added
                to ``unmatched_cost`` for that measurement (a low score must sit
                closer to a track to be matched); used only when
                ``unmatched_cost`` is set. ``None``: all 0.
            meas_var: measurement noise variance per axis of this frame's
                measurements (u^2), e.g. its camera's; ``None``: ``meas_sd``^2.

        Returns:
            (matches, duplicates, unmatched): lists of (measurement index,
            track) that updated a track / are duplicates, and (k,) int indices
            of measurements left over. A measurement held to re-acquire a
            coasting track (see ``CoreConfig.reacquire_gap_s``) is in none.
        """
        z = np.asarray(z, dtype=float).reshape(-1, self.config.dim)
        free = np.arange(len(z))
        self._count_frames(t, z)
        matches: list[tuple[int, KalmanTrack]] = []
        dups: list[tuple[int, KalmanTrack]] = []
        dt_cache: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        for confirmed in (True, False):
            tracks = [tr for tr in self.active if tr.confirmed is confirmed]
            if not tracks or not len(free):
                continue
            cost = self.cost_matrix(tracks, t, z[free], meas_var)
            rows, cols = self._solve(cost, None if real_llr is None else real_llr[free])
            ok = cost[rows, cols] < _BIG
            new = [(int(free[j]), tracks[i]) for i, j in zip(rows[ok], cols[ok], strict=True)]
            keep = np.ones(len(free), dtype=bool)
            keep[cols[ok]] = False
            free = free[keep]
            new = [(j, tr) for j, tr in new if not self._hold(tr, t, z[j], dt_cache, meas_var)]
            if self._imm:  # the frame's matched tracks in one batch
                if new:
                    self._update_modes([tr for _, tr in new], t, z[[j for j, _ in new]], meas_var)
            else:
                for j, tr in new:
                    self.update(tr, t, z[j], dt_cache, meas_var)
            matches += new
            if confirmed and new and duplicate_radius > 0 and len(free):
                free = self._split_duplicates(z, free, new, duplicate_radius, dups)
        return matches, dups, free

    def _solve(self, cost: np.ndarray, real_llr: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices of the minimum-cost matching of ``cost`` (n, m).

        With ``unmatched_cost`` set, the matrix is padded so that each track
        and each measurement may stay unmatched, at half that cost each."""
        u = self.config.unmatched_cost
        if u is None:
            return linear_sum_assignment(cost)
        n, m = cost.shape
        pad = np.full((n + m, m + n), _BIG)
        pad[:n, :m] = cost
        pad[np.arange(n), m + np.arange(n)] = 0.5 * u
        pad[n + np.arange(m), np.arange(m)] = 0.5 * u + (0.0 if real_llr is None else real_llr)
        pad[n:, m:] = 0.0
        rows, cols = linear_sum_assignment(pad)
        keep = (rows < n) & (cols < m)
        return rows[keep], cols[keep]

    def _count_frames(self, t: float, z: np.ndarray) -> None:
        """Count, per tentative track, this frame if it saw the track's area."""
        tent = [tr for tr in self.active if not tr.confirmed]
        if not tent or not len(z):
            return
        d = self.config.dim
        xp, _ = self.predicted(tent, t)
        dist2 = ((z[None, :, :] - xp[:, None, :d]) ** 2).sum(-1)
        for tr, near in zip(tent, (dist2 <= self.config.max_gate**2).any(axis=1), strict=True):
            tr.frames += bool(near)

    def _hold(self, tr: KalmanTrack, t: float, z: np.ndarray,
              dt_cache: dict[float, tuple[np.ndarray, np.ndarray]],
              meas_var: float | None = None) -> bool:
        """True when ``z`` is held back (first measurement after a long gap)."""
        c = self.config
        if not tr.confirmed or t - tr.t_last <= c.reacquire_gap_s:
            tr.held = None
            return False
        h = tr.held
        if h is not None and 0.0 < t - h[0] <= c.reacquire_window_s:
            reach = 3.0 * c.meas_sd * np.sqrt(2.0) + c.max_coast_speed * (t - h[0])
            if float(np.sqrt(np.sum((z - h[1]) ** 2))) <= reach:
                tr.held = None
                self.update(tr, h[0], h[1], dt_cache, h[2])
                return False
        tr.held = (t, np.array(z, dtype=float), meas_var)
        return True

    @staticmethod
    def _split_duplicates(z: np.ndarray, free: np.ndarray, matched: list[tuple[int, KalmanTrack]],
                          radius: float, dups: list[tuple[int, KalmanTrack]]) -> np.ndarray:
        d = len(z[0])
        pos = np.array([tr.kf.x[:d] for _, tr in matched])
        dist = np.sqrt(((z[free][:, None, :] - pos[None, :, :]) ** 2).sum(-1))
        near = dist.argmin(axis=1)
        is_dup = dist[np.arange(len(free)), near] < radius
        dups += [(int(free[k]), matched[near[k]][1]) for k in np.flatnonzero(is_dup)]
        return free[~is_dup]

    def cost_matrix(self, tracks: list[KalmanTrack], t: float, z: np.ndarray,
                    meas_var: float | None = None) -> np.ndarray:
        """(n, m) assignment cost ``d_M^2 + ln|S|``; gated-out pairs get a huge cost.
        ``meas_var``: the measurements' noise variance per axis (u^2); ``None``:
        ``meas_sd``^2."""
        c = self.config
        d = c.dim
        r = self._r if meas_var is None else np.eye(d) * meas_var
        if self._imm:
            return self._cost_modes(tracks, t, z, r)
        xp, pp = self.predicted(tracks, t)
        s = pp[:, :d, :d] + r  # (n, d, d) innovation covariance
        s_inv = np.linalg.inv(s)
        resid = z[None, :, :] - xp[:, None, :d]  # (n, m, d)
        maha = np.einsum("nmi,nij,nmj->nm", resid, s_inv, resid)
        logdet = np.linalg.slogdet(s)[1]
        dist2 = np.einsum("nmi,nmi->nm", resid, resid)
        cost = maha + logdet[:, None]
        cost[(maha > c.gate_chi2) | (dist2 > c.max_gate**2)] = _BIG
        return cost

    def _cost_modes(self, tracks: list[KalmanTrack], t: float, z: np.ndarray, r: np.ndarray
                    ) -> np.ndarray:
        """:meth:`cost_matrix` with two motion models: ``-2 ln`` of the
        mode-weighted mixture of the models' likelihoods (``d_M^2 + ln|S|``
        per model); a pair is gated out only when no model admits it."""
        d = self.config.dim
        xp, pp, c = self._predict_modes(tracks, t)
        s = pp[:, :, :d, :d] + r  # (n, M, d, d)
        s_inv = np.linalg.inv(s)
        resid = z[None, None, :, :] - xp[:, :, None, :d]  # (n, M, m, d)
        maha = np.einsum("nkmi,nkij,nkmj->nkm", resid, s_inv, resid)
        logdet = np.linalg.slogdet(s)[1]
        ll = np.log(np.maximum(c, 1e-300))[:, :, None] - 0.5 * (maha + logdet[:, :, None])
        cost = -2.0 * logsumexp(ll, axis=1)
        xc = np.einsum("nk,nki->ni", c, xp[:, :, :d])
        dist2 = ((z[None, :, :] - xc[:, None, :]) ** 2).sum(-1)
        cost[(maha.min(axis=1) > self.config.gate_chi2) | (dist2 > self.config.max_gate**2)] = _BIG
        return cost

    def update(self, tr: KalmanTrack, t: float, z: np.ndarray,
               dt_cache: dict[float, tuple[np.ndarray, np.ndarray]] | None = None,
               meas_var: float | None = None) -> None:
        """Predict ``tr`` to ``t`` (s) and update it with measurement ``z`` (d,)
        of noise variance ``meas_var`` per axis (u^2; ``None``: the track's ``kf.R``)."""
        if self._imm:
            self._update_modes([tr], t, np.asarray(z, dtype=float)[None], meas_var)
            return
        dt = max(t - tr.t_last, 0.0)
        cache = dt_cache if dt_cache is not None else {}
        fq = cache.get(dt)
        if fq is None:
            fq = motion_matrices(self.config.dim, dt, self._accel_var, self._tau, self._speed_var)
            cache[dt] = fq
        self._cap_speed(tr)
        tr.kf.predict(F=fq[0], Q=fq[1])
        d = self.config.dim
        r = tr.kf.R if meas_var is None else np.eye(d) * meas_var
        tr.innovation = (np.asarray(z, dtype=float) - tr.kf.x[:d],
                         float(np.trace(tr.kf.P[:d, :d])) / d)
        if tr.confirmed:
            nis = self._nis(tr, z, r)
            k = self.config.robust_nis
            tr.kf.update(z, R=r * (nis / k) if k is not None and nis > k else r)
            self._nis_n += 1
            self.nis_mean += max(1.0 / self._nis_n, _NIS_ALPHA) * (nis - self.nis_mean)
        else:
            tr.kf.update(z, R=r)
        self._count_hit(tr, t)

    def _count_hit(self, tr: KalmanTrack, t: float) -> None:
        tr.t_last = max(tr.t_last, t)
        tr.hits += 1
        c = self.config
        if (not tr.confirmed and tr.hits >= c.confirm_hits
                and tr.hits >= c.confirm_ratio * tr.frames):
            tr.confirmed = True

    def _update_modes(self, trs: list[KalmanTrack], t: float, zs: np.ndarray,
                      meas_var: float | None) -> None:
        """IMM update of tracks ``trs`` with their measurements ``zs`` (n, d) at
        ``t`` (s), all at once (see ``CoreConfig.stand_speed_sd``)."""
        d = self.config.dim
        n = len(trs)
        zs = np.asarray(zs, dtype=float).reshape(n, d)
        xp, pp, c = self._predict_modes(trs, t)
        xc, pc = _mixture(xp, pp, c)
        r = self._r if meas_var is None else np.eye(d) * meas_var
        y = zs - xc[:, :d]
        rn = np.broadcast_to(r, (n, d, d))
        confirmed = np.array([tr.confirmed for tr in trs])
        if confirmed.any():
            nis = np.einsum("ni,nij,nj->n", y, np.linalg.inv(pc[:, :d, :d] + r), y)
            k = self.config.robust_nis
            if k is not None:
                rn = rn * np.where(confirmed & (nis > k), nis / k, 1.0)[:, None, None]
            for v in nis[confirmed].tolist():
                self._nis_n += 1
                self.nis_mean += max(1.0 / self._nis_n, _NIS_ALPHA) * (v - self.nis_mean)
        s_ = pp[:, :, :d, :d] + rn[:, None]  # (n, M, d, d)
        s_inv = np.linalg.inv(s_)
        yj = zs[:, None, :] - xp[:, :, :d]
        gain = pp[:, :, :, :d] @ s_inv  # (n, M, 2d, d)
        xp = xp + np.einsum("nmij,nmj->nmi", gain, yj)
        ikh = -np.concatenate([gain, np.zeros_like(gain)], axis=-1)  # I - K H, H = [I 0]
        ikh += np.eye(2 * d)
        pp = ikh @ pp @ np.swapaxes(ikh, -1, -2) + gain @ rn[:, None] @ np.swapaxes(gain, -1, -2)
        loglik = -0.5 * (np.einsum("nmi,nmij,nmj->nm", yj, s_inv, yj) + np.linalg.slogdet(s_)[1])
        w = c * np.exp(loglik - loglik.max(axis=1, keepdims=True))
        mu = w / w.sum(axis=1, keepdims=True)
        xm, pm = _mixture(xp, pp, mu)
        for i, tr in enumerate(trs):
            tr.innovation = (y[i], float(np.trace(pc[i, :d, :d])) / d)
            tr.modes = (xp[i], pp[i], mu[i])
            tr.kf.x, tr.kf.P = xm[i], pm[i]
            self._count_hit(tr, t)

    def _nis(self, tr: KalmanTrack, z: np.ndarray, r: np.ndarray | None = None) -> float:
        """Normalised innovation squared of ``z`` against predicted ``tr``
        (with noise ``r``, by default the track's own ``R``: a caller may set it per track)."""
        d = self.config.dim
        y = np.asarray(z, dtype=float) - tr.kf.x[:d]
        return float(y @ np.linalg.solve(tr.kf.P[:d, :d] + (tr.kf.R if r is None else r), y))

    def _cap_speed(self, tr: KalmanTrack) -> None:
        d = self.config.dim
        v = tr.kf.x[d:]
        speed = float(np.sqrt(v @ v))
        if speed > self.config.max_coast_speed:
            tr.kf.x[d:] = v * (self.config.max_coast_speed / speed)

    # ------------------------------------------------------------ expiry
    def expire(self, t: float) -> tuple[list[KalmanTrack], list[KalmanTrack]]:
        """Retire tracks unseen for too long at time ``t`` (s).

        Returns:
            (lost, dropped): confirmed tracks unseen for ``coast_s`` and
            tentative tracks unseen for ``tentative_timeout_s`` or older than
            ``tentative_max_age_s``; both are removed from :attr:`active`.
        """
        c = self.config
        lost: list[KalmanTrack] = []
        dropped: list[KalmanTrack] = []
        keep: list[KalmanTrack] = []
        for tr in self.active:
            age = t - tr.t_last
            if tr.confirmed and age > c.coast_s:
                lost.append(tr)
            elif not tr.confirmed and (age > c.tentative_timeout_s
                                       or t - tr.t_first > c.tentative_max_age_s):
                dropped.append(tr)
            else:
                keep.append(tr)
        self.active = keep
        return lost, dropped

    def remove(self, tr: KalmanTrack) -> None:
        """Remove ``tr`` from the active set (no-op if absent)."""
        try:
            self.active.remove(tr)
        except ValueError:
            pass

    def revive(self, tr: KalmanTrack) -> None:
        """Put a lost track back into the active set."""
        if tr not in self.active:
            self.active.append(tr)
