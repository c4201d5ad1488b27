"""Throughput of the weight pipeline (samples/s through WeightDetector.process).

Synthetic store: ``--cells`` plates at mixed rates (10-80 Hz), noise 0.3-3 g,
a take with a hand press every ~20 s per plate; fed in ``--chunk`` second
chunks as the engine does.  Each figure is the best of ``--repeat`` runs, as
samples per second of wall time (``samples_per_s``) and of this process's CPU
time (``cpu_samples_per_s``, steadier on a shared machine).  Prints one line
per configuration, and a
``level_change_path`` line: the same plates without interactions (noise,
1e-3 spikes), so only the level filter + gate + CUSUM path runs (the
per-plate vectorised stable pass).

For comparison, in the same run and on the same samples, the textbook
per-sample loop: one ``filterpy.kalman.KalmanFilter`` per plate (random-walk
level, Q from dt), ``predict()`` + ``update()`` for every sample in time order
and the Mahalanobis distance against a 5-sigma gate (the level + change
detection part only, so it does *less* work than our detector).  It runs on
the first ``--filterpy-samples`` samples; the ratio is ours / filterpy.

    python bench/weight_throughput.py [--cells 200] [--seconds 60] [--chunk 0.5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fusion.inference import ItemInference
from fusion.types import WEIGHT_DTYPE, Cell, Sku, Store
from fusion.weight import WeightDetector


def make_store(n_cells: int) -> Store:
    cells = tuple(Cell(f"P{i}", np.array([[0.42 * (i % 10), 2.0 + i // 10, 1.2],
                                          [0.42 * (i % 10) + 0.4, 2.0 + i // 10, 1.2]]),
                       ("cola",)) for i in range(n_cells))
    return Store("bench", {"cola": Sku("cola", "Cola", 352.0, 2.5)}, cells, ())


def make_samples(n_cells: int, seconds: float, seed: int = 0, takes: bool = True) -> np.ndarray:
    """Interleaved samples of ``n_cells`` plates; ``takes=False``: no interactions (the
    level + change-detection path only), but 1e-3 single-sample spikes."""
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(n_cells):
        rate = rng.choice([10.0, 20.0, 40.0, 80.0])
        t = np.arange(rng.uniform(0, 0.1), seconds, 1.0 / rate)
        g = 3000.0 + rng.normal(0, rng.uniform(0.3, 3.0), t.size)
        spikes = rng.random(t.size) < 1e-3
        g[spikes] += rng.choice([-100.0, 100.0], int(spikes.sum()))
        for t0 in np.arange(rng.uniform(2, 20), seconds - 3, 20.0) if takes else ():
            on = (t >= t0) & (t < t0 + 0.8)
            g[on] += 300.0 * (1 + 0.08 * np.sin(9 * (t[on] - t0)))
            g[t >= t0 + 0.4] -= 352.0
        a = np.zeros(t.size, WEIGHT_DTYPE)
        a["t"], a["cell"], a["grams"] = t, i, g
        parts.append(a)
    s = np.concatenate(parts)
    return s[np.argsort(s["t"], kind="stable")]


def measure(n_cells: int, seconds: float, chunk_s: float, takes: bool = True, repeat: int = 1
            ) -> tuple[float, float, int, float]:
    """Returns (samples per second of wall time and of this process's CPU time, each
    the best of ``repeat`` runs; events; inference ms per event)."""
    store = make_store(n_cells)
    s = make_samples(n_cells, seconds, takes=takes)
    cuts = np.searchsorted(s["t"], np.arange(chunk_s, seconds, chunk_s))
    parts = np.split(s, cuts)
    wall = cpu = np.inf
    for _ in range(max(repeat, 1)):
        det = WeightDetector(store)
        t0, c0 = time.perf_counter(), time.process_time()
        events = []
        for part in parts:
            events += det.process(part)
        events += det.flush()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    inf = ItemInference(store)
    t1 = time.perf_counter()
    for e in events:
        inf.hypotheses(e)
    inf_ms = 1e3 * (time.perf_counter() - t1) / max(len(events), 1)
    return s.size / wall, s.size / max(cpu, 1e-9), len(events), inf_ms


def filterpy_loop(s: np.ndarray, n_cells: int) -> float:
    """Samples per second (wall) of a per-sample filterpy level filter + 5-sigma gate."""
    from filterpy.kalman import KalmanFilter

    kfs = []
    for _ in range(n_cells):
        kf = KalmanFilter(dim_x=1, dim_z=1)
        kf.x[:] = np.nan
        kf.P *= 1e6
        kf.R *= 1.0
        kfs.append(kf)
    last_t = np.full(n_cells, np.nan)
    alarms = 0
    t0 = time.perf_counter()
    for t, c, g in zip(s["t"].tolist(), s["cell"].tolist(), s["grams"].tolist(), strict=True):
        kf = kfs[c]
        if np.isnan(kf.x[0, 0]):
            kf.x[0, 0] = g
            last_t[c] = t
            continue
        kf.Q[0, 0] = 0.01 * (t - last_t[c])
        last_t[c] = t
        kf.predict()
        kf.update(g)
        if kf.mahalanobis > 5.0:
            alarms += 1
    return s.size / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, nargs="*", default=[20, 200])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--chunk", type=float, nargs="*", default=[0.1, 0.5])
    ap.add_argument("--filterpy-samples", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per configuration; the best (least disturbed) is reported")
    args = ap.parse_args(argv)
    for n in args.cells:
        fp = filterpy_loop(make_samples(n, args.seconds)[:args.filterpy_samples], n)
        print(f"weight_throughput cells={n} filterpy_per_sample_loop samples_per_s={fp:,.0f}")
        for chunk in args.chunk:
            rate, cpu, n_ev, inf_ms = measure(n, args.seconds, chunk, repeat=args.repeat)
            print(f"weight_throughput cells={n} chunk_s={chunk} samples_per_s={rate:,.0f} "
                  f"ratio_vs_filterpy={rate / fp:.0f}x "
                  f"events={n_ev} inference_ms_per_event={inf_ms:.2f} "
                  f"cpu_samples_per_s={cpu:,.0f}")
            rate, cpu, n_ev, _ = measure(n, args.seconds, chunk, takes=False, repeat=args.repeat)
            print(f"weight_throughput cells={n} chunk_s={chunk} level_change_path "
                  f"samples_per_s={rate:,.0f} ratio_vs_filterpy={rate / fp:.0f}x events={n_ev} "
                  f"cpu_samples_per_s={cpu:,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
