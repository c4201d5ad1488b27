"""When the weight changed inside an event: the halfway crossing, and the
matching step when a lean let go at the crossing."""

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fusion.change_time import change_time, halfway_crossing, step_sizes, unit_times


def signal(steps, t_end=8.0, rate_hz=20.0, base_g=7750.0, noise_g=1.0, seed=0):
    """(t s, grams) of one plate; ``steps`` are (t_start, t_end, delta_g) linear ramps."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, t_end, 1.0 / rate_hz)
    g = np.full(t.size, base_g)
    for a, b, d in steps:
        g += d * np.clip((t - a) / (b - a), 0.0, 1.0)
    return t, g + rng.normal(0.0, noise_g, t.size)


# concession seed 13, plate U1-1-01: one shopper leans ~550 g on the plate,
# a neighbour lifts a 355 g can at 3.0 s, the lean lets go at 5.0 s
LEAN = [(1.0, 1.2, 550.0), (3.0, 3.2, -355.0), (5.0, 5.2, -550.0)]


def test_a_plain_take_changes_at_the_halfway_crossing():
    t, g = signal([(3.0, 3.2, -355.0)])
    tc = halfway_crossing(t, g, -355.0, 2.9, 3.3)
    assert tc is not None and 3.05 <= tc <= 3.16
    assert change_time(t, g, -355.0, 2.9, 3.3, min_step_g=10.0) == tc


def test_a_take_during_a_lean_changes_when_the_can_left_not_when_the_lean_let_go():
    t, g = signal(LEAN)
    cross = halfway_crossing(t, g, -355.0, 0.95, 5.3)
    assert cross is not None and 5.0 <= cross <= 5.2  # the lean's release
    tc = change_time(t, g, -355.0, 0.95, 5.3, min_step_g=10.0)
    assert tc is not None and 3.0 <= tc <= 3.2  # the can
    # disabled, or a change too small to look for its step: the crossing
    assert change_time(t, g, -355.0, 0.95, 5.3, tol=0.0) == cross
    assert change_time(t, g, -355.0, 0.95, 5.3, min_step_g=400.0) == cross


def test_without_a_matching_step_the_crossing_stands():
    # the lean let go in two halves: no step of -355 g anywhere near
    t, g = signal([(1.0, 1.2, 700.0), (3.0, 3.2, -530.0), (5.0, 5.2, -525.0)])
    cross = halfway_crossing(t, g, -355.0, 0.95, 5.3)
    assert change_time(t, g, -355.0, 0.95, 5.3, min_step_g=10.0) == cross


def test_too_few_samples_give_no_steps_and_no_crossing():
    t, g = signal([(3.0, 3.2, -355.0)], t_end=0.3)
    assert step_sizes(t, g, 0.25, 0.35)[0].size == 0
    assert halfway_crossing(t[:1], g[:1], -355.0, 0.0, 0.3) is None
    assert change_time(t[:1], g[:1], -355.0, 0.0, 0.3) is None


@settings(max_examples=200, deadline=None)
@given(delta=st.floats(20.0, 2000.0), sign=st.sampled_from([-1.0, 1.0]),
       t0=st.floats(2.0, 5.0), ramp=st.floats(0.05, 0.5), rate=st.sampled_from([10.0, 20.0, 40.0, 80.0]),
       noise=st.floats(0.1, 3.0), seed=st.integers(0, 2**16))
@example(delta=20.0, sign=1.0, t0=2.875, ramp=0.25, rate=80.0, noise=3.0, seed=168)
@example(delta=20.0, sign=1.0, t0=2.0, ramp=0.25, rate=20.0, noise=3.0, seed=1719)
def test_one_step_is_found_where_it_happened(delta, sign, t0, ramp, rate, noise, seed):
    """Within one sample of the ramp (hypothesis found a 20 g step at 3 g
    noise, 80 Hz, whose halfway mark one noisy sample crossed early: the
    crossing is taken on the readings' running median of 3; later the same
    at 20 Hz in the matching step's own crossing, 0.25 s early)."""
    d = sign * delta
    t, g = signal([(t0, t0 + ramp, d)], rate_hz=rate, noise_g=noise, seed=seed)
    tc = change_time(t, g, d, t0 - 0.1, t0 + ramp + 0.1, min_step_g=max(8.0, 5 * noise))
    assert tc is not None and t0 - 1.0 / rate <= tc <= t0 + ramp + 1.0 / rate


@settings(max_examples=200, deadline=None)
@given(delta=st.floats(50.0, 1000.0), lean=st.floats(1.4, 3.0), sign=st.sampled_from([-1.0, 1.0]),
       t0=st.floats(2.0, 3.5), hold=st.floats(1.2, 2.5), rate=st.sampled_from([10.0, 20.0, 40.0, 80.0]),
       noise=st.floats(0.1, 3.0), seed=st.integers(0, 2**16))
# found by hypothesis: the 70 g release measured within 30 % of the 50 g item
@example(delta=50.0, lean=1.40625, sign=-1.0, t0=2.5, hold=1.25, rate=10.0, noise=3.0, seed=30798)
def test_a_take_or_put_back_during_a_lean_is_found_where_it_happened(delta, lean, sign, t0, hold, rate,
                                                                      noise, seed):
    """A hand pressing 40 % or more above the item's weight: the readings
    cross halfway when the press begins (a put-back) or lets go (a take),
    and the item's own step is found instead."""
    d, press = sign * delta, lean * delta
    t, g = signal([(1.0, 1.2, press), (t0, t0 + 0.2, d), (t0 + hold, t0 + hold + 0.2, -press)],
                  rate_hz=rate, noise_g=noise, seed=seed)
    t_start, t_end = 0.95, t0 + hold + 0.3
    cross = halfway_crossing(t, g, d, t_start, t_end)
    assert cross is not None and not t0 - 0.5 <= cross <= t0 + 0.7  # the press, not the item
    tc = change_time(t, g, d, t_start, t_end, min_step_g=max(8.0, 5 * noise))
    assert tc is not None and t0 - 1.0 / rate <= tc <= t0 + 0.2 + 1.0 / rate


def test_two_lifts_less_than_a_ramp_apart_are_timed_one_by_one():
    """Concession seed 2, plate U1-1-01: two shoppers lift a 353 g can each,
    0.36 s apart; their 0.4 s ramps overlap, no quiet moment between."""
    t, g = signal([(2.9, 3.3, -353.0), (3.26, 3.66, -353.0)], noise_g=2.0)
    times = unit_times(t, g, 2, 2.85, 3.75)
    assert times is not None
    assert 3.0 <= times[0] <= 3.2 and 3.4 <= times[1] <= 3.55


def test_unit_times_of_a_put_back_and_of_one_lift_of_three():
    t, g = signal([(3.0, 3.2, 120.0)])
    times = unit_times(t, g, 1, 2.9, 3.3)
    assert times is not None and 3.05 <= times[0] <= 3.16
    t, g = signal([(3.0, 3.3, -150.0)])  # three 50 g bags in one lift
    times = unit_times(t, g, 3, 2.9, 3.4)
    assert times is not None and 3.0 <= times[0] <= times[1] <= times[2] <= 3.3


def test_unit_times_need_samples_around_the_event():
    t, g = signal([(3.0, 3.2, -355.0)])
    assert unit_times(t, g, 2, 0.0, 3.3) is None  # no level before
    assert unit_times(t, g, 2, 2.9, 8.0) is None  # no level after
    assert unit_times(t[:3], g[:3], 1, 0.01, 0.05) is None


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 4), st.floats(0.15, 0.8), st.floats(40.0, 600.0),
       st.sampled_from([10.0, 20.0, 40.0, 80.0]), st.floats(0.2, 3.0), st.integers(0, 2**16))
def test_staircase_units_are_timed_inside_their_own_ramp(n, gap_s, unit_g, rate_hz, noise_g, seed):
    """Any staircase of n equal lifts (0.3 s ramps, ``gap_s`` apart): each
    unit's time falls within its own ramp (one sample of slack either side)."""
    ramps = [(2.0 + i * gap_s, 2.3 + i * gap_s, -unit_g) for i in range(n)]
    t, g = signal(ramps, t_end=4.0 + n * gap_s, rate_hz=rate_hz, noise_g=noise_g, seed=seed)
    times = unit_times(t, g, n, 1.95, ramps[-1][1] + 0.05)
    assert times is not None
    dt = 1.0 / rate_hz
    for (a, b, _), tu in zip(ramps, times, strict=True):
        # overlapping ramps: the mark j + 1/2 is crossed between ramp j's start and ramp j+1's end
        assert a - dt <= tu <= b + gap_s + dt


def test_units_are_not_timed_when_a_press_outweighs_them():
    """Rush seed 6, plate U2-1-01: two 47 g bags of chips leave 0.4 s apart
    while hands press 50-100 g on the plate; the first bag's lift is hidden
    under the press and both marks are crossed when the last hand lets go."""
    t, g = signal([(1.0, 1.2, 60.0), (1.9, 2.0, 40.0), (2.4, 2.6, -47.0), (3.0, 3.1, -100.0),
                   (3.1, 3.3, -47.0)], noise_g=1.5)
    assert unit_times(t, g, 2, 0.95, 3.4) is None
    # a light touch (a tenth of a unit) is no reason to give up
    t, g = signal([(1.0, 1.2, 5.0), (2.4, 2.6, -47.0), (3.0, 3.1, -5.0), (3.1, 3.3, -47.0)], noise_g=1.0)
    times = unit_times(t, g, 2, 0.95, 3.4)
    assert times is not None and 2.4 <= times[0] <= 2.65 and 3.1 <= times[1] <= 3.35


def test_a_take_lost_in_a_swaying_lean_has_no_known_moment():
    """Concession seed 12, plate U2-1-04: a shopper leans on the plate (up
    300 g, settling back 100 g over half a second, swaying by +-12 g) while
    a neighbour lifts a 68 g bag of pretzels during the settling; the lean
    lets go at 4 s. No step matches the bag and the readings cross halfway
    only at the release (a 200 g step): the take went to the leaner at 0.98.
    The moment is unknown, not the release."""
    for seed in range(3):
        t, g = signal([(1.0, 1.2, 300.0), (1.3, 1.8, -100.0), (1.45, 1.65, -68.0), (4.0, 4.2, -200.0)],
                      noise_g=1.5, seed=seed)
        lean = (t > 1.2) & (t < 4.0)
        g[lean] += 12.0 * np.sin(2 * np.pi * t[lean] / 0.6)
        cross = halfway_crossing(t, g, -68.0, 0.95, 4.3)
        assert cross is not None and 4.0 <= cross <= 4.2
        assert change_time(t, g, -68.0, 0.95, 4.3, min_step_g=10.0) is None
