"""Weight-event accuracy on a simulated plate corpus: our detector vs the competition baseline.

Corpus: independent plates simulated with :mod:`fusion.sim.loadcell` at
10/20/40/60/80 Hz and white noise 0.3/1/2/3 g, each with thermal drift, creep,
ringing, spikes, invalid readings and dropouts (gaps). On each plate, every
8-20 s, one interaction: a take or put-back of 1-2 units of the plate's SKU
(20-1000 g, log-uniform) with the hand often resting on the plate before and
after it, or a disturbance that must not be an event (a grip press of
30-1500 g, a lean of 20-300 g for 1-4 s, or the small crosstalk a neighbour's
interaction leaves, 2-8 g).

Both detectors see the same samples. An event matches a true step when their
time intervals overlap (the step's ramp and its hand-on time vs the event's
``[t_start, t_final]``, 0.5 s slack) with the same sign, one to one, closest
grams first. Reported: recall and precision, grams error of matched events
(median, p95), false events (unmatched) per plate-hour, and decision latency
``t_final`` minus the time the hand left the plate.

Baseline (the published competition detector, re-implemented): per plate a
60-sample moving mean and standard deviation; the plate is stable while the
std is below a threshold (here 2 x the plate's nominal noise + 0.5 g, generous
to it), and an event is a stable stretch whose first moving mean differs from
the last stable mean before it by more than 10 g.

    python -m bench.weight_corpus [--plates 5] [--seconds 600] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from fusion.sim.loadcell import (
    HX711_NOISE_EXPONENT,
    LoadCellModel,
    LoadTimeline,
    sample_signal,
    sample_times,
)
from fusion.types import WEIGHT_DTYPE, Cell, Sku, Store
from fusion.weight import WeightConfig, WeightDetector

RATES_HZ = (10.0, 20.0, 40.0, 60.0, 80.0)
NOISES_G = (0.3, 1.0, 2.0, 3.0)
BASE_WINDOW = 60  # samples
BASE_MIN_CHANGE_G = 10.0
CAPACITY_G = 10000.0  # the simulated cells' range (readings beyond are NaN)


@dataclass(frozen=True, slots=True)
class Step:
    """A true load change on plate ``cell``: ramp [t_s, t_s + ramp_s], hand gone at ``leave_s``."""

    cell: int
    t_s: float
    ramp_s: float
    leave_s: float
    delta_g: float


@dataclass(frozen=True, slots=True)
class Found:
    """A detected event on one plate (times s, grams g)."""

    cell: int
    t_start: float
    t_final: float
    delta_g: float


@dataclass
class Plate:
    """One simulated plate: its model, timeline, true steps and nominal noise."""

    model: LoadCellModel
    timeline: LoadTimeline
    steps: list[Step]
    noise_g: float
    unit_g: float
    n_disturb: int
    hands: tuple[tuple[float, float], ...] = ()  # (t_on, t_off) s: a hand on or at the plate


def _script(cell: int, seconds: float, unit_g: float, rng: np.random.Generator
            ) -> tuple[list, list, list[Step], int]:
    """Random interactions on one plate; returns (steps, presses, truth, disturbances)."""
    steps, presses, truth, n_dist = [], [], [], 0
    level = 5000.0
    t = rng.uniform(3.0, 8.0)
    while t < seconds - 12.0:
        kind = rng.random()
        if kind < 0.6:  # take / put-back, often with the hand resting on the plate
            n = int(rng.integers(1, 3))
            sign = -1.0 if (rng.random() < 0.7 and level > 3 * unit_g) else 1.0
            if level + 2 * unit_g > 0.9 * CAPACITY_G:  # an overloaded plate gives no readings
                sign = -1.0
            d = sign * n * unit_g * (1 + rng.normal(0, 0.005))
            ramp = rng.uniform(0.2, 0.6)
            leave = t + ramp
            if rng.random() < 0.5:
                t0, t1 = t - rng.uniform(0.2, 1.0), t + ramp + rng.uniform(0.1, 0.6)
                presses.append((t0, t1, rng.uniform(20.0, 400.0)))
                leave = t1
            steps.append((t, ramp, d))
            truth.append(Step(cell, t, ramp, leave, d))
            level += d
        else:
            n_dist += 1
            if kind < 0.75:  # grip press
                t1 = t + rng.uniform(0.4, 2.5)
                presses.append((t, t1, rng.uniform(30.0, 1500.0)))
            elif kind < 0.9:  # lean
                t1 = t + rng.uniform(1.0, 4.0)
                presses.append((t, t1, rng.uniform(20.0, 300.0)))
            else:  # crosstalk of a neighbour's interaction
                t1 = t + rng.uniform(0.4, 1.5)
                presses.append((t, t1, rng.uniform(2.0, 8.0)))
        t += rng.uniform(8.0, 20.0)
    return steps, presses, truth, n_dist


def make_corpus(n_per_config: int, seconds: float, seed: int) -> list[Plate]:
    """``n_per_config`` plates for every (rate, noise) pair."""
    rng = np.random.default_rng(seed)
    plates = []
    for rate in RATES_HZ:
        for noise in NOISES_G:
            for _ in range(n_per_config):
                cell = len(plates)
                unit = float(np.exp(rng.uniform(np.log(20.0), np.log(1000.0))))
                model = LoadCellModel(
                    sample_hz=rate, rate_error=rng.normal(0, 0.005), phase_s=rng.uniform(0, 1 / rate),
                    noise_g_10hz=noise / (rate / 10.0) ** HX711_NOISE_EXPONENT,
                    drift_g=rng.uniform(0.3, 3.0), drift_period_s=rng.uniform(600, 3600),
                    drift_phase=rng.uniform(0, 6.3), spike_p=1e-3, spike_g=100.0,
                    dropout_rate_hz=1 / 120, dropout_mean_s=0.3, error_p=2e-4,
                    ring_fraction=rng.uniform(0.02, 0.1), ring_hz=rng.uniform(5, 15),
                    capacity_g=CAPACITY_G)
                steps, presses, truth, n_dist = _script(cell, seconds, unit, rng)
                tl = LoadTimeline.build(5000.0, steps=steps, presses=presses)
                hands = tuple(sorted([(a, b) for a, b, _ in presses]
                                     + [(st.t_s, st.t_s + st.ramp_s) for st in truth]))
                plates.append(Plate(model, tl, truth, noise, unit, n_dist, hands))
    return plates


def corpus_samples(plates: list[Plate], seconds: float, seed: int) -> np.ndarray:
    """All plates' samples, interleaved in time, as WEIGHT_DTYPE."""
    rng = np.random.default_rng(seed + 1000)
    parts = []
    for i, p in enumerate(plates):
        t = sample_times(p.model, 0.0, seconds, rng)
        a = np.zeros(t.size, WEIGHT_DTYPE)
        a["t"], a["cell"] = t, i
        a["grams"] = sample_signal(p.model, p.timeline, t, rng)
        parts.append(a)
    s = np.concatenate(parts)
    return s[np.argsort(s["t"], kind="stable")]


def corpus_store(plates: list[Plate]) -> Store:
    """One SKU per plate (its unit weight); plates 1 m apart, so never merged."""
    skus = {f"s{i}": Sku(f"s{i}", f"item {i}", p.unit_g, 0.005 * p.unit_g)
            for i, p in enumerate(plates)}
    cells = tuple(Cell(f"P{i}", np.array([[0.0, float(i), 1.2], [0.4, float(i), 1.2]]),
                       (f"s{i}",), p.model.sample_hz, p.noise_g) for i, p in enumerate(plates))
    return Store("corpus", skus, cells, ())


def hand_cues(plates: list[Plate], seed: int, delay_s: tuple[float, float] = (0.1, 0.2),
              miss_p: float = 0.1, frame_s: float = 0.1, span_s: float = 2.0) -> np.ndarray:
    """Simulated vision "hands away" cues: (k, 2) rows (cell, t s), time-ordered.

    From each moment a hand leaves a plate (the end of a hand interval not
    inside another one: the hand resting on the plate around a take keeps it
    present, and so do leans and presses) plus a camera delay uniform in
    ``delay_s`` (frame + detection), one cue per camera frame (every
    ``frame_s``) until the next hand comes to that plate or ``span_s`` has
    passed, each frame's cue missed with probability ``miss_p`` -- as the
    engine sends it (``EngineConfig.hands_clear_m``).
    """
    rng = np.random.default_rng(seed + 2000)
    rows = []
    for i, p in enumerate(plates):
        for a, b in p.hands:
            if any(a2 < b < b2 for a2, b2 in p.hands if (a2, b2) != (a, b)):
                continue  # another hand interval is still on the plate
            back = min((a2 for a2, _ in p.hands if a2 > b), default=np.inf)
            t = b + rng.uniform(*delay_s) + frame_s * np.arange(int(span_s / frame_s))
            t = t[(t < back) & (rng.random(t.size) >= miss_p)]
            rows += [(i, x) for x in t]
    cues = np.array(rows, float).reshape(-1, 2)
    return cues[np.argsort(cues[:, 1], kind="stable")]


def run_ours(store: Store, s: np.ndarray, chunk_s: float = 0.5,
             cues: np.ndarray | None = None) -> tuple[list[Found], float]:
    """Our WeightDetector; returns per-plate events and its CPU seconds.

    ``cues`` (k, 2) (cell, t s): :meth:`WeightDetector.hands_away` calls, each
    made after the chunk containing its time (as the engine would).
    """
    det = WeightDetector(store)
    edges = np.arange(chunk_s, s["t"][-1], chunk_s)
    cuts = np.searchsorted(s["t"], edges)
    cue_cuts = (np.searchsorted(cues[:, 1], np.r_[edges, np.inf]) if cues is not None
                else np.zeros(edges.size + 1, np.int64))
    t0 = time.process_time()
    events, k = [], 0
    for part, k1 in zip(np.split(s, cuts), cue_cuts, strict=True):
        events += det.process(part)
        for cell, t in (cues[k:k1] if cues is not None else ()):
            det.hands_away(np.array([int(cell)]), float(t))
        k = k1
    events += det.flush()
    cpu = time.process_time() - t0
    out = [Found(c, e.t_start, e.t_final, d) for e in events for c, d in zip(e.cells, e.delta_g,
                                                                            strict=True)]
    return out, cpu


def _moving(x: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing w-sample mean and std of x (n,); NaN for the first w-1."""
    c1 = np.r_[0.0, np.cumsum(x - x[0])]
    c2 = np.r_[0.0, np.cumsum((x - x[0]) ** 2)]
    mean = np.full(x.size, np.nan)
    var = np.full(x.size, np.nan)
    if x.size >= w:
        s1 = c1[w:] - c1[:-w]
        s2 = c2[w:] - c2[:-w]
        mean[w - 1:] = s1 / w
        var[w - 1:] = np.maximum(s2 / w - (s1 / w) ** 2, 0.0) * w / (w - 1)
        mean[w - 1:] += x[0]
    return mean, np.sqrt(var)


def baseline_plate(cell: int, t: np.ndarray, g: np.ndarray, noise_g: float) -> list[Found]:
    """The competition detector on one plate's samples (gaps dropped)."""
    ok = np.isfinite(g)
    t, g = t[ok], g[ok]
    mean, std = _moving(g, BASE_WINDOW)
    stable = std < 2.0 * noise_g + 0.5
    edges = np.flatnonzero(np.diff(np.r_[0, stable.astype(np.int8), 0]))
    starts, ends = edges[0::2], edges[1::2] - 1
    out, level, t_left = [], np.nan, np.nan
    for a, b in zip(starts, ends, strict=True):
        if np.isfinite(level) and abs(mean[a] - level) > BASE_MIN_CHANGE_G:
            out.append(Found(cell, float(t_left), float(t[a]), float(mean[a] - level)))
        level, t_left = mean[b], t[b]
    return out


def run_baseline(plates: list[Plate], s: np.ndarray) -> tuple[list[Found], float]:
    order = np.argsort(s["cell"], kind="stable")
    ss = s[order]
    bounds = np.r_[0, np.cumsum(np.bincount(ss["cell"], minlength=len(plates)))]
    t0 = time.process_time()
    out = []
    for i, p in enumerate(plates):
        part = ss[bounds[i]:bounds[i + 1]]
        out += baseline_plate(i, part["t"], part["grams"].astype(float), p.noise_g)
    return out, time.process_time() - t0


def match(truth: list[Step], found: list[Found], slack_s: float = 0.5
          ) -> list[tuple[Step, Found | None]]:
    """One-to-one matching per plate (see module docstring); unmatched events excluded."""
    by_cell: dict[int, list[Found]] = {}
    for f in found:
        by_cell.setdefault(f.cell, []).append(f)
    used: set[int] = set()
    pairs = []
    for st in sorted(truth, key=lambda x: x.t_s):
        cands = [f for f in by_cell.get(st.cell, ())
                 if id(f) not in used and np.sign(f.delta_g) == np.sign(st.delta_g)
                 and f.t_start <= st.leave_s + slack_s and f.t_final >= st.t_s - slack_s]
        best = min(cands, key=lambda f: abs(f.delta_g - st.delta_g), default=None)
        if best is not None:
            used.add(id(best))
        pairs.append((st, best))
    return pairs


def metrics(plates: list[Plate], found: list[Found], seconds: float,
            select=lambda p: True) -> dict[str, float]:
    """Recall, precision, grams error, false events per plate-hour, latency."""
    keep = {i for i, p in enumerate(plates) if select(p)}
    truth = [st for i in keep for st in plates[i].steps]
    fnd = [f for f in found if f.cell in keep]
    pairs = match(truth, fnd)
    hits = [(st, f) for st, f in pairs if f is not None]
    err = np.array([abs(f.delta_g - st.delta_g) for st, f in hits])
    lat = np.array([f.t_final - st.leave_s for st, f in hits])
    n_false = len(fnd) - len(hits)
    hours = len(keep) * seconds / 3600.0
    q = lambda a, p: float(np.percentile(a, p)) if a.size else float("nan")  # noqa: E731
    return {"truth": len(truth), "found": len(fnd), "recall": len(hits) / max(len(truth), 1),
            "precision": len(hits) / max(len(fnd), 1), "err_med": q(err, 50), "err_p95": q(err, 95),
            "false_per_h": n_false / hours, "lat_med": q(lat, 50), "lat_p95": q(lat, 95),
            "lat_max": float(lat.max()) if lat.size else float("nan"),
            "lat_le_1s": float(np.mean(lat <= 1.0)) if lat.size else float("nan"),
            "err_p95_target": max(2.0, 2.0 * max(plates[i].noise_g for i in keep))}


def late_causes(plates: list[Plate], s: np.ndarray, found: list[Found], limit_s: float = 1.0
                ) -> dict[str, int]:
    """Matched steps final more than ``limit_s`` after the hand left, by cause.

    ``reading gap``: the plate sent nothing for more than 3 sample intervals
    between the step and its decision (a dropout: no reading, no settling);
    ``light increase held``: a put-back of at most ``WeightConfig.hold_max_g``
    decided after the lean hold (without vision a lean looks like a put-back
    until it lets go); ``other``: the rest, split by the plate's rate.
    """
    cfg = WeightConfig()
    by_cell = np.argsort(s["cell"], kind="stable")
    cells = s["cell"][by_cell]
    out: dict[str, int] = {}
    for st, f in match([x for p in plates for x in p.steps], found):
        if f is None or f.t_final - st.leave_s <= limit_s:
            continue
        p = plates[st.cell]
        a, b = np.searchsorted(cells, [st.cell, st.cell + 1])
        t = s["t"][by_cell[a:b]]
        t = t[(t >= st.t_s - 0.5) & (t <= f.t_final)]
        if t.size < 2 or np.diff(t).max() > 3.0 / p.model.sample_hz:
            key = "reading gap"
        elif 0 < st.delta_g <= cfg.hold_max_g and f.t_final - st.leave_s > cfg.lean_hold_s:
            key = "light increase held"
        else:
            key = f"other, {p.model.sample_hz:g} Hz plate"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def _causes(c: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in c.items()) or "none"


def _row(name: str, m: dict[str, float]) -> str:
    return (f"| {name} | {m['truth']} | {m['found']} | {100 * m['recall']:.2f} % | "
            f"{100 * m['precision']:.2f} % | {m['err_med']:.2f} | {m['err_p95']:.2f} | "
            f"{m['false_per_h']:.2f} | {m['lat_med']:.2f} | {m['lat_p95']:.2f} | "
            f"{m['lat_max']:.2f} | {100 * m['lat_le_1s']:.1f} % |")


HEADER = ("| detector | true steps | events | recall | precision | err median g | err p95 g | "
          "false / plate-h | latency median s | latency p95 s | latency max s | final <= 1 s |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|")


def report(plates: list[Plate], ours: list[Found], base: list[Found], seconds: float,
           cued: list[Found] | None = None) -> str:
    lines = ["All plates:", "", HEADER, _row("ours", metrics(plates, ours, seconds))]
    if cued is not None:
        lines.append(_row("ours + vision hands-away cue", metrics(plates, cued, seconds)))
    lines += [_row("baseline", metrics(plates, base, seconds)), "",
             "By sample rate (ours / baseline):", "", HEADER]
    for r in RATES_HZ:
        sel = lambda p, r=r: p.model.sample_hz == r  # noqa: E731
        lines += [_row(f"ours {r:g} Hz", metrics(plates, ours, seconds, sel)),
                  _row(f"baseline {r:g} Hz", metrics(plates, base, seconds, sel))]
    lines += ["", "By noise (ours / baseline; grams-error target p95 <= max(2 g, 2 x noise)):", "",
              HEADER]
    for nz in NOISES_G:
        sel = lambda p, nz=nz: p.noise_g == nz  # noqa: E731
        mo = metrics(plates, ours, seconds, sel)
        lines += [_row(f"ours {nz:g} g (target {mo['err_p95_target']:g})", mo),
                  _row(f"baseline {nz:g} g", metrics(plates, base, seconds, sel))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    """Build the corpus, run both detectors, print and return Markdown tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plates", type=int, default=5, help="plates per (rate, noise) pair")
    ap.add_argument("--seconds", type=float, default=600.0, help="simulated time per plate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    w0 = time.perf_counter()
    plates = make_corpus(args.plates, args.seconds, args.seed)
    s = corpus_samples(plates, args.seconds, args.seed)
    store = corpus_store(plates)
    gen_s = time.perf_counter() - w0
    ours, cpu_ours = run_ours(store, s)
    cued, _ = run_ours(store, s, cues=hand_cues(plates, args.seed))
    base, cpu_base = run_baseline(plates, s)
    n_dist = sum(p.n_disturb for p in plates)
    head = (f"Corpus: {len(plates)} plates x {args.seconds:g} s "
            f"({len(plates) * args.seconds / 3600:.1f} plate-hours, seed {args.seed}), "
            f"{s.size:,} samples, {sum(len(p.steps) for p in plates)} true steps "
            f"(20-2000 g), {n_dist} disturbances (presses, leans, crosstalk). "
            f"CPU: ours {cpu_ours:.1f} s ({s.size / cpu_ours:,.0f} samples/s, whole detector), "
            f"baseline {cpu_base:.1f} s; corpus generation {gen_s:.1f} s. "
            f"Vision cue row: hands_away every 0.1 s frame from each hand-leave + 0.1-0.2 s "
            f"until a hand comes back (at most 2 s), each frame 10 % missed; "
            f"leans and presses keep the hand present.")
    late = (f"Steps final later than 1 s, by cause (`late_causes`): ours: "
            f"{_causes(late_causes(plates, s, ours))}; ours + vision cue: "
            f"{_causes(late_causes(plates, s, cued))}.")
    text = head + "\n\n" + report(plates, ours, base, args.seconds, cued) + "\n\n" + late + "\n"
    print(text)
    return text


if __name__ == "__main__":
    main()
