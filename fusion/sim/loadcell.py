"""Physics of one weighed plate: a load cell behind an ADC such as the HX711.

The model turns a *true-load timeline* (items placed/lifted, hands pressing)
into the samples a controller would report: jittered timestamps with gaps,
calibrated gross grams with noise, thermal drift, creep, ringing, rare spikes
and rare invalid readings (NaN). The store simulator uses exactly these
functions for every plate, and hardware emulators can use them to make test
signals::

    model = LoadCellModel(sample_hz=80.0)
    timeline = LoadTimeline.build(4224.0, steps=[(10.0, 0.4, -352.0)],
                                  presses=[(20.0, 22.5, 450.0)])
    rng = np.random.default_rng(1)
    t_s = sample_times(model, 0.0, 60.0, rng)
    grams = sample_signal(model, timeline, t_s, rng)

Everything is a closed-form function of time plus independent random draws,
so a long signal can be generated in independent time blocks. Parameter
sources are in ``docs/simulator.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fusion.types import readonly

#: Noise of the HX711 grows from 50 nV rms at 10 SPS to 90 nV rms at 80 SPS
#: (datasheet); 90/50 = 8**0.283, so noise ~ (rate / 10 Hz) ** 0.283.
HX711_NOISE_EXPONENT = float(np.log(90.0 / 50.0) / np.log(8.0))


@dataclass(frozen=True, slots=True)
class LoadCellModel:
    """Parameters of one plate's load cell and ADC channel.

    Attributes:
        sample_hz: nominal output data rate (Hz), e.g. 10 or 80 for an HX711.
        rate_error: relative error of the ADC clock (0.01 = 1 % fast).
        phase_s: time of the first sample after t = 0 (s), in [0, 1/sample_hz).
        jitter_s: standard deviation of timestamp jitter (s); clipped to
            0.3 sample periods so one cell's samples stay in order.
        noise_g_10hz: white-noise standard deviation at 10 SPS (g).
        noise_exponent: noise scales as (sample_hz / 10) ** noise_exponent.
        zero_offset_g: constant calibration/tare residual (g).
        gain_error: relative span (calibration) error (0.001 = 0.1 %).
        drift_g: amplitude of slow thermal zero drift (g).
        drift_period_s: main period of that drift (s).
        drift_phase: phase of the drift (rad).
        creep_fraction: creep after a load change, as a fraction of the change
            (same sign as the change; 3e-4 = 0.03 %).
        creep_tau_s: time constant of the creep tail (s).
        ring_fraction: initial amplitude of the ringing after a place, lift or
            hand release, as a fraction of the change.
        ring_hz: ringing frequency (Hz).
        ring_tau_s: ringing decay time constant (s).
        spike_p: probability that a sample is a single-sample spike.
        spike_g: typical spike magnitude (g, exponential, random sign).
        dropout_rate_hz: rate of dropouts (runs of missing samples) per second.
        dropout_mean_s: mean dropout length (s, exponential).
        error_p: probability that a sample is an invalid reading (NaN).
        capacity_g: readings above this are overloads (NaN).
        resolution_g: reported resolution (g); readings are rounded to it.
    """

    sample_hz: float = 10.0
    rate_error: float = 0.0
    phase_s: float = 0.0
    jitter_s: float = 0.002
    noise_g_10hz: float = 0.5
    noise_exponent: float = HX711_NOISE_EXPONENT
    zero_offset_g: float = 0.0
    gain_error: float = 0.0
    drift_g: float = 0.3
    drift_period_s: float = 1800.0
    drift_phase: float = 0.0
    creep_fraction: float = 3e-4
    creep_tau_s: float = 120.0
    ring_fraction: float = 0.06
    ring_hz: float = 9.0
    ring_tau_s: float = 0.12
    spike_p: float = 1e-4
    spike_g: float = 150.0
    dropout_rate_hz: float = 1.0 / 300.0
    dropout_mean_s: float = 0.3
    error_p: float = 2e-5
    capacity_g: float = 10000.0
    resolution_g: float = 0.1

    def __post_init__(self) -> None:
        if not self.sample_hz > 0:
            raise ValueError(f"LoadCellModel.sample_hz must be > 0, got {self.sample_hz}")
        if self.creep_tau_s <= 0 or self.ring_tau_s <= 0 or self.drift_period_s <= 0:
            raise ValueError("LoadCellModel time constants must be > 0")

    @property
    def noise_g(self) -> float:
        """White-noise standard deviation at :attr:`sample_hz` (g)."""
        return self.noise_g_10hz * (self.sample_hz / 10.0) ** self.noise_exponent

    @property
    def period_s(self) -> float:
        """Actual sample period including the clock error (s)."""
        return 1.0 / (self.sample_hz * (1.0 + self.rate_error))


@dataclass(frozen=True, slots=True, eq=False)
class LoadTimeline:
    """The true load on one plate over time.

    Attributes:
        initial_g: load before the first step (g).
        step_t_s: (n,) start of each load change (s), non-decreasing.
        step_ramp_s: (n,) duration of each change (s), > 0; the load moves
            along a raised-cosine ramp from ``t`` to ``t + ramp``.
        step_g: (n,) size of each change (g); negative = plate got lighter.
        press_t0_s: (m,) start of each hand press (s).
        press_t1_s: (m,) end of each hand press (s), > start.
        press_g: (m,) extra downward force of the press (g-force), >= 0 for
            a hand leaning on the plate (a press never changes the net load).
    """

    initial_g: float
    step_t_s: np.ndarray
    step_ramp_s: np.ndarray
    step_g: np.ndarray
    press_t0_s: np.ndarray
    press_t1_s: np.ndarray
    press_g: np.ndarray

    @classmethod
    def build(cls, initial_g: float, steps: Sequence[tuple[float, float, float]] = (),
              presses: Sequence[tuple[float, float, float]] = ()) -> LoadTimeline:
        """Make a timeline from ``(t_s, ramp_s, delta_g)`` steps and
        ``(t0_s, t1_s, force_g)`` presses (any order)."""
        s = np.array(sorted(steps), dtype=np.float64).reshape(-1, 3)
        p = np.array(sorted(presses), dtype=np.float64).reshape(-1, 3)
        if np.any(s[:, 1] <= 0):
            raise ValueError("LoadTimeline: step ramp_s must be > 0")
        if np.any(p[:, 1] <= p[:, 0]):
            raise ValueError("LoadTimeline: press t1_s must be > t0_s")
        return cls(float(initial_g), readonly(s[:, 0]), readonly(s[:, 1]), readonly(s[:, 2]),
                   readonly(p[:, 0]), readonly(p[:, 1]), readonly(p[:, 2]))

    def net_g(self, t_s: float) -> float:
        """Settled load (items only, no creep/press) after all steps ending by ``t_s``."""
        done = self.step_t_s + self.step_ramp_s <= t_s
        return self.initial_g + float(self.step_g[done].sum())


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


def _ringing(model: LoadCellModel, dt: np.ndarray, amp_g: np.ndarray) -> np.ndarray:
    """Damped oscillation starting at dt = 0 (zero before), first swinging
    towards the sign of ``amp_g``; dt (n, k), amp (k,)."""
    on = dt > 0
    dtp = np.where(on, dt, 0.0)
    osc = np.sin(2 * np.pi * model.ring_hz * dtp) * np.exp(-dtp / model.ring_tau_s)
    return np.where(on, osc, 0.0) * amp_g


def _steps_g(model: LoadCellModel, tl: LoadTimeline, t_s: np.ndarray) -> np.ndarray:
    """Contribution of load steps incl. creep and ringing at ``t_s`` (n,)."""
    out = np.full(t_s.shape, tl.initial_g)
    if tl.step_g.size == 0 or t_s.size == 0:
        return out
    t_end = tl.step_t_s + tl.step_ramp_s
    # Steps long finished before this window: fully crept, no ringing left.
    old = t_end < t_s.min() - 12.0 * max(model.creep_tau_s, model.ring_tau_s)
    out += float((tl.step_g[old] * (1.0 + model.creep_fraction)).sum())
    live = ~old & (tl.step_t_s < t_s.max())
    if not live.any():
        return out
    d = tl.step_g[live]
    t0 = tl.step_t_s[live]
    te = t_end[live]
    tt = t_s[:, None]
    ramp = _smoothstep((tt - t0) / tl.step_ramp_s[live])
    after = np.maximum(tt - te, 0.0)
    creep = model.creep_fraction * (1.0 - np.exp(-after / model.creep_tau_s))
    # the plate overshoots in the direction of the change (a lift: below the new level)
    ring = _ringing(model, tt - te, model.ring_fraction * d)
    return out + (d * (ramp + creep)).sum(axis=1) + ring.sum(axis=1)


def _presses_g(model: LoadCellModel, tl: LoadTimeline, t_s: np.ndarray) -> np.ndarray:
    """Contribution of hand presses at ``t_s`` (n,): a smooth plateau with a
    slow tremor, ringing after the hand lets go."""
    if tl.press_g.size == 0 or t_s.size == 0:
        return np.zeros(t_s.shape)
    live = (tl.press_t0_s < t_s.max()) & (tl.press_t1_s > t_s.min() - 3.0)
    if not live.any():
        return np.zeros(t_s.shape)
    t0, t1, f = tl.press_t0_s[live], tl.press_t1_s[live], tl.press_g[live]
    rise = np.minimum(0.15, 0.3 * (t1 - t0))
    tt = t_s[:, None]
    window = _smoothstep((tt - t0) / rise) * _smoothstep((t1 - tt) / rise)
    tremor = 1.0 + 0.1 * np.sin(2 * np.pi * 1.3 * (tt - t0) + t0)
    ring = _ringing(model, tt - t1, -model.ring_fraction * f)  # released: springs up past level
    return (f * window * tremor).sum(axis=1) + ring.sum(axis=1)


def true_load_g(model: LoadCellModel, timeline: LoadTimeline, t_s: np.ndarray) -> np.ndarray:
    """Force on the plate as the load cell feels it, without sensor errors.

    Includes the ramps, creep and ringing of every step and the hand presses.

    Args:
        model: the load cell.
        timeline: the true load.
        t_s: (n,) times (s).

    Returns:
        (n,) float64 load (g).
    """
    t_s = np.asarray(t_s, dtype=np.float64)
    return _steps_g(model, timeline, t_s) + _presses_g(model, timeline, t_s)


def drift_g(model: LoadCellModel, t_s: np.ndarray) -> np.ndarray:
    """Slow thermal zero drift at ``t_s`` (n,) (g): two incommensurate sines."""
    w = 2 * np.pi / model.drift_period_s
    ph = model.drift_phase
    return model.drift_g * (0.8 * np.sin(w * t_s + ph) + 0.45 * np.sin(2.71 * w * t_s + 3.1 * ph))


def sample_times(model: LoadCellModel, t0_s: float, t1_s: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Timestamps of the samples whose nominal time lies in [t0_s, t1_s).

    Nominal times are ``phase_s + k * period_s``; each gets clipped Gaussian
    jitter, and dropouts (runs of missing samples) remove some.

    Returns:
        (n,) float64 increasing times (s); may stray by up to 0.3 periods
        outside [t0_s, t1_s) because of jitter.
    """
    p = model.period_s
    k0 = int(np.ceil((t0_s - model.phase_s) / p))
    k1 = int(np.ceil((t1_s - model.phase_s) / p))
    nominal = model.phase_s + np.arange(k0, max(k0, k1)) * p
    nominal = nominal[(nominal >= t0_s) & (nominal < t1_s)]
    jit = np.clip(rng.normal(0.0, model.jitter_s, nominal.size), -0.3 * p, 0.3 * p)
    t = nominal + jit
    n_drop = rng.poisson(model.dropout_rate_hz * max(t1_s - t0_s, 0.0))
    if n_drop:
        starts = rng.uniform(t0_s, t1_s, n_drop)
        ends = starts + rng.exponential(model.dropout_mean_s, n_drop)
        dropped = ((t[:, None] >= starts) & (t[:, None] < ends)).any(axis=1)
        t = t[~dropped]
    return t


def sample_signal(model: LoadCellModel, timeline: LoadTimeline, t_s: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Readings the controller reports at ``t_s``.

    reading = (1 + gain_error) * true_load + zero_offset + drift + noise,
    with rare single-sample spikes, rounded to ``resolution_g``; NaN for
    overloads (> capacity_g) and rare invalid readings.

    Args:
        model: the load cell.
        timeline: the true load.
        t_s: (n,) sample times (s), e.g. from :func:`sample_times`.
        rng: random source for noise, spikes and errors.

    Returns:
        (n,) float64 grams, NaN where the reading is invalid.
    """
    t_s = np.asarray(t_s, dtype=np.float64)
    load = true_load_g(model, timeline, t_s)
    g = (1.0 + model.gain_error) * load + model.zero_offset_g + drift_g(model, t_s)
    g += rng.normal(0.0, model.noise_g, t_s.size)
    spikes = rng.random(t_s.size) < model.spike_p
    if spikes.any():
        mag = rng.exponential(model.spike_g, int(spikes.sum()))
        g[spikes] += mag * rng.choice([-1.0, 1.0], mag.size)
    if model.resolution_g > 0:
        g = np.round(g / model.resolution_g) * model.resolution_g
    invalid = (load > model.capacity_g) | (rng.random(t_s.size) < model.error_p)
    g[invalid] = np.nan
    return g
