"""When a plate's weight changed inside a shelf event: the moment attribution
looks for the hand at the plate (``AttributionConfig.change_sd_s``).

Two estimates from the raw samples of the event's largest plate:

* :func:`halfway_crossing`: the first time the readings cross halfway from
  the level before to the level after. Right for a plain take or put-back.
* the matching step: when the readings made a whole step (median of the
  readings just after minus just before) closest to the event's change.
  Needed when
  another hand leaned on the plate during the take: a shopper leans 700 g on
  a plate while a neighbour lifts a 354 g can from it; the readings go
  +700, -354, -700, and the halfway mark (354 / 2 g below the start) is only
  crossed when the lean lets go, seconds after the can left. Weighing hands
  by the time of the lean's release hands the take to the leaner.

:func:`change_time` keeps the crossing when the readings step by about the
event's change there (the common case, so a plain event is decided as
before) and otherwise takes the matching step, when there is one.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks


def halfway_crossing(t: np.ndarray, g: np.ndarray, delta_g: float, t_start: float,
                     t_end: float, after_s: float = 0.3) -> float | None:
    """First time (s) in [``t_start``, ``t_end``] at which the readings ``g`` (g)
    at times ``t`` (s) cross from the before side to the after side of the
    halfway mark, or ``None``.

    The readings are smoothed by a running median of 3 first: one noisy
    sample past a mark a few noise sd away is not the item moving. The
    mark is the settled level after (median of the samples in
    ``after_s`` seconds from ``t_end``, else the last three inside the
    event) minus half of ``delta_g``: the readings just before ``t_start``
    can hold a hand already pressing on the plate, which would put the mark
    where the press lets go instead of where the item moved.
    """
    after = g[(t >= t_end) & (t <= t_end + after_s)]
    if len(after) < 2:
        after = g[(t >= t_start) & (t <= t_end)][-3:]
    if len(after) < 2:
        return None
    half = float(np.median(after)) - 0.5 * delta_g
    upto = t <= t_end
    tu = t[upto]
    past = (_median3(g)[upto] - half) * np.sign(delta_g) >= 0
    cross = np.flatnonzero(past[1:] & ~past[:-1]) + 1
    cross = cross[tu[cross] >= t_start]
    return float(tu[cross[0]]) if len(cross) else None


def _median3(g: np.ndarray) -> np.ndarray:
    """``g`` with each inner sample replaced by the median of it and its two
    neighbours (the first and last kept): one spike does not cross a mark."""
    out = np.array(g, dtype=float)
    if len(g) >= 3:
        out[1:-1] = np.median(np.lib.stride_tricks.sliding_window_view(g, 3), axis=1)
    return out


def step_sizes(t: np.ndarray, g: np.ndarray, gap_s: float, span_s: float,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levels either side of each sample: the median of the samples
    ``gap_s``..``gap_s + span_s`` seconds before it and that as far after it
    (counted in samples at the median interval; the gap skips the lift or
    place ramp). The step at a sample is ``after - before``.

    Returns:
        (times s, before g, after g) of the samples that have a full span
        both sides; empty when there are too few samples.
    """
    empty = np.zeros(0)
    spans = _spans(t, gap_s, span_s)
    if spans is None:
        return empty, empty, empty
    gap, k = spans
    n = len(g)
    med = np.median(np.lib.stride_tricks.sliding_window_view(g, k), axis=1)  # med[i] = g[i:i+k]
    i = np.arange(gap + k, n - gap - k + 1)
    return t[i], med[i - gap - k], med[i + gap]


def _spans(t: np.ndarray, gap_s: float, span_s: float) -> tuple[int, int] | None:
    """(gap, span) in samples at the median interval of ``t`` (s), or ``None``
    when there are too few samples for one step."""
    if len(t) < 8:
        return None
    dt = float(np.median(np.diff(t)))
    if not dt > 0:
        return None
    k = max(2, int(round(span_s / dt)))
    gap = max(1, int(round(gap_s / dt)))
    return (gap, k) if len(t) >= 2 * (gap + k) + 1 else None


def _matching_step(t: np.ndarray, g: np.ndarray, ts: np.ndarray, before: np.ndarray,
                   after: np.ndarray, delta_g: float, t_start: float, t_end: float,
                   tol: float, reach_s: float) -> tuple[float, float] | None:
    """When, in [``t_start``, ``t_end``], the readings made a whole step of
    ``delta_g`` (g) within ``tol * |delta_g|``, or ``None``.

    Only peaks of the step profile count (prominence at least half the
    change): the moments on the flank of a larger step (a lean letting go)
    pass through every smaller value on the way and would match anything.
    The time is where the readings, smoothed by a running median of 3 as in
    :func:`halfway_crossing`, cross halfway between that step's levels,
    nearest the peak (within ``reach_s``), else the peak's time (one noisy
    sample crossing a small step's halfway mark early is not the step).

    Returns:
        (time s, |step - delta_g| g) or ``None``.
    """
    sign = 1.0 if delta_g > 0 else -1.0
    steps = after - before
    peaks, _ = find_peaks(np.r_[0.0, sign * steps, 0.0], prominence=0.5 * abs(delta_g))
    peaks = peaks - 1
    peaks = peaks[(ts[peaks] >= t_start) & (ts[peaks] <= t_end)]
    if not len(peaks):
        return None
    miss = np.abs(steps[peaks] - delta_g)
    m = int(peaks[int(np.argmin(miss))])
    if miss.min() > tol * abs(delta_g):
        return None
    best = float(miss.min())
    mark = 0.5 * (before[m] + after[m])
    near = (t >= ts[m] - reach_s) & (t <= ts[m] + reach_s)
    tn = t[near]
    past = (_median3(g)[near] - mark) * sign >= 0
    cross = np.flatnonzero(past[1:] & ~past[:-1]) + 1
    if not len(cross):
        return float(ts[m]), best
    return float(tn[cross[int(np.argmin(np.abs(tn[cross] - ts[m])))]]), best


def change_time(t: np.ndarray, g: np.ndarray, delta_g: float, t_start: float, t_end: float,
                gap_s: float = 0.25, span_s: float = 0.35, tol: float = 0.3,
                min_step_g: float = 0.0) -> float | None:
    """When the plate's weight changed by ``delta_g`` (g) inside the event
    [``t_start``, ``t_end``] (s), from its readings ``g`` (g) at ``t`` (s),
    which should start about a second before the event and end about a
    second after it.

    The halfway crossing, unless the readings around it step by more than
    ``tol / 3 * |delta_g|`` away from ``delta_g`` (a lean or press let go
    there, not the item, or noise) and elsewhere in the event they make a
    whole step that matches ``delta_g`` within ``tol * |delta_g|`` and
    better than the crossing's step by more than ``tol / 3 * |delta_g|``:
    then when they made that step (a lean only 40 % heavier than a 50 g
    item, measured with 3 g of noise, can step within ``tol`` of the item
    at the crossing; the item's own step is still the clearly better
    match). When the readings step at the crossing by more than twice the
    change (or against it) and nowhere match it (a shopper leans
    on the plate, swaying by tens of grams, while a neighbour lifts a 68 g
    bag: the bag's step drowns in the sway, the crossing is the lean's
    release), the moment is unknown: ``None``. Changes smaller than
    ``min_step_g`` (g), or ``tol`` 0, use the crossing alone: a step the
    size of the noise matches anything. ``None`` when neither estimate
    exists.
    """
    tc = halfway_crossing(t, g, delta_g, t_start, t_end)
    if tc is None or tol <= 0 or abs(delta_g) < min_step_g:
        return tc
    spans = _spans(t, gap_s, span_s)
    if spans is None:
        return tc
    gap, k = spans
    # the step at the crossing (the nearest sample with a full span both sides)
    i = min(max(int(np.searchsorted(t, tc)), gap + k), len(t) - gap - k)
    miss = abs(float(np.median(g[i + gap:i + gap + k]) - np.median(g[i - gap - k:i - gap])) - delta_g)
    margin = tol / 3.0 * abs(delta_g)
    if abs(t[i] - tc) > 2.0 * gap_s or miss <= margin:
        return tc  # no step known there, or the crossing is where the item moved
    ts, before, after = step_sizes(t, g, gap_s, span_s)
    found = _matching_step(t, g, ts, before, after, delta_g, t_start, t_end, tol, gap_s + span_s)
    if found is not None and found[1] < miss - margin:
        return found[0]
    # at the crossing the readings stepped by more than twice the change (or the
    # other way), and nowhere by the change: most of that step was something
    # else letting go, so the moment is unknown, not the crossing
    return None if found is None and miss > abs(delta_g) else tc


def unit_times(t: np.ndarray, g: np.ndarray, n_units: int, t_start: float, t_end: float,
               level_n: int = 10, max_excursion: float = 0.25) -> list[float] | None:
    """When each of ``n_units`` units moved inside the event [``t_start``,
    ``t_end``] (s), from the plate's readings ``g`` (g) at ``t`` (s), which
    should start about a second before the event and end about a second
    after it.

    Two hands taking from one plate a fraction of a second apart leave no
    quiet moment between their lifts (:func:`fusion.parts.plateau_parts`
    finds none), but the readings still pass the levels in between in turn:
    unit ``j`` (0-based) is timed where the readings, smoothed by a running
    median of 3 (one spike does not count), first reach ``j + 1/2`` units
    of the way from the level before (median of the last ``level_n``
    samples before ``t_start``) to the level after (the first ``level_n``
    after ``t_end``), searching on from the previous unit's time. The units
    are taken as equal (a mixed event is timed by its share of the change).

    A hand pressing on the plate while another lifts hides the lift: with
    light items the press can outweigh the unit, and every mark is then
    crossed when the last hand lets go. So when the smoothed readings inside
    the event leave the range between the two levels by more than
    ``max_excursion`` of a unit, the units are not timed.

    Returns:
        ``n_units`` non-decreasing times (s), or ``None`` when the samples
        do not cover the event, the readings stray beyond the levels, or
        they never reach a mark.
    """
    if n_units < 1 or len(g) < 5:
        return None
    before, after = g[t < t_start], g[t > t_end]
    if len(before) < 3 or len(after) < 2:
        return None
    lo, hi = float(np.median(before[-level_n:])), float(np.median(after[:level_n]))
    if hi == lo:
        return None
    smooth = _median3(g)
    ts = t
    inside = smooth[(ts >= t_start) & (ts <= t_end)]
    stray = max(float(inside.max()) - max(lo, hi), min(lo, hi) - float(inside.min())) if len(inside) else 0.0
    if stray > max_excursion * abs(hi - lo) / n_units:
        return None
    sign = 1.0 if hi > lo else -1.0
    i = int(np.searchsorted(ts, t_start))
    out = []
    for j in range(n_units):
        mark = lo + (j + 0.5) / n_units * (hi - lo)
        reached = np.flatnonzero((smooth[i:] - mark) * sign >= 0)
        if not len(reached):
            return None
        i += int(reached[0])
        out.append(float(ts[i]))
    return out
